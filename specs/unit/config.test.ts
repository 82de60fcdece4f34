import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { boxCatalog } from "../../harness/boxes/registry.ts";
import { ConfigError, loadConfig, validateConfig } from "../../harness/config/load.ts";
import { DEFAULT_BOX } from "../../harness/config/schema.ts";

describe("config: nbxen.config.json", () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-config-"))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("applies defaults when there is no file", async () => {
    const { config, file } = await loadConfig({ cwd: dir });
    assert.equal(file, undefined);
    assert.equal(config.box, "netbsd-6.1.5");
    assert.equal(config.qemu.binary, "qemu-system-x86_64");
    assert.equal(config.qemu.accelerator, "auto");
    assert.equal(config.stateDir, path.join(dir, ".nbxen"));
    assert.equal(config.domUs[0]?.name, "domu1");
  });

  it("defaults to a box the registry knows", () => {
    assert.ok(
      boxCatalog().some((b) => b.name === DEFAULT_BOX),
      `${DEFAULT_BOX} is not in the box registry`,
    );
  });

  it("reads the file and resolves relative paths against its directory", async () => {
    await writeFile(
      path.join(dir, "nbxen.config.json"),
      JSON.stringify({
        box: "debian-12",
        memoryMiB: 3072,
        stateDir: "st",
        qemu: { binary: "/opt/qemu/bin/qemu-system-x86_64" },
      }),
    );
    const { config, file } = await loadConfig({ cwd: dir });
    assert.equal(file, path.join(dir, "nbxen.config.json"));
    assert.equal(config.memoryMiB, 3072);
    assert.equal(config.stateDir, path.join(dir, "st"));
    assert.equal(config.qemu.binary, "/opt/qemu/bin/qemu-system-x86_64");
    assert.equal(config.qemu.accelerator, "auto");
  });

  it("names the field, the bad value and what is allowed", () => {
    assert.throws(
      () => validateConfig({ memoryMiB: 100, qemu: { accelerator: "hvf" } }, "x.json"),
      (e: ConfigError) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.cliExitCode, 2);
        assert.match(e.message, /memoryMiB: 100 is not allowed: must be >= 512/);
        assert.match(e.message, /qemu\.accelerator: "hvf" is not allowed; allowed: "auto", "kvm", "tcg"/);
        return true;
      },
    );
  });

  it("rejects unknown fields, listing the known ones", () => {
    assert.throws(
      () => validateConfig({ memory: 2048 }, "x.json"),
      /memory: unknown field; allowed fields: box, memoryMiB/,
    );
  });

  it("rejects a dom0 as big as the machine, and duplicate domU names", () => {
    assert.throws(
      () => validateConfig({ memoryMiB: 1024, dom0MemoryMiB: 1024 }, "x.json"),
      /dom0MemoryMiB: 1024 is not allowed/,
    );
    assert.throws(
      () => validateConfig({ domUs: [{ name: "a" }, { name: "a" }] }, "x.json"),
      /"a" is used twice/,
    );
  });

  it("reports invalid JSON with the file name", async () => {
    await writeFile(path.join(dir, "nbxen.config.json"), "{ box: ");
    await assert.rejects(
      loadConfig({ cwd: dir }),
      (e: Error) =>
        e instanceof ConfigError &&
        /nbxen\.config\.json: invalid configuration:\n  - not valid JSON/.test(e.message),
    );
  });

  it("a --config path that does not exist is an error, not the defaults", async () => {
    await assert.rejects(
      loadConfig({ cwd: dir, configPath: "missing.json" }),
      /missing\.json: invalid configuration:\n  - cannot read the file/,
    );
  });
});
