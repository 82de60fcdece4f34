import { access, constants, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { UsageError } from "../../lib/errors.ts";
import {
  PROBE_BANNER,
  probeImage,
  readProbeOutput,
  type ProbeReading,
  type ProbeStage,
} from "./accel-probe.ts";

export type Accelerator = "kvm" | "tcg";

export interface AcceleratorChoice {
  accelerator: Accelerator;
  /** The -cpu model to use with it. */
  cpu: string;
  /** Why this accelerator was chosen, in words a user can act on. */
  reason: string;
  /** Whether the guest CPU will offer VMX/SVM, i.e. whether HVM domUs can run inside it. */
  hvmCapable: boolean;
  hvmReason: string;
  /** Under `accelerator: auto` a KVM boot that stalls may be redone under TCG (the boot watchdog). */
  fallbackAllowed: boolean;
  /** The KVM probe that decided, when one ran. */
  probe?: KvmProbe;
}

export interface KvmProbe {
  usable: boolean;
  /** What was seen, in words a user can act on. */
  detail: string;
  /** The accelerator and CPU model probed. */
  accelerator: Accelerator;
  cpu: string;
  /** The probe's stages that were reached, in order (empty when QEMU did not run it). */
  reached: ProbeStage[];
  /** What the probe was doing when it stopped ("entering long mode ..."); empty when it passed. */
  stalledAt: string;
}

/** The CPU model a run uses under an accelerator unless the configuration names one. */
export function defaultCpu(accel: Accelerator): string {
  return accel === "kvm" ? "host" : "qemu64";
}

/**
 * Boots the probe (accel-probe.asm: real mode, protected mode, long mode with 4-level paging, a timer
 * interrupt, a banner) under the accelerator and CPU model a run would use, and says how far it got.
 * /dev/kvm existing is not enough, nor is a boot sector running: a paravirtual KVM can run real mode and
 * hang a kernel where it enters long mode.
 */
export async function probeAccelerator(
  qemuBinary: string,
  accel: Accelerator,
  opts: { cpu?: string; timeoutMs?: number } = {},
): Promise<KvmProbe> {
  const cpu = opts.cpu ?? defaultCpu(accel);
  const timeoutMs = opts.timeoutMs ?? 10_000; // it runs in well under a second when the accelerator works
  const under = `${accel} with -cpu ${cpu}`;
  const verdict = (usable: boolean, detail: string, reading?: ProbeReading): KvmProbe => ({
    usable,
    detail,
    accelerator: accel,
    cpu,
    reached: reading?.reached ?? [],
    stalledAt: reading?.stalledAt ?? "",
  });
  if (accel === "kvm") {
    try {
      await access("/dev/kvm", constants.R_OK | constants.W_OK);
    } catch {
      return verdict(false, "/dev/kvm is missing or not readable and writable by this user");
    }
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-probe-"));
  try {
    const image = path.join(dir, "probe.img");
    await writeFile(image, probeImage());
    const child = execa(
      qemuBinary,
      [
        "-accel",
        accel,
        "-machine",
        "pc",
        "-cpu",
        cpu,
        "-m",
        "16",
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
        "-serial",
        "stdio",
        "-drive",
        `file=${image},format=raw,if=ide`,
        "-boot",
        "c",
      ],
      { timeout: timeoutMs, reject: false, stdin: "ignore", all: true, forceKillAfterDelay: 2000 },
    );
    let printed = "";
    child.all?.on("data", (chunk: Buffer) => {
      printed += chunk.toString("latin1");
      if (printed.includes(PROBE_BANNER)) child.kill("SIGKILL");
    });
    const result = await child;
    const output = printed || String(result.all ?? "");
    const reading = readProbeOutput(output);
    const stages = reading.reached.length ? reading.reached.join(", ") : "no stage";
    if (reading.complete) return verdict(true, `the probe passed under ${under}: ${stages}, banner`, reading);
    if (result.timedOut)
      return verdict(
        false,
        `under ${under} the probe reached ${stages} and then printed nothing for ${timeoutMs / 1000}s: stalled ${reading.stalledAt}`,
        reading,
      );
    const qemuSaid = output
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("nbxen-probe "));
    const why = qemuSaid[0] ?? `exit code ${result.exitCode}`;
    return verdict(
      false,
      reading.reached.length
        ? `under ${under} the probe reached ${stages}, then QEMU stopped (${why}): it failed ${reading.stalledAt}`
        : `QEMU could not run the probe under ${under}: ${why}`,
      reading,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface HostCpu {
  vendor: "intel" | "amd" | "other";
  hasVmx: boolean;
  hasSvm: boolean;
  /** The kvm_intel/kvm_amd `nested` parameter, when the module is loaded. */
  kvmNested?: boolean;
}

export async function readHostCpu(): Promise<HostCpu> {
  const cpuinfo = await readFile("/proc/cpuinfo", "utf8").catch(() => "");
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "").split(/\s+/));
  const vendor = /GenuineIntel/.test(cpuinfo) ? "intel" : /AuthenticAMD/.test(cpuinfo) ? "amd" : "other";
  let kvmNested: boolean | undefined;
  for (const mod of ["kvm_intel", "kvm_amd"]) {
    const v = await readFile(`/sys/module/${mod}/parameters/nested`, "utf8").catch(() => undefined);
    if (v !== undefined) kvmNested = /^(Y|1)/.test(v.trim());
  }
  return { vendor, hasVmx: flags.has("vmx"), hasSvm: flags.has("svm"), kvmNested };
}

/**
 * Chooses the accelerator and CPU model: KVM only after the probe passes under KVM with the CPU model the
 * run will use, else TCG with qemu64 (a Linux PV dom0 on Xen 4.17 crashes at boot under TCG with -cpu max).
 */
export async function chooseAccelerator(opts: {
  qemuBinary: string;
  override?: "auto" | Accelerator;
  cpu?: string;
  /** A KVM probe already run with the same binary and CPU model (doctor shows it, then decides). */
  probe?: KvmProbe;
}): Promise<AcceleratorChoice> {
  const host = await readHostCpu();
  const override = opts.override ?? "auto";
  let accelerator: Accelerator;
  let reason: string;
  let probe: KvmProbe | undefined;
  if (override === "tcg") {
    accelerator = "tcg";
    reason = "TCG chosen by the configuration (qemu.accelerator = tcg)";
  } else {
    probe = opts.probe ?? (await probeAccelerator(opts.qemuBinary, "kvm", { cpu: opts.cpu }));
    if (probe.usable) {
      accelerator = "kvm";
      reason = `KVM: ${probe.detail}`;
    } else if (override === "kvm") {
      throw new UsageError(
        `qemu.accelerator is "kvm" but KVM is not usable here: ${probe.detail}. Set qemu.accelerator to "auto" or "tcg".`,
      );
    } else {
      accelerator = "tcg";
      reason = `TCG (software emulation), because KVM is not usable: ${probe.detail}`;
    }
  }
  const cpu = opts.cpu ?? defaultCpu(accelerator);
  return {
    accelerator,
    cpu,
    reason,
    fallbackAllowed: override === "auto",
    ...(probe ? { probe } : {}),
    ...hvmSupport(host, accelerator, cpu),
  };
}

function hvmSupport(
  host: HostCpu,
  accelerator: Accelerator,
  cpu: string,
): Pick<AcceleratorChoice, "hvmCapable" | "hvmReason"> {
  const nestedOk = accelerator === "kvm" && (host.hasVmx || host.hasSvm) && host.kvmNested === true;
  const hvmCapable = nestedOk && cpu === "host";
  const hvmReason = hvmCapable
    ? "nested virtualization is on and -cpu host passes VMX/SVM to the guest"
    : accelerator === "tcg"
      ? `under TCG the CPU model ${cpu} (a PV dom0 needs qemu64; max crashes it) emulates SVM without nested paging, so Xen cannot build HVM guests`
      : "KVM's nested virtualization is off (or the host CPU lacks VMX/SVM), so the guest gets no VMX/SVM";
  return { hvmCapable, hvmReason };
}

/**
 * The choice after a KVM boot stalled under `accelerator: auto`: TCG with qemu64 (a CPU model set in the
 * configuration was chosen for KVM, typically `host`, which TCG cannot offer).
 */
export async function tcgAfterKvmStall(previous: AcceleratorChoice, why: string): Promise<AcceleratorChoice> {
  const cpu = defaultCpu("tcg");
  return {
    accelerator: "tcg",
    cpu,
    reason: `TCG (software emulation), because ${why}; the KVM probe had passed (${previous.reason})`,
    fallbackAllowed: false,
    ...(previous.probe ? { probe: previous.probe } : {}),
    ...hvmSupport(await readHostCpu(), "tcg", cpu),
  };
}
