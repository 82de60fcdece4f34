/**
 * The accelerator probe on a real QEMU, and the boot watchdog end to end, against the TEST DOUBLE
 * specs/doubles/kvm-stall (a KVM that runs real mode and hangs long mode; see its README).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ArtifactStore, LocalArtifactServer } from "../../images/store/index.ts";
import type { Box, BoxContext, HowtoState } from "../../harness/boxes/box.ts";
import { validateConfig } from "../../harness/config/load.ts";
import { chooseAccelerator, probeAccelerator, type AcceleratorChoice } from "../../harness/machine/accel.ts";
import { findKvmStall } from "../../harness/machine/boot-watchdog.ts";
import { isAlive, MachineDir } from "../../harness/machine/state-dir.ts";
import { bootMachine } from "../../harness/steps/boot.ts";
import { HowtoRunner, StepFailedError } from "../../harness/steps/runner.ts";
import type { Step } from "../../harness/steps/step.ts";
import { summaryTable } from "../../harness/steps/report.ts";
import { UsageError } from "../../lib/errors.ts";
import { memoryReporter } from "../../lib/reporter.ts";
import { buildTestGuest, testGuestBox, type TestGuest } from "../../testkit/test-guest.ts";

const STALLING_KVM = fileURLToPath(new URL("../doubles/kvm-stall/qemu-system-x86_64", import.meta.url));
const kvmUsable = existsSync("/dev/kvm");

describe("accelerator probe (real QEMU)", function () {
  this.timeout(120_000);

  it("reaches every stage and its banner under TCG", async () => {
    const p = await probeAccelerator("qemu-system-x86_64", "tcg");
    assert.deepEqual(p.reached, ["real-mode", "protected-mode", "long-mode", "timer-interrupt"]);
    assert.equal(p.usable, true, p.detail);
    assert.match(p.detail, /the probe passed under tcg with -cpu qemu64/);
  });

  it("names QEMU's own error when QEMU cannot start the probe", async () => {
    const p = await probeAccelerator("qemu-system-x86_64", "tcg", { cpu: "no-such-cpu-model" });
    assert.equal(p.usable, false);
    assert.deepEqual(p.reached, []);
    assert.match(
      p.detail,
      /QEMU could not run the probe under tcg with -cpu no-such-cpu-model: .*no-such-cpu-model/,
    );
  });
});

describe("a KVM that hangs long mode (TEST DOUBLE specs/doubles/kvm-stall)", function () {
  this.timeout(600_000);
  before(function () {
    // The double runs TCG underneath, but the probe first checks /dev/kvm as it must on a real host.
    if (!kvmUsable) {
      console.log("      pending: /dev/kvm is absent, so the KVM path cannot be reached on this host");
      this.skip();
    }
  });

  it("the probe says how far it got; auto chooses TCG for it; forced kvm refuses naming it", async () => {
    const probe = await probeAccelerator(STALLING_KVM, "kvm", { timeoutMs: 6000 });
    assert.equal(probe.usable, false);
    assert.deepEqual(probe.reached, ["real-mode", "protected-mode"]);
    assert.match(
      probe.detail,
      /under kvm with -cpu host the probe reached real-mode, protected-mode and then printed nothing for 6s: stalled entering long mode/,
    );
    const auto = await chooseAccelerator({ qemuBinary: STALLING_KVM, override: "auto", probe });
    assert.equal(auto.accelerator, "tcg");
    assert.equal(auto.cpu, "qemu64");
    assert.match(auto.reason, /because KVM is not usable: .*stalled entering long mode/);
    await assert.rejects(
      chooseAccelerator({ qemuBinary: STALLING_KVM, override: "kvm", probe }),
      (e: unknown) =>
        e instanceof UsageError &&
        /qemu.accelerator is "kvm" but KVM is not usable here: .*stalled entering long mode/.test(e.message),
    );
  });

  describe("boot watchdog", () => {
    let guest: TestGuest;
    let work: string;
    let server: LocalArtifactServer;
    before(async () => {
      guest = await buildTestGuest();
      work = await mkdtemp(path.join(os.tmpdir(), "nbxen-watchdog-"));
      server = await LocalArtifactServer.start();
    });
    after(async () => {
      await server.close();
      await rm(work, { recursive: true, force: true });
    });

    /** A one-step box on the test guest, booted through the double: what every box's first step does. */
    function testBox(name: string): Box {
      const boot: Step<HowtoState> = {
        name: "boot",
        title: "boot the test guest and run a command",
        howto: [],
        async run(state) {
          await bootMachine(state, "direct-kernel");
          assert.equal((await state.shell!.exec("echo booted")).output, "booted\n");
        },
      };
      return testGuestBox(guest, () => [boot], { name, qemuBinary: STALLING_KVM });
    }

    function runner(name: string, accelerator: "auto" | "kvm"): HowtoRunner {
      const config = {
        ...validateConfig({ box: name, qemu: { accelerator, bootWatchdogSeconds: 8 } }, "x.json"),
        cacheDir: work,
        stateDir: work,
      };
      const accel: AcceleratorChoice = {
        // as if the probe had passed: a KVM that runs the probe and hangs a real kernel
        accelerator: "kvm",
        cpu: "host",
        reason: "KVM: the probe passed (test)",
        hvmCapable: false,
        hvmReason: "",
        fallbackAllowed: accelerator === "auto",
      };
      const ctx: BoxContext = {
        config,
        store: new ArtifactStore({ cacheDir: work }),
        server,
        accel,
        reporter: memoryReporter(),
        machineDir: path.join(work, "machines", name),
      };
      return new HowtoRunner(testBox(name), ctx);
    }

    async function transcripts(machineDir: string): Promise<string> {
      const runs = path.join(machineDir, "runs");
      let all = "";
      for (const r of await readdir(runs))
        for (const f of await readdir(path.join(runs, r)))
          all += await readFile(path.join(runs, r, f), "utf8").catch(() => "");
      return all;
    }

    async function qemuLeft(machineDir: string): Promise<boolean> {
      const info = await new MachineDir(machineDir).readRunInfo();
      return info?.qemuPid !== undefined && isAlive(info.qemuPid);
    }

    it("under auto: a silent KVM boot is stopped and the run redone under TCG, said in warning, transcript and summary", async () => {
      const r = runner("wd-auto", "auto");
      const t0 = Date.now();
      try {
        await r.runTo();
        assert.equal(r.results[0]!.status, "passed");
        assert.equal(r.state.ctx.accel.accelerator, "tcg");
        assert.equal(r.state.ctx.accel.cpu, "qemu64");
        assert.equal(r.notes.length, 1);
        assert.match(
          r.notes[0]!,
          /boot watchdog: wd-auto: the boot under KVM stalled: its console printed nothing for \d+s .*redoing the run under TCG/,
        );
        const lines = (r.state.ctx.reporter as ReturnType<typeof memoryReporter>).lines.join("\n");
        assert.match(lines, /boot watchdog: wd-auto: the boot under KVM stalled/);
        assert.match(lines, /accelerator: TCG \(software emulation\), because a KVM boot stalled/);
        assert.match(summaryTable(r.results, r.notes), /notes:\n- boot watchdog: wd-auto/);
        assert.match(
          await transcripts(r.state.ctx.machineDir),
          /boot watchdog: wd-auto: the boot under KVM stalled/,
        );
        console.log(
          `      stall detected and run redone under TCG in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
        );
      } finally {
        await r.stopMachine();
      }
      assert.equal(await qemuLeft(r.state.ctx.machineDir), false);
    });

    it("with accelerator kvm: no fallback, the step fails saying what was seen, no QEMU left", async () => {
      const r = runner("wd-kvm", "kvm");
      await assert.rejects(r.runTo(), (e: unknown) => {
        assert.ok(e instanceof StepFailedError);
        const stall = findKvmStall(e);
        assert.ok(stall, "the cause is the stall");
        assert.equal(stall.printedAnything, false, `printed: ${JSON.stringify(stall.lastOutput)}`);
        assert.ok(stall.silentForMs >= 8000);
        assert.match(
          e.message,
          /stalled: its console printed nothing for \d+s .*qemu.accelerator is "kvm", so there is no fallback/,
        );
        return true;
      });
      assert.equal(r.results[0]!.status, "failed");
      assert.equal(r.state.ctx.accel.accelerator, "kvm");
      assert.equal(await qemuLeft(r.state.ctx.machineDir), false);
    });
  });
});
