/**
 * Import rules checked by `make check` (dependency-cruiser). The layers, each importing only those below it:
 *   lib/ (errors, abort, process, reporter) <- images/ <- harness/ <- testkit/ <- specs/, bench/, bin/
 */
const PROJECT = "^(lib|images|harness|testkit|specs|bench|bin|scripts)/";

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "Modules import one way: a cycle means a piece belongs in a module of its own.",
      from: {},
      to: { circular: true },
    },
    {
      name: "lib-is-a-leaf",
      severity: "error",
      comment: "lib/ is what every layer shares: it imports nothing else of the project.",
      from: { path: "^lib/" },
      to: { path: PROJECT, pathNot: "^lib/" },
    },
    {
      name: "images-below-harness",
      severity: "error",
      comment: "images/ (catalog, store, media) knows nothing of the harness, the tests or the bench.",
      from: { path: "^images/" },
      to: { path: PROJECT, pathNot: "^(lib|images)/" },
    },
    {
      name: "harness-below-tests",
      severity: "error",
      comment: "harness/ never reaches into the tests, the test kit or the bench.",
      from: { path: "^harness/" },
      to: { path: PROJECT, pathNot: "^(lib|images|harness)/" },
    },
    {
      name: "config-below-boxes",
      severity: "error",
      comment:
        "The config schema is below the boxes and the catalog: boxes read the config, not the reverse.",
      from: { path: "^harness/config/" },
      to: { path: PROJECT, pathNot: "^(lib|harness/config)/" },
    },
    {
      name: "testkit-below-tests",
      severity: "error",
      comment: "testkit/ is shared by the tests and the bench, so it imports neither.",
      from: { path: "^testkit/" },
      to: { path: "^(specs|bench|bin)/" },
    },
    {
      name: "bench-not-tests",
      severity: "error",
      comment: "The bench measures the harness: what it shares with the tests lives in testkit/.",
      from: { path: "^bench/" },
      to: { path: "^specs/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
