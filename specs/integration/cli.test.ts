import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { writeMeta } from "../../harness/report/history.ts";
import { acquireLock } from "../../images/store/index.ts";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { netbsdRelease } from "../../images/catalog/netbsd.ts";
import { makeDoubleMirror } from "../doubles/netbsd/mirror.ts";
import { writeLocalXenPair } from "../doubles/netbsd/packages.ts";

const BIN = path.resolve("bin/nbxen.js");

/** Runs the real `nbxen` command in a directory of its own, with its own cache. */
async function nbxen(cwd: string, args: string[], env: Record<string, string> = {}) {
  const r = await execa(process.execPath, [BIN, ...args], {
    cwd,
    reject: false,
    env: { NBXEN_CACHE_DIR: path.join(cwd, "cache"), NBXEN_PLAIN: "1", ...env },
    timeout: 120_000,
  });
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

describe("nbxen CLI", function () {
  this.timeout(180_000);
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-cli-"))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("--help lists the verbs; every verb has --help", async () => {
    const r = await nbxen(dir, ["--help"]);
    assert.equal(r.code, 0);
    for (const verb of [
      "up",
      "status",
      "halt",
      "destroy",
      "console",
      "exec",
      "snapshot",
      "box",
      "howto",
      "update-xen",
      "doctor",
    ])
      assert.match(r.stdout, new RegExp(`^\\s+${verb}\\b`, "m"), `--help lists ${verb}`);
    for (const verb of [["up"], ["console"], ["exec"], ["snapshot", "save"], ["box", "verify"], ["doctor"]]) {
      const h = await nbxen(dir, [...verb, "--help"]);
      assert.equal(h.code, 0, `${verb.join(" ")} --help`);
      assert.match(h.stdout, /^Usage: nbxen /m);
    }
    assert.match((await nbxen(dir, ["console", "--help"])).stdout, /Ctrl-\]/);
  });

  it("bad usage exits 2", async () => {
    const r = await nbxen(dir, ["frobnicate"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
    assert.equal((await nbxen(dir, ["up", "--no-such-flag"])).code, 2);
  });

  it("a bad config exits 2 before anything starts, naming field, value and what is allowed", async () => {
    await writeFile(
      path.join(dir, "nbxen.config.json"),
      JSON.stringify({ cpus: 0, qemu: { accelerator: "whpx" } }),
    );
    const r = await nbxen(dir, ["up", "--box", "debian-12"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cpus: 0 is not allowed: must be >= 1/);
    assert.match(r.stderr, /qemu\.accelerator: "whpx" is not allowed; allowed: "auto", "kvm", "tcg"/);
  });

  it("an unknown box exits 2 and lists the known ones", async () => {
    const r = await nbxen(dir, ["up", "--box", "plan9"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown box "plan9"; known boxes: .*debian-12/);
  });

  it("doctor reports QEMU, the accelerator it will use and why, and the cache", async () => {
    const r = await nbxen(dir, ["doctor"]);
    assert.match(r.stdout, /qemu\s+qemu-system-x86_64: QEMU emulator version \d+\.\d+/);
    assert.match(
      r.stdout,
      /accelerator\s+(TCG with -cpu qemu64: TCG \(software emulation\), because KVM is not usable: .+|KVM with -cpu host: .+)/,
    );
    assert.match(r.stdout, /kvm probe\s+(passed|failed): .+/);
    for (const stage of ["real-mode", "protected-mode", "long-mode", "timer-interrupt"])
      assert.match(r.stdout, new RegExp(`\\s${stage}\\s+(reached|not reached)`));
    assert.match(r.stdout, /nested virtualization\s+host CPU/);
    assert.match(r.stdout, new RegExp(`cache\\s+${path.join(dir, "cache")}`));
    assert.match(r.stdout, /free disk\s+\d+\.\d GiB free/);
  });

  it("doctor shows the probe stage by stage and the decision for a KVM that hangs long mode (TEST DOUBLE)", async function () {
    if (!existsSync("/dev/kvm")) {
      console.log("      pending: /dev/kvm is absent, so the KVM path cannot be reached on this host");
      this.skip();
    }
    const double = fileURLToPath(new URL("../doubles/kvm-stall/qemu-system-x86_64", import.meta.url));
    await writeFile(path.join(dir, "nbxen.config.json"), JSON.stringify({ qemu: { binary: double } }));
    const r = await nbxen(dir, ["doctor"]);
    assert.match(
      r.stdout,
      /kvm probe\s+failed: under kvm with -cpu host the probe reached real-mode, protected-mode and then printed nothing/,
    );
    assert.match(
      r.stdout,
      /real-mode\s+reached\n.*protected-mode\s+reached\n.*long-mode\s+not reached: stalled entering long mode/,
    );
    assert.match(
      r.stdout,
      /accelerator\s+TCG with -cpu qemu64: TCG \(software emulation\), because KVM is not usable: .*stalled entering long mode/,
    );
    await writeFile(
      path.join(dir, "nbxen.config.json"),
      JSON.stringify({ qemu: { binary: double, accelerator: "kvm" } }),
    );
    const forced = await nbxen(dir, ["doctor"]);
    assert.notEqual(forced.code, 0, "a forced kvm that cannot work fails doctor");
    assert.match(forced.stdout, /accelerator\s+qemu.accelerator is "kvm" but the KVM probe failed/);
  });

  it("a missing QEMU binary is reported by doctor and fails it", async () => {
    await writeFile(
      path.join(dir, "nbxen.config.json"),
      JSON.stringify({ qemu: { binary: "/nonexistent/qemu" } }),
    );
    const r = await nbxen(dir, ["doctor"]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FAIL\s+qemu\s+\/nonexistent\/qemu not found/);
  });

  it("status, halt and exec on a box that is not running say so", async () => {
    const s = await nbxen(dir, ["status", "--box", "debian-12"]);
    assert.equal(s.code, 0);
    assert.match(s.stdout, /machine:\s+not running/);
    const h = await nbxen(dir, ["halt", "--box", "debian-12"]);
    assert.match(h.stdout, /not running/);
    const e = await nbxen(dir, ["exec", "--box", "debian-12", "xl list"]);
    assert.equal(e.code, 1);
    assert.match(e.stderr, /is not running .*nbxen up/);
  });

  it("halt, destroy, exec and snapshot refuse while a run holds the machine, naming its pid", async () => {
    await mkdir(path.join(dir, ".nbxen/machines/debian-12"), { recursive: true });
    const lock = await acquireLock(path.join(dir, ".nbxen/machines/debian-12/run.lock"), { timeoutMs: 0 });
    try {
      for (const verb of [["halt"], ["destroy"], ["exec", "true"], ["snapshot", "save", "x"]]) {
        const r = await nbxen(dir, [...verb, "--box", "debian-12"]);
        assert.equal(r.code, 1, `${verb.join(" ")}: ${r.stdout}${r.stderr}`);
        assert.match(
          r.stderr,
          new RegExp(`another nbxen run \\(pid ${process.pid}\\) is using`),
          verb.join(" "),
        );
      }
      assert.ok(existsSync(path.join(dir, ".nbxen/machines/debian-12")), "destroy removed nothing");
    } finally {
      await lock.release();
    }
  });

  it("box verify on an empty cache reports nothing cached", async () => {
    const r = await nbxen(dir, ["box", "verify"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /0 ok, 0 failed \(the cache is empty\)/);
  });

  it("runs record / runs / report --compare: verdicts between two recorded runs, exit 1 on a regression", async () => {
    const cfg = path.join(dir, "nbxen.config.json");
    await writeFile(cfg, JSON.stringify({ box: "debian-12" }));
    const reports = path.join(dir, ".nbxen", "reports", "debian-12");
    const record = async (createdAt: string, versionSpec: string) => {
      await writeMeta(reports, { box: "debian-12", createdAt, harness: { version: "0.1.0" } });
      await writeFile(
        path.join(reports, "specs.junit.xml"),
        `<testsuite><testcase classname="HOWTO: Booting Xen" name="xl info" time="1"/>` +
          `<testcase classname="HOWTO: Booting Xen" name="the Xen version" time="1">${versionSpec}</testcase></testsuite>`,
      );
      const r = await nbxen(dir, ["runs", "record", reports]);
      assert.equal(r.code, 0, r.stderr);
      return /run recorded: (\S+)/.exec(r.stdout)![1]!;
    };
    const a = await record("2026-12-01T10:00:00.000Z", "");
    const b = await record("2026-12-02T10:00:00.000Z", "<failure>AssertionError: 4.18 is not 4.17</failure>");
    const list = await nbxen(dir, ["runs"]);
    assert.equal(list.code, 0);
    assert.match(list.stdout, new RegExp(`${a}\\s.*specs 2/2 passed\\n${b}\\s.*specs 1/2 passed, 1 failed`));
    const cmp = await nbxen(dir, ["report", "--compare", a, b]);
    assert.equal(cmp.code, 1, "a regression fails the comparison");
    assert.match(
      cmp.stdout,
      /fail, regression\s+spec HOWTO: Booting Xen :: the Xen version\s+AssertionError: 4\.18 is not 4\.17/,
    );
    assert.match(cmp.stdout, /verdicts: 1 pass, 1 fail, regression/);
    const md = path.join(dir, "cmp.md");
    const same = await nbxen(dir, ["report", "--baseline", a, a, "--format", "markdown", "--output", md]);
    assert.equal(same.code, 0);
    assert.match(await readFile(md, "utf8"), /\| spec \| HOWTO: Booting Xen :: the Xen version \| pass \|/);
    const bad = await nbxen(dir, ["report", "--compare", a, b, "--format", "html"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--format html: use text, markdown or junit/);
    const none = await nbxen(dir, ["report", "--compare", a, "no-such-run"]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no run no-such-run/);
  });
});

// No QEMU: the Xen choice is settled when the session opens, before the accelerator probe (qemu.binary
// names no QEMU to prove it). The mirror is the installed-NetBSD double's (10.1: xenkernel420 and 415).
describe("nbxen up --xen / xenPackage", function () {
  this.timeout(180_000);
  let dir: string;
  let mirror: string;
  before(async () => {
    mirror = await mkdtemp(path.join(os.tmpdir(), "nbxen-xen-mirror-"));
    await makeDoubleMirror(mirror, netbsdRelease("netbsd-10.1"));
  });
  after(() => rm(mirror, { recursive: true, force: true }));
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-cli-xen-"))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const config = (extra: object) =>
    writeFile(
      path.join(dir, "nbxen.config.json"),
      JSON.stringify({ box: "netbsd-10.1", mirror, qemu: { binary: "/nonexistent/qemu" }, ...extra }),
    );

  it("an unknown pair exits 2 before anything boots, naming it, the release, the tree and the pairs there", async () => {
    await config({});
    const r = await nbxen(dir, ["up", "--xen", "xenkernel418"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /xenPackage "xenkernel418": no package tree for NetBSD 10\.1 \(x86_64\) holds xenkernel418 with xentools418/,
    );
    assert.match(
      r.stderr,
      /- NetBSD\/x86_64\/10\.0_2025Q3\/All \(.*pkg_summary\.gz\): xenkernel415 \(xenkernel415-4\.15\.5, xentools415-4\.15\.5\), xenkernel420 \(xenkernel420-4\.20\.1, xentools420-4\.20\.1\)/,
    );
    assert.match(
      r.stderr,
      /Choose one of xenkernel415, xenkernel420 with "xenPackage" .* `nbxen up --xen NAME`/,
    );
    assert.doesNotMatch(r.stderr, /nonexistent\/qemu/, "QEMU was never looked for");
    assert.equal(existsSync(path.join(dir, ".nbxen/machines/netbsd-10.1/disks")), false, "no disk was made");
  });

  it("--xen overrides the config's xenPackage, which overrides the release's default", async () => {
    await config({ xenPackage: "xenkernel419" });
    const fromConfig = await nbxen(dir, ["up"]);
    assert.equal(fromConfig.code, 2, fromConfig.stderr);
    assert.match(fromConfig.stderr, /xenPackage "xenkernel419": no package tree/);
    const fromFlag = await nbxen(dir, ["up", "--xen", "xenkernel418"]);
    assert.equal(fromFlag.code, 2, fromFlag.stderr);
    assert.match(fromFlag.stderr, /xenPackage "xenkernel418": no package tree/);
    assert.doesNotMatch(fromFlag.stderr, /xenkernel419/);
  });

  it("a name of the wrong shape or for the wrong box exits 2 and says what to give", async () => {
    await config({});
    const shape = await nbxen(dir, ["up", "--xen", "xen415"]);
    assert.equal(shape.code, 2, shape.stderr);
    assert.match(shape.stderr, /"xen415" is not a Xen package for netbsd-10\.1: name a pkgsrc xenkernelNNN/);
    const debian = await nbxen(dir, ["up", "--box", "debian-12", "--xen", "xenkernel420"]);
    assert.equal(debian.code, 2, debian.stderr);
    assert.match(debian.stderr, /"xenkernel420" is a NetBSD pkgsrc package; debian-12 runs Debian's own/);
    const netbsd = await nbxen(dir, ["up", "--xen", "debian"]);
    assert.equal(netbsd.code, 2, netbsd.stderr);
    assert.match(
      netbsd.stderr,
      /"debian" is a Debian box's own Xen \(debian-12, debian-13\); netbsd-10\.1 installs a pkgsrc/,
    );
  });

  it("local Xen packages and update-xen: bad input exits 2 before anything boots, saying what to give", async () => {
    await config({});
    const local = path.join(dir, "local");
    writeLocalXenPair(local, netbsdRelease("netbsd-10.1"));
    const empty = path.join(dir, "empty");
    await mkdir(empty);
    const none = await nbxen(dir, ["up", "--xen-package", empty]);
    assert.equal(none.code, 2, none.stderr);
    assert.match(
      none.stderr,
      /empty: the directory holds no xenkernelNNN-\*\.tgz or xentoolsNNN-\*\.tgz package/,
    );
    const clash = await nbxen(dir, ["up", "--xen", "xenkernel415", "--xen-package", local]);
    assert.equal(clash.code, 2, clash.stderr);
    assert.match(
      clash.stderr,
      /xenPackage xenkernel415 and the local packages \(xenkernel420-4\.20\.2, xentools420-4\.20\.2\) name different pairs/,
    );
    const debian = await nbxen(dir, ["up", "--box", "debian-12", "--xen-package", local]);
    assert.equal(debian.code, 2, debian.stderr);
    assert.match(debian.stderr, /box debian-12 does not install pkgsrc packages/);
    const noUpdate = await nbxen(dir, ["update-xen", "--box", "debian-12", "--to", "xenkernel420"]);
    assert.equal(noUpdate.code, 2, noUpdate.stderr);
    assert.match(noUpdate.stderr, /box debian-12 cannot update its Xen in place/);
    const unknown = await nbxen(dir, ["update-xen", "--to", "xenkernel418"]);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(
      unknown.stderr,
      /no package tree for NetBSD 10\.1 \(x86_64\) holds xenkernel418 with xentools418/,
    );
    const missingTo = await nbxen(dir, ["update-xen"]);
    assert.equal(missingTo.code, 2, missingTo.stderr);
    assert.match(missingTo.stderr, /required option '--to/);
    assert.doesNotMatch(unknown.stderr + clash.stderr, /nonexistent\/qemu/, "QEMU was never looked for");
    assert.equal(existsSync(path.join(dir, ".nbxen/machines/netbsd-10.1/disks")), false, "no disk was made");
  });

  it("status names the exact PKGNAMEs of the last run", async () => {
    await config({ xenPackage: "xenkernel415" });
    await writeMeta(path.join(dir, ".nbxen/reports/netbsd-10.1"), {
      box: "netbsd-10.1",
      createdAt: "2026-01-01T00:00:00.000Z",
      harness: { version: "0" },
      xenPackages: ["xenkernel415-4.15.5", "xentools415-4.15.5"],
    });
    const s = await nbxen(dir, ["status"]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /^xen:\s+xenkernel415-4\.15\.5 xentools415-4\.15\.5 \(last run\)$/m);
  });
});
