import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { netbsdRelease } from "../../images/catalog/netbsd.ts";
import { makeNetbsdMirror } from "./fixtures/netbsd-mirror.ts";

const BIN = path.resolve("bin/nbxen.js");
const FAKE_QEMU = path.resolve("specs/doubles/sysinst-sim/fake-qemu");

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

describe("nbxen up --box netbsd-*", function () {
  this.timeout(600_000);
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-netbsd-up-"))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("with no mirror reachable fails within seconds, naming the mirror and --mirror, leaving nothing half-downloaded", async () => {
    const t0 = Date.now();
    const r = await execa(process.execPath, [BIN, "up", "--box", "netbsd-6.1.5"], {
      cwd: dir,
      reject: false,
      env: { NBXEN_CACHE_DIR: path.join(dir, "cache"), NBXEN_PLAIN: "1" },
    });
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(r.exitCode, 1, r.stderr);
    assert.ok(seconds < 90, `took ${seconds}s`);
    assert.match(r.stderr, /archive\.netbsd\.org\/pub\/NetBSD-archive\/NetBSD-6\.1\.5\//);
    assert.match(r.stderr, /--mirror/);
    const left = (await walk(path.join(dir, "cache"))).filter((f) => !f.endsWith(".lock"));
    assert.deepEqual(left, [], "nothing may stay in the cache");
  });

  for (const box of ["netbsd-6.1.5", "netbsd-10.1"]) {
    it(`${box}: the install step runs end to end against the sysinst simulator (test double) through qemu.binary`, async () => {
      const rel = netbsdRelease(box);
      const mirror = await makeNetbsdMirror(path.join(dir, "mirror"), rel);
      await writeFile(
        path.join(dir, "nbxen.config.json"),
        JSON.stringify({ box, qemu: { binary: FAKE_QEMU, accelerator: "tcg" } }),
      );
      const r = await execa(
        process.execPath,
        [BIN, "up", "--mirror", mirror, "--to", "install-os", "--no-keep-running"],
        {
          cwd: dir,
          reject: false,
          env: { NBXEN_CACHE_DIR: path.join(dir, "cache"), NBXEN_PLAIN: "1", NBXEN_SIM_SPEED: "0.1" },
        },
      );
      assert.equal(r.exitCode, 0, r.stderr.slice(-4000));
      const summary = await readFile(path.join(dir, ".nbxen/reports", box, "summary.txt"), "utf8");
      assert.match(summary, /^install-os\s+passed\s+[\d.]+\s+install-os$/m);
      assert.match(summary, /^install-xen\s+not-run/m);
      const howto = await readFile(path.join(dir, ".nbxen/reports", box, "howto.md"), "utf8");
      assert.match(howto, /install NetBSD\/amd64 just as you would .* \| verified \|/);
      const cached = await walk(path.join(dir, "cache"));
      assert.ok(
        cached.some((f) => f.endsWith("/installation/cdrom/boot-com.iso")),
        "boot-com.iso cached from the mirror",
      );
      assert.ok(!cached.some((f) => f.endsWith(".part")));
      assert.ok(
        (await walk(path.join(dir, ".nbxen/machines", box, "media"))).some((f) => f.endsWith("sets.iso")),
      );
    });
  }
});
