import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { PROBE_BANNER, probeImage, readProbeOutput } from "../../harness/machine/accel-probe.ts";
import { tcgAfterKvmStall, type AcceleratorChoice } from "../../harness/machine/accel.ts";
import { findKvmStall, KvmBootStalledError } from "../../harness/machine/boot-watchdog.ts";
import { StepFailedError } from "../../harness/steps/runner.ts";
import { summaryTable } from "../../harness/steps/report.ts";

const SOURCE = fileURLToPath(new URL("../../harness/machine/accel-probe.asm", import.meta.url));

describe("accelerator probe image", () => {
  it("is accel-probe.asm assembled: nasm gives the same 512 bytes (scripts/setup.sh installs nasm)", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-asm-"));
    try {
      const out = path.join(dir, "probe.img");
      await execa("nasm", ["-f", "bin", "-o", out, SOURCE]);
      const assembled = await readFile(out);
      assert.equal(assembled.length, 512);
      assert.equal(assembled.readUInt16LE(510), 0xaa55, "boot signature");
      assert.ok(assembled.equals(probeImage()), "the bytes in accel-probe.ts differ from the source");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reads the stages reached and names where a stalled probe stopped", () => {
    const full = readProbeOutput(
      "nbxen-probe real-mode\nnbxen-probe protected-mode\nnbxen-probe long-mode\nnbxen-probe timer-interrupt\n" +
        PROBE_BANNER,
    );
    assert.deepEqual(full, {
      reached: ["real-mode", "protected-mode", "long-mode", "timer-interrupt"],
      complete: true,
      stalledAt: "",
    });
    const stalled = readProbeOutput(
      "SeaBIOS noise\r\nnbxen-probe real-mode\r\nnbxen-probe protected-mode\r\n",
    );
    assert.deepEqual(stalled.reached, ["real-mode", "protected-mode"]);
    assert.equal(stalled.complete, false);
    assert.match(stalled.stalledAt, /^entering long mode/);
    assert.match(readProbeOutput("").stalledAt, /before the boot sector printed anything/);
    assert.match(readProbeOutput("nbxen-probe real-mode\n").stalledAt, /^entering protected mode/);
  });
});

describe("boot watchdog pieces", () => {
  const kvm: AcceleratorChoice = {
    accelerator: "kvm",
    cpu: "host",
    reason: "KVM: the probe passed",
    hvmCapable: false,
    hvmReason: "",
    fallbackAllowed: true,
  };

  it("a fallback choice is TCG with qemu64, says why, and allows no second fallback", async () => {
    const c = await tcgAfterKvmStall(kvm, "a KVM boot stalled (console silent 90s)");
    assert.equal(c.accelerator, "tcg");
    assert.equal(c.cpu, "qemu64");
    assert.equal(c.fallbackAllowed, false);
    assert.match(c.reason, /because a KVM boot stalled \(console silent 90s\); the KVM probe had passed/);
  });

  it("finds a stall through the causes a failed step wraps it in, and says what was seen", () => {
    const stall = new KvmBootStalledError("m", "boot", 91_000, true, "screen", "Probing EDD", false);
    assert.match(stall.summary, /m: the boot under KVM stalled: its console printed, then nothing for 91s/);
    assert.match(stall.summary, /no fallback: set it to "auto"/);
    const wrapped = new StepFailedError("install-os", "Install", new Error("x", { cause: stall }));
    assert.equal(findKvmStall(wrapped), stall);
    assert.equal(findKvmStall(new Error("other")), undefined);
  });

  it("the run summary lists notes under the step table", () => {
    const t = summaryTable([{ step: "a", title: "A", status: "passed", seconds: 1 }], ["fell back to TCG"]);
    assert.match(t, /a\s+passed\s+1\.0\s+-\n\nnotes:\n- fell back to TCG\n$/);
  });
});
