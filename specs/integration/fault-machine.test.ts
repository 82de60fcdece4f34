/**
 * Machine-level faults on the real test guest (Debian's kernel + a busybox initramfs under QEMU TCG):
 * a start that fails half way, QEMU killed in the middle of a step, a guest that stops answering, a
 * truncated disk. Steps run through the real HowtoRunner and bootMachine, with a small box around the
 * test guest.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, truncate, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import type { Box, BoxContext, HowtoState } from "../../harness/boxes/box.ts";
import { validateConfig } from "../../harness/config/load.ts";
import { createDisk } from "../../harness/machine/disk.ts";
import { Machine } from "../../harness/machine/machine.ts";
import { isAlive, MachineDir, processCmdline } from "../../harness/machine/state-dir.ts";
import { bootMachine } from "../../harness/steps/boot.ts";
import {
  HowtoRunner,
  SnapshotUnusableError,
  StepFailedError,
  StepTimeoutError,
} from "../../harness/steps/runner.ts";
import type { Step } from "../../harness/steps/step.ts";
import { memoryReporter } from "../../lib/reporter.ts";
import { buildTestGuest, testGuestBox, testGuestMachine, type TestGuest } from "../../testkit/test-guest.ts";

/** Live processes whose command line names this file (QEMU is started with `-pidfile <dir>/qemu.pid`). */
async function processesNaming(file: string): Promise<number[]> {
  const pids: number[] = [];
  for (const e of await readdir("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    if ((await processCmdline(Number(e)))?.includes(file)) pids.push(Number(e));
  }
  return pids;
}

function runnerFor(box: Box, machineDir: string): HowtoRunner {
  const config = { ...validateConfig({}, "x.json"), cacheDir: machineDir, stateDir: machineDir };
  const ctx = {
    config,
    reporter: memoryReporter(),
    machineDir,
    accel: { accelerator: "tcg", cpu: "qemu64", reason: "test", hvmCapable: false, hvmReason: "" },
  } as unknown as BoxContext;
  return new HowtoRunner(box, ctx);
}

const bootStep: Step<HowtoState> = {
  name: "boot",
  title: "boot the test guest to a shell",
  howto: [],
  async run(state) {
    await bootMachine(state, "disk");
    await state.shell!.run("echo booted > /tmp/state");
  },
};

describe("faults: the machine (real QEMU, test guest)", function () {
  this.timeout(600_000);
  let guest: TestGuest;
  let work: string;

  before(async () => {
    guest = await buildTestGuest();
    work = await mkdtemp(path.join(os.tmpdir(), "nbxen-fault-machine-"));
  });
  after(() => rm(work, { recursive: true, force: true }));

  it("a start that fails (QEMU never opens QMP; a snapshot that does not exist) tears down what it started and rethrows the original error", async () => {
    const opts = await testGuestMachine(guest, "startfail", work);
    const dir = new MachineDir(opts.stateDir);
    // A QEMU that hangs before it opens its QMP socket: a wrapper that waits, its arguments QEMU's own.
    const hang = path.join(work, "hanging-qemu");
    await writeFile(hang, '#!/bin/sh\nsleep 120\nexec qemu-system-x86_64 "$@"\n');
    await chmod(hang, 0o755);
    await assert.rejects(
      Machine.start({ ...opts, qemuBinary: hang, startTimeoutMs: 3000 }),
      /QEMU did not open its QMP socket/,
    );
    const info = await dir.readRunInfo();
    assert.ok(info, "the supervisor had come up");
    assert.equal(isAlive(info.supervisorPid), false, "the supervisor is gone");
    assert.deepEqual(await processesNaming(dir.qemuPidFile), [], "nothing started for this machine is left");
    assert.equal(existsSync(dir.consoleSocket), false, "console socket removed");
    assert.equal(existsSync(dir.qmpSocket), false, "QMP socket removed");

    // QEMU up and QMP connected, then the snapshot cannot be restored: the loadvm error itself comes back.
    let qemuPid: number | undefined;
    await assert.rejects(Machine.start({ ...opts, resumeSnapshot: "no-such-snapshot" }), (e: Error) => {
      assert.match(e.message, /loadvm no-such-snapshot failed/);
      return true;
    });
    qemuPid = (await dir.readRunInfo())?.qemuPid;
    assert.ok(qemuPid);
    assert.equal(isAlive(qemuPid), false, "QEMU stopped after the failed start");
    assert.deepEqual(await processesNaming(dir.qemuPidFile), []);

    // Nothing "already running" is left behind: the next start in the same directory works.
    const m = await Machine.start(opts);
    try {
      assert.equal(await m.status(), "running");
    } finally {
      await m.stop();
    }
  });

  it("a snapshot QEMU cannot restore (disk-only, no VM state): the start is undone, the snapshot dropped, the error says how to recover", async () => {
    const machineDir = path.join(work, "badsnap");
    await mkdir(machineDir, { recursive: true });
    const disk = path.join(machineDir, "disk.qcow2");
    await createDisk(disk, 1);
    await execa("qemu-img", ["snapshot", "-c", "boot", disk]);
    const runner = runnerFor(
      testGuestBox(guest, () => [bootStep]),
      machineDir,
    );
    const record = { step: "boot", bootMode: "disk", fingerprint: runner.fingerprint(), createdAt: "x" };
    await writeFile(path.join(machineDir, "snapshots.json"), JSON.stringify([record]));
    await assert.rejects(runner.prepare({ disk }), (e: Error) => {
      assert.ok(e instanceof SnapshotUnusableError, String(e));
      assert.match(e.message, /snapshot boot in .*disk\.qcow2 cannot be used: .*loadvm boot failed/);
      assert.match(e.message, /`nbxen destroy`, then `nbxen up`/);
      return true;
    });
    assert.deepEqual(JSON.parse(await readFile(path.join(machineDir, "snapshots.json"), "utf8")), []);
    assert.deepEqual(await processesNaming(new MachineDir(machineDir).qemuPidFile), [], "no QEMU left");
  });

  describe("a run of steps", () => {
    const machineDir = () => path.join(work, "run");
    let killedAt = 0;
    let runner2: HowtoRunner;

    it("QEMU killed mid-step: the step fails naming QEMU's exit, the transcript is kept", async () => {
      let started!: () => void;
      const inStep = new Promise<void>((r) => (started = r));
      const victim: Step<HowtoState> = {
        name: "work",
        title: "a long command",
        howto: [],
        async run(state) {
          setTimeout(started, 500);
          await state.shell!.exec("sleep 60", { timeoutMs: 120_000 });
        },
      };
      const runner = runnerFor(
        testGuestBox(guest, () => [bootStep, victim]),
        machineDir(),
      );
      await runner.prepare({});
      const run = runner.runTo();
      await inStep;
      const m = runner.state.machine!;
      const transcriptDir = m.transcriptDir;
      process.kill(m.info.qemuPid!, "SIGKILL");
      killedAt = Date.now();
      await assert.rejects(run, (e: Error) => {
        assert.ok(e instanceof StepFailedError, String(e));
        assert.equal(e.step, "work");
        assert.match(e.message, /QEMU \(pid \d+\) was killed by SIGKILL at /);
        assert.match(e.message, /console closed while waiting for exec: sleep 60/);
        assert.ok(e.message.includes(`console transcript: ${transcriptDir}`));
        return true;
      });
      const seconds = (Date.now() - killedAt) / 1000;
      assert.ok(seconds < 10, `the failure took ${seconds}s to surface`);
      assert.deepEqual(
        runner.results.map((r) => r.status),
        ["passed", "failed"],
      );
      assert.match(runner.results[1]!.error ?? "", /killed by SIGKILL/);
      const txt = await readFile(path.join(transcriptDir, "console.txt"), "utf8");
      assert.match(txt, /sleep 60/, "the transcript holds what the guest echoed before QEMU died");
      await runner.stopMachine();
    });

    it("the next run resumes from the last good snapshot", async () => {
      const ok: Step<HowtoState> = {
        name: "work",
        title: "a short command",
        howto: [],
        async run(state) {
          // The guest state is the one saved at the end of `boot`.
          assert.equal(await state.shell!.run("cat /tmp/state"), "booted\n");
        },
      };
      const hang: Step<HowtoState> = {
        name: "hang",
        title: "a guest that stops answering",
        howto: [],
        timeoutMs: 4000,
        async run(state) {
          await state.shell!.run("echo last-words");
          await state.machine!.qmp.execute("stop");
          await state.shell!.exec("echo never", { timeoutMs: 120_000 });
        },
      };
      runner2 = runnerFor(
        testGuestBox(guest, () => [bootStep, ok, hang]),
        machineDir(),
      );
      await runner2.prepare({ disk: path.join(machineDir(), "disk.qcow2") });
      assert.equal(runner2.results[0]!.status, "resumed");
      assert.equal(runner2.results[0]!.snapshot, "boot");
      await runner2.runTo("work");
      assert.equal(runner2.results[1]!.status, "passed");
    });

    it("a guest that stops answering: the step fails within its bound with the last screen", async () => {
      const t0 = Date.now();
      await assert.rejects(runner2.runTo(), (e: Error) => {
        assert.ok(e instanceof StepFailedError, String(e));
        assert.ok(e.cause instanceof StepTimeoutError, String(e.cause));
        assert.match(e.message, /step hang did not finish within its bound of 4\.0s/);
        assert.match(e.message, /last screen:\n(.*\n)*.*last-words/);
        return true;
      });
      const seconds = (Date.now() - t0) / 1000;
      // echo + QMP stop take a moment before the bound starts to matter; the bound is 4 s.
      assert.ok(seconds >= 3.9 && seconds < 8, `took ${seconds}s`);
      await runner2.stopMachine();
    });

    it("a truncated disk: detected before any boot, its snapshots not reused, the error says how to recover", async () => {
      const disk = path.join(machineDir(), "disk.qcow2");
      await truncate(disk, Math.floor((await stat(disk)).size / 2));
      const runner3 = runnerFor(
        testGuestBox(guest, () => [bootStep]),
        machineDir(),
      );
      await assert.rejects(runner3.prepare({ disk }), (e: Error) => {
        assert.ok(e instanceof SnapshotUnusableError, String(e));
        assert.match(e.message, /disk\.qcow2 cannot be used: qemu-img check found corruption/);
        assert.match(e.message, /`nbxen destroy`, then `nbxen up`/);
        return true;
      });
      assert.equal(runner3.state.machine, undefined, "no machine was started on the damaged disk");
      // Not reused: the next run starts from the first step.
      const runner4 = runnerFor(
        testGuestBox(guest, () => [bootStep]),
        machineDir(),
      );
      await runner4.prepare({ disk });
      assert.deepEqual(
        runner4.results.map((r) => r.status),
        ["not-run"],
      );
    });
  });
});
