import { access, constants, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { UsageError } from "../util/errors.ts";

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
}

export interface KvmProbe {
  usable: boolean;
  detail: string;
}

/** Bytes of a 512-byte boot sector that prints PROBE_BANNER on COM1 and halts: proof that a guest runs. */
const PROBE_BANNER = "NBXEN-ACCEL-PROBE-OK";
function probeBootSector(): Buffer {
  const code = Buffer.from([
    0x31,
    0xc0, // xor ax, ax
    0x8e,
    0xd8, // mov ds, ax
    0xfc, // cld
    0xbe,
    0x16,
    0x7c, // mov si, 0x7c16 (message)
    0xba,
    0xf8,
    0x03, // mov dx, 0x3f8 (COM1)
    0xac, // loop: lodsb
    0x84,
    0xc0, // test al, al
    0x74,
    0x03, // jz done
    0xee, // out dx, al
    0xeb,
    0xf8, // jmp loop
    0xf4, // done: hlt
    0xeb,
    0xfd, // jmp done
  ]);
  const sector = Buffer.alloc(512);
  code.copy(sector, 0);
  Buffer.from(PROBE_BANNER + "\r\n\0", "latin1").copy(sector, code.length);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/**
 * Boots the probe boot sector under the given accelerator and reports whether it printed its banner.
 * /dev/kvm existing is not enough: a paravirtual KVM can accept the VM and never run ordinary guests.
 */
export async function probeAccelerator(
  qemuBinary: string,
  accel: Accelerator,
  timeoutMs = 20_000,
): Promise<KvmProbe> {
  if (accel === "kvm") {
    try {
      await access("/dev/kvm", constants.R_OK | constants.W_OK);
    } catch {
      return { usable: false, detail: "/dev/kvm is missing or not readable and writable by this user" };
    }
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-probe-"));
  try {
    const image = path.join(dir, "probe.img");
    await writeFile(image, probeBootSector());
    const child = execa(
      qemuBinary,
      [
        "-accel",
        accel,
        "-machine",
        "pc",
        "-cpu",
        accel === "kvm" ? "host" : "qemu64",
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
      {
        timeout: timeoutMs,
        reject: false,
        stdin: "ignore",
        all: true,
        buffer: true,
        forceKillAfterDelay: 2000,
      },
    );
    let seen = false;
    let printed = "";
    child.all?.on("data", (chunk: Buffer) => {
      printed = (printed + chunk.toString("latin1")).slice(-4096);
      if (!seen && printed.includes(PROBE_BANNER)) {
        seen = true;
        child.kill("SIGKILL");
      }
    });
    const result = await child;
    const output = String(result.all ?? "");
    if (seen || output.includes(PROBE_BANNER))
      return { usable: true, detail: `a test guest booted under ${accel}` };
    if (result.timedOut)
      return {
        usable: false,
        detail: `a test guest printed nothing within ${timeoutMs / 1000}s under ${accel}`,
      };
    const firstLine = output.split("\n").find((l) => l.trim()) ?? `exit code ${result.exitCode}`;
    return { usable: false, detail: `QEMU could not run a test guest under ${accel}: ${firstLine.trim()}` };
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
 * Chooses the accelerator and CPU model: KVM only after a probe shows a guest really runs under it, else TCG
 * with qemu64 (a Linux PV dom0 on Xen 4.17 crashes at boot under TCG with -cpu max).
 */
export async function chooseAccelerator(opts: {
  qemuBinary: string;
  override?: "auto" | Accelerator;
  cpu?: string;
}): Promise<AcceleratorChoice> {
  const host = await readHostCpu();
  const override = opts.override ?? "auto";
  let accelerator: Accelerator;
  let reason: string;
  if (override === "tcg") {
    accelerator = "tcg";
    reason = "TCG chosen by the configuration (qemu.accelerator = tcg)";
  } else {
    const probe = await probeAccelerator(opts.qemuBinary, "kvm");
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
  const nestedOk = accelerator === "kvm" && (host.hasVmx || host.hasSvm) && host.kvmNested === true;
  const cpu = opts.cpu ?? (accelerator === "kvm" ? "host" : "qemu64");
  const hvmCapable = nestedOk && cpu === "host";
  const hvmReason = hvmCapable
    ? "nested virtualization is on and -cpu host passes VMX/SVM to the guest"
    : accelerator === "tcg"
      ? `under TCG the CPU model ${cpu} (a PV dom0 needs qemu64; max crashes it) emulates SVM without nested paging, so Xen cannot build HVM guests`
      : "KVM's nested virtualization is off (or the host CPU lacks VMX/SVM), so the guest gets no VMX/SVM";
  return { accelerator, cpu, reason, hvmCapable, hvmReason };
}
