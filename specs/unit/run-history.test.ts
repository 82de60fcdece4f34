import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile, mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  compareRuns,
  comparisonFails,
  formatComparison,
  listRuns,
  loadRun,
  recordRun,
  verdict,
  writeMeta,
  type RunRecord,
} from "../../harness/report/history.ts";
import { readJunit, type CaseResult } from "../../harness/report/junit-read.ts";
import { junitXml } from "../../harness/steps/report.ts";

const pass = (id: string): CaseResult => ({ id, status: "passed", seconds: 1 });
const fail = (id: string, message = "AssertionError: expected 4.17"): CaseResult => ({
  id,
  status: "failed",
  seconds: 1,
  message,
});

function run(id: string, specs: CaseResult[], steps: CaseResult[] = []): RunRecord {
  return {
    id,
    dir: `/runs/${id}`,
    meta: { box: "netbsd-10.1", createdAt: "2026-12-03T06:00:00.000Z", harness: { version: "0.1.0" } },
    steps,
    specs,
  };
}

describe("run history: verdicts (OSSTest style)", () => {
  it("gives each verdict from a case and its baseline", () => {
    assert.equal(verdict(pass("a"), fail("a")), "pass");
    assert.equal(verdict(fail("a"), pass("a")), "fail, regression");
    assert.equal(verdict(fail("a"), fail("a")), "fail, like baseline");
    assert.equal(verdict(fail("a"), undefined), "never passed");
    assert.equal(verdict(fail("a"), { id: "a", status: "skipped", seconds: 0 }), "never passed");
    assert.equal(verdict({ id: "a", status: "skipped", seconds: 0 }, pass("a")), "pending");
    assert.equal(verdict(undefined, pass("a")), "gone");
  });

  it("calls host and harness failures broken, whatever the baseline", () => {
    for (const m of [
      "MachineStartError: QEMU exited at start (qemu-system-x86_64)",
      "step install-xen failed: QEMU (pid 12) was killed by SIGKILL",
      "CacheFullError: the cache's file system is full (ENOSPC)",
      "no place could serve NetBSD-9.4/amd64/binary/sets/base.tar.xz",
    ])
      assert.equal(verdict(fail("a", m), pass("a")), "broken", m);
    assert.equal(
      verdict({ id: "a", status: "error", seconds: 0, message: "interrupted by SIGINT" }, pass("a")),
      "broken",
    );
  });

  it("compares two runs: renamed and missing specs show as gone and never passed; regressions fail CI", () => {
    const a = run(
      "A",
      [pass("xl :: lists dom0"), pass("xl :: old name"), fail("domu :: pings")],
      [pass("step :: install-os")],
    );
    const b = run(
      "B",
      [fail("xl :: lists dom0"), pass("xl :: new name"), fail("domu :: pings")],
      [pass("step :: install-os")],
    );
    const rows = compareRuns(a, b);
    const by = Object.fromEntries(rows.map((r) => [`${r.kind}:${r.id}`, r.verdict]));
    assert.deepEqual(by, {
      "step:step :: install-os": "pass",
      "spec:xl :: lists dom0": "fail, regression",
      "spec:xl :: new name": "pass",
      "spec:domu :: pings": "fail, like baseline",
      "spec:xl :: old name": "gone",
    });
    assert.equal(comparisonFails(rows), true);
    assert.equal(comparisonFails(compareRuns(a, a)), false);
    const text = formatComparison(a, b, rows, "text");
    assert.match(text, /^baseline: A \(netbsd-10\.1/);
    assert.match(text, /fail, regression\s+spec xl :: lists dom0\s+AssertionError: expected 4\.17/);
    assert.match(text, /verdicts: 2 pass, 1 fail, regression, 1 fail, like baseline, 1 gone\n$/);
    const md = formatComparison(a, b, rows, "markdown");
    assert.match(md, /\| spec \| xl :: lists dom0 \| fail, regression \| failed \| passed \|/);
    const junit = readJunit(formatComparison(a, b, rows, "junit"));
    assert.equal(junit.find((c) => c.id.endsWith("xl :: lists dom0"))?.status, "failed");
    assert.equal(junit.find((c) => c.id.endsWith("domu :: pings"))?.status, "skipped");
  });
});

describe("run history: records", () => {
  let state: string;
  beforeEach(async () => (state = await mkdtemp(path.join(os.tmpdir(), "nbxen-runs-"))));
  afterEach(() => rm(state, { recursive: true, force: true }));

  it("reads the steps JUnit the runner writes and mocha's xunit", () => {
    const steps = readJunit(
      junitXml("nbxen b steps", [
        { step: "install-os", title: "Install", status: "passed", seconds: 2 },
        { step: "install-xen", title: "Xen", status: "failed", seconds: 1, error: "QEMU exited\nmore" },
        { step: "boot-xen", title: "Boot", status: "not-run", seconds: 0 },
        { step: "x", title: "X", status: "interrupted", seconds: 0, error: "interrupted by SIGINT" },
      ]),
    );
    assert.deepEqual(
      steps.map((c) => [c.id, c.status, c.message]),
      [
        ["nbxen b steps :: install-os: Install", "passed", undefined],
        ["nbxen b steps :: install-xen: Xen", "failed", "QEMU exited"],
        [
          "nbxen b steps :: boot-xen: Boot",
          "skipped",
          "not run: an earlier step failed or the run stopped before it",
        ],
        ["nbxen b steps :: x: X", "error", "interrupted by SIGINT"],
      ],
    );
    const mocha = readJunit(
      `<testsuite name="s" tests="2"><testcase classname="HOWTO: Booting Xen" name="xl info" time="0.5"/>` +
        `<testcase classname="HOWTO: HVM" name="hvm" time="0"><skipped/></testcase>` +
        `<testcase classname="HOWTO: Booting Xen" name="version" time="1"><failure>AssertionError [ERR_ASSERTION]: 4.18 !== 4.17\n  at x</failure></testcase></testsuite>`,
    );
    assert.deepEqual(
      mocha.map((c) => [c.id, c.status, c.message]),
      [
        ["HOWTO: Booting Xen :: xl info", "passed", undefined],
        ["HOWTO: HVM :: hvm", "skipped", undefined],
        ["HOWTO: Booting Xen :: version", "failed", "AssertionError [ERR_ASSERTION]: 4.18 !== 4.17"],
      ],
    );
  });

  it("records a report directory under <state>/runs atomically, lists and loads it; refuses a directory without run.json", async () => {
    const reports = path.join(state, "reports", "debian-12");
    await writeMeta(reports, {
      box: "debian-12",
      createdAt: "2026-12-03T06:00:00.000Z",
      harness: { version: "0.1.0", commit: "abc1234" },
      xenPackages: ["xen-hypervisor-4.17-amd64"],
    });
    await writeFile(
      path.join(reports, "steps.junit.xml"),
      junitXml("s", [{ step: "a", title: "A", status: "passed", seconds: 1 }]),
    );
    await writeFile(
      path.join(reports, "specs.junit.xml"),
      `<testsuite><testcase classname="c" name="n"/></testsuite>`,
    );
    const withSpecs = await recordRun(reports);
    const stepsOnly = await recordRun(reports, { withSpecs: false });
    assert.equal(withSpecs.specs.length, 1);
    assert.equal(stepsOnly.specs.length, 0, "an up's record leaves out an earlier spec run's results");
    assert.equal(withSpecs.steps.length, 1);
    const names = await readdir(path.join(state, "runs"));
    assert.equal(names.length, 2);
    assert.ok(
      names.every((n) => /^debian-12-20261203T060000-[0-9a-f]{4}$/.test(n)),
      names.join(" "),
    );
    assert.equal((await listRuns(state, "debian-12")).length, 2);
    assert.equal((await listRuns(state, "netbsd-10.1")).length, 0);
    assert.equal((await loadRun(withSpecs.id, state)).meta.harness.commit, "abc1234");
    const empty = path.join(state, "empty");
    await mkdir(empty);
    await assert.rejects(loadRun(empty, state), /has no run\.json/);
    await assert.rejects(loadRun("no-such-run", state), /no run no-such-run/);
  });
});
