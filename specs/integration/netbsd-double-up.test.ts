// `nbxen up` for a NetBSD box, every HOWTO step, against the installed-NetBSD TEST DOUBLE
// (specs/doubles/netbsd/) through qemu.binary; then `--from` resumes from a step snapshot (loadvm).
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { netbsdRelease } from "../../images/catalog/netbsd.ts";
import { HOWTO_STEP_IDS } from "../../harness/boxes/step-contract.ts";
import { makeDoubleMirror } from "../doubles/netbsd/mirror.ts";

const BIN = path.resolve("bin/nbxen.js");
const FAKE_QEMU = path.resolve("specs/doubles/sysinst-sim/fake-qemu");

async function transcripts(dir: string): Promise<string> {
  const runs = path.join(dir, "runs");
  let all = "";
  for (const r of (await readdir(runs)).sort())
    all += await readFile(path.join(runs, r, "console.txt"), "utf8");
  return all;
}

describe("nbxen up against the installed-NetBSD test double", function () {
  this.timeout(900_000);
  let dir: string;
  before(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-netbsd-double-"))));
  after(() => rm(dir, { recursive: true, force: true }));

  const box = "netbsd-10.1";
  const env = () => ({ NBXEN_CACHE_DIR: path.join(dir, "cache"), NBXEN_PLAIN: "1", NBXEN_SIM_SPEED: "0.1" });

  it(`${box}: every HOWTO step passes; the dom0 boots Xen from boot.cfg and finds its root on the GPT wedge`, async () => {
    const mirror = await makeDoubleMirror(path.join(dir, "mirror"), netbsdRelease(box));
    await writeFile(
      path.join(dir, "nbxen.config.json"),
      JSON.stringify({ box, qemu: { binary: FAKE_QEMU, accelerator: "tcg" }, mirror }),
    );
    const r = await execa(process.execPath, [BIN, "up", "--no-keep-running"], {
      cwd: dir,
      reject: false,
      env: env(),
    });
    assert.equal(r.exitCode, 0, r.stderr.slice(-4000));
    const summary = await readFile(path.join(dir, ".nbxen/reports", box, "summary.txt"), "utf8");
    // Every step but hvm-domu ends in a snapshot.
    for (const step of HOWTO_STEP_IDS.filter((s) => s !== "hvm-domu"))
      assert.match(summary, new RegExp(`^${step}\\s+passed\\s+[\\d.]+\\s+${step}$`, "m"));
    assert.match(r.stderr, /dom0 kernel: root on dk0/);
    const console = await transcripts(path.join(dir, ".nbxen/machines", box));
    assert.match(console, /\(XEN\) Xen version 4\.20/);
    assert.match(console, /NetBSD 10\.1 \(XEN3_DOM0\)/);
    assert.match(console, /Starting xenservices: xenstored/);
    // The domU: installed by sysinst through xl console, then booted to a login with an address.
    assert.match(console, /NetBSD 10\.1 \(INSTALL_XEN3_DOMU\) #0/);
    assert.match(console, /NetBSD 10\.1 \(XEN3_DOMU\) #0/);
    assert.match(r.stderr, /domU domu1: XEN3_DOMU, xennet0 10\.0\.2\.\d+/);
    const howto = await readFile(path.join(dir, ".nbxen/reports", box, "howto.md"), "utf8");
    assert.match(howto, /^\| dom0-starts-domus \| .* \| verified \| domu \|/m);
  });

  it(`${box}: --from autostart restores the domu snapshot (the installed system on the disk image) and passes`, async () => {
    const r = await execa(process.execPath, [BIN, "up", "--from", "autostart", "--no-keep-running"], {
      cwd: dir,
      reject: false,
      env: env(),
    });
    assert.equal(r.exitCode, 0, r.stderr.slice(-4000));
    assert.match(r.stderr, /resuming from snapshot domu/);
    const summary = await readFile(path.join(dir, ".nbxen/reports", box, "summary.txt"), "utf8");
    assert.match(summary, /^autostart\s+passed/m);
    assert.doesNotMatch(summary, /^install-os\s+passed/m);
  });
});
