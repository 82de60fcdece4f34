import { statfs } from "node:fs/promises";
import { mkdir } from "node:fs/promises";
import { execa } from "execa";
import { chooseAccelerator, probeAccelerator, readHostCpu } from "../machine/accel.ts";
import { PROBE_STAGES } from "../machine/accel-probe.ts";
import type { ResolvedConfig } from "../boxes/box.ts";

export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
}

async function toolVersion(cmd: string, args: string[]): Promise<string | undefined> {
  const r = await execa(cmd, args, { reject: false, timeout: 10_000 });
  if (r.failed && r.exitCode === undefined) return undefined;
  return (r.stdout || r.stderr).split("\n")[0]?.trim();
}

/** Host checks: what the harness will use on this machine, and why. */
export async function doctor(config: ResolvedConfig): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const qemuVersion = await toolVersion(config.qemu.binary, ["-version"]);
  checks.push({
    name: "qemu",
    ok: qemuVersion !== undefined,
    detail: qemuVersion
      ? `${config.qemu.binary}: ${qemuVersion}`
      : `${config.qemu.binary} not found (apt-get install qemu-system-x86, or set qemu.binary)`,
  });
  if (qemuVersion) {
    const kvm = await probeAccelerator(config.qemu.binary, "kvm", { cpu: config.qemu.cpu });
    checks.push({
      name: "kvm probe",
      ok: true,
      detail: `${kvm.usable ? "passed" : "failed"}: ${kvm.detail}`,
    });
    const missed = PROBE_STAGES.findIndex((st) => !kvm.reached.includes(st));
    PROBE_STAGES.forEach((stage, i) =>
      checks.push({
        name: `  ${stage}`,
        ok: true,
        detail: kvm.reached.includes(stage)
          ? "reached"
          : i === missed && kvm.reached.length > 0
            ? `not reached: stalled ${kvm.stalledAt}`
            : "not reached",
      }),
    );
    const forcedKvm = config.qemu.accelerator === "kvm";
    const choice = await chooseAccelerator({
      qemuBinary: config.qemu.binary,
      override: forcedKvm ? "auto" : config.qemu.accelerator,
      cpu: config.qemu.cpu,
      probe: kvm,
    });
    checks.push({
      name: "accelerator",
      ok: !(forcedKvm && choice.accelerator !== "kvm"),
      detail:
        forcedKvm && choice.accelerator !== "kvm"
          ? `qemu.accelerator is "kvm" but the KVM probe failed, so runs will stop at once: set qemu.accelerator to "auto" (TCG here) or "tcg"`
          : `${choice.accelerator.toUpperCase()} with -cpu ${choice.cpu}: ${choice.reason}` +
            (choice.accelerator === "kvm" && config.qemu.accelerator === "auto"
              ? `; a KVM boot silent for ${config.qemu.bootWatchdogSeconds}s is redone under TCG (qemu.bootWatchdogSeconds)`
              : ""),
    });
    const host = await readHostCpu();
    const nested = host.kvmNested === undefined ? "KVM module not loaded" : host.kvmNested ? "on" : "off";
    checks.push({
      name: "nested virtualization",
      ok: true,
      detail: `host CPU ${host.vendor}, VMX ${host.hasVmx ? "yes" : "no"}, SVM ${host.hasSvm ? "yes" : "no"}, KVM nested: ${nested}; HVM domUs ${choice.hvmCapable ? "can" : "cannot"} run: ${choice.hvmReason}`,
    });
  }
  for (const [tool, args, pkg] of [
    ["qemu-img", ["--version"], "qemu-utils"],
    ["xorriso", ["-version"], "xorriso"],
    ["mmdebstrap", ["--version"], "mmdebstrap"],
  ] as const) {
    const v = await toolVersion(tool, [...args]);
    checks.push({ name: tool, ok: v !== undefined, detail: v ?? `not found (apt-get install ${pkg})` });
  }
  await mkdir(config.cacheDir, { recursive: true });
  const fs = await statfs(config.cacheDir);
  const freeGiB = (fs.bavail * fs.bsize) / 2 ** 30;
  checks.push({ name: "cache", ok: true, detail: config.cacheDir });
  checks.push({
    name: "free disk",
    ok: freeGiB >= 10,
    detail: `${freeGiB.toFixed(1)} GiB free at ${config.cacheDir}${freeGiB < 10 ? " (a box needs about 10 GiB: disks, snapshots, media)" : ""}`,
  });
  checks.push({ name: "state", ok: true, detail: config.stateDir });
  return checks;
}
