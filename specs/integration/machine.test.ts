import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { GuestShell } from "../../harness/console/shell.ts";
import { Machine, type MachineOptions } from "../../harness/machine/machine.ts";
import { reapStale } from "../../harness/machine/reaper.ts";
import { isAlive, MachineDir } from "../../harness/machine/state-dir.ts";
import { buildTestGuest, testGuestMachine, type TestGuest } from "../../testkit/test-guest.ts";

/** The real guest under QEMU TCG: Debian's kernel + a busybox initramfs, built at test time. */
describe("Machine: a real guest under QEMU", function () {
  this.timeout(600_000);
  let guest: TestGuest;
  let work: string;

  before(async () => {
    guest = await buildTestGuest();
    work = await mkdtemp(path.join(os.tmpdir(), "nbxen-machine-"));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  function options(name: string): Promise<MachineOptions> {
    return testGuestMachine(guest, name, work);
  }

  async function shellOn(m: Machine): Promise<GuestShell> {
    await m.console.expect(guest.readyBanner, { timeoutMs: 120_000, description: "test guest boot" });
    await m.console.expect(/# /, { timeoutMs: 30_000 });
    return GuestShell.attach(m.console, { timeoutMs: 30_000 });
  }

  it("boots to a shell; exec returns exit codes and output; savevm/loadvm round trip; powerdown leaves no QEMU", async () => {
    const t0 = Date.now();
    const opts = await options("roundtrip");
    const m = await Machine.start(opts);
    const qemuPid = m.info.qemuPid!;
    try {
      const dirMode = (await stat(opts.stateDir)).mode & 0o777;
      assert.equal(dirMode, 0o700, "machine state dir must be private");
      const shell = await shellOn(m);
      console.log(`      boot to shell under TCG: ${((Date.now() - t0) / 1000).toFixed(1)}s`);

      assert.deepEqual(await shell.exec("uname -s"), { exitCode: 0, output: "Linux\n" });
      assert.equal((await shell.exec("(exit 3)")).exitCode, 3);
      assert.deepEqual(await shell.exec("echo out; echo err >&2; false"), {
        exitCode: 1,
        output: "out\nerr\n",
      });
      assert.equal(await m.status(), "running");

      await shell.run("echo before-snapshot > /tmp/marker");
      await m.savevm("t1");
      assert.ok((await m.snapshots()).includes("t1"));
      await shell.run("echo after-snapshot > /tmp/marker");
      await m.loadvm("t1");
      // After loadvm the guest is back at the prompt it had when the snapshot was taken.
      const restored = await GuestShell.attach(m.console, { timeoutMs: 30_000 });
      assert.equal(await restored.run("cat /tmp/marker"), "before-snapshot\n");

      assert.equal(await m.powerdown({ timeoutMs: 60_000 }), "clean");
    } finally {
      await m.stop();
    }
    assert.equal(isAlive(qemuPid), false, "QEMU must be gone after powerdown");
    const info = await new MachineDir(opts.stateDir).readRunInfo();
    assert.ok(info?.exitedAt, "run.json records the exit");
    const events = await readFile(path.join(m.transcriptDir, "events.jsonl"), "utf8");
    assert.match(events, /"kind":"expect"/);
  });

  it("`await using` stops the machine when the scope throws", async () => {
    const opts = await options("dispose");
    let pid = 0;
    await assert.rejects(async () => {
      await using m = await Machine.start(opts);
      pid = m.info.qemuPid!;
      throw new Error("boom");
    }, /boom/);
    assert.ok(pid > 0);
    for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
    assert.equal(isAlive(pid), false);
  });

  it("QEMU does not outlive a harness process killed with SIGKILL", async () => {
    const opts = await options("sigkill");
    const script = path.join(work, "owner.mts");
    const { writeFile } = await import("node:fs/promises");
    await writeFile(
      script,
      `import { Machine } from ${JSON.stringify(path.resolve("harness/machine/machine.ts"))};\n` +
        `const m = await Machine.start(${JSON.stringify(opts)});\n` +
        `console.log("QEMU " + m.info.qemuPid);\nsetInterval(() => {}, 1000);\n`,
    );
    const child = spawn(process.execPath, ["--import", "tsx", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const qemuPid = await new Promise<number>((resolve, reject) => {
      let buf = "";
      child.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        const m = /QEMU (\d+)/.exec(buf);
        if (m) resolve(Number(m[1]));
      });
      child.on("exit", (code) => reject(new Error(`owner exited early with ${code}`)));
    });
    assert.ok(isAlive(qemuPid));
    child.kill("SIGKILL");
    for (let i = 0; i < 100 && isAlive(qemuPid); i++) await sleep(100);
    assert.equal(isAlive(qemuPid), false, "the supervisor must stop QEMU when its owner dies");
  });

  it("the reaper kills a QEMU whose supervisor was SIGKILLed too", async () => {
    const opts = await options("reaper");
    const m = await Machine.start(opts);
    const { qemuPid, supervisorPid } = m.info;
    // Simulate the worst case: the supervisor dies without a chance to clean up, QEMU may survive.
    process.kill(supervisorPid, "SIGKILL");
    for (let i = 0; i < 50 && isAlive(supervisorPid); i++) await sleep(100);
    const reaped = await reapStale(new MachineDir(opts.stateDir));
    for (let i = 0; i < 50 && isAlive(qemuPid); i++) await sleep(100);
    assert.equal(isAlive(qemuPid), false, `QEMU ${qemuPid} must be gone (reaped: ${JSON.stringify(reaped)})`);
    await m.stop();
  });

  it("two machines in different state dirs run at the same time", async () => {
    const a = await Machine.start(await options("para-a"));
    const b = await Machine.start(await options("para-b"));
    try {
      assert.notEqual(a.info.qemuPid, b.info.qemuPid);
      assert.equal(await a.status(), "running");
      assert.equal(await b.status(), "running");
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("a QEMU that cannot start fails with its own message", async () => {
    const opts = await options("badargs");
    await assert.rejects(
      Machine.start({ ...opts, extraArgs: ["-device", "no-such-device-nbxen"] }),
      (e: Error) => /no-such-device-nbxen/.test(e.message),
    );
  });
});
