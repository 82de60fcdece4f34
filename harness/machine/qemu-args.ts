import { createHash } from "node:crypto";
import type { Accelerator } from "./accel.ts";

export interface DiskSpec {
  file: string;
  format: "qcow2" | "raw";
  interface: "virtio" | "ide";
}

export interface DirectKernelBoot {
  kernel: string;
  initrd?: string;
  append?: string;
}

export interface NetSpec {
  /** NIC model: virtio-net-pci for Linux, e1000 for old NetBSD. */
  model: "virtio-net-pci" | "e1000";
}

/** Everything QEMU needs to know about one machine; the harness turns it into a command line. */
export interface QemuMachineSpec {
  name: string;
  runId: string;
  accelerator: Accelerator;
  cpu: string;
  memoryMiB: number;
  cpus: number;
  disks: DiskSpec[];
  cdroms: string[];
  boot: "disk" | "cdrom";
  kernel?: DirectKernelBoot;
  net?: NetSpec;
  /** A virtio RNG, so guests that wait for entropy (NetBSD 10's sysinst) need not. */
  rng: boolean;
  qmpSocket: string;
  pidFile: string;
  extraArgs?: string[];
}

/**
 * The QEMU command line for a machine. The serial console is QEMU's stdio (a pty from node-pty) with
 * signals off so ^C reaches the guest; no monitor is multiplexed on it (a stray ^A would otherwise be eaten);
 * control goes through QMP. QEMU starts paused (-S): the harness attaches the console first, then continues,
 * so not a byte of the boot is lost.
 */
export function qemuArgs(spec: QemuMachineSpec): string[] {
  const args = [
    "-name",
    `nbxen-${spec.name},debug-threads=off`,
    "-uuid",
    runUuid(spec.runId),
    "-accel",
    spec.accelerator,
    "-machine",
    "pc",
    "-cpu",
    spec.cpu,
    "-m",
    String(spec.memoryMiB),
    "-smp",
    String(spec.cpus),
    "-nodefaults",
    "-display",
    "none",
    "-vga",
    "none",
    "-chardev",
    "serial,id=con0,path=/dev/stdin",
    "-serial",
    "chardev:con0",
    "-monitor",
    "none",
    "-qmp",
    `unix:${spec.qmpSocket},server=on,wait=off`,
    "-pidfile",
    spec.pidFile,
    "-S",
  ];
  spec.disks.forEach((d, i) => {
    args.push(
      "-drive",
      `file=${d.file},format=${d.format},if=${d.interface},index=${i},cache=writeback,discard=unmap`,
    );
  });
  spec.cdroms.forEach((iso, i) => {
    args.push("-drive", `file=${iso},format=raw,media=cdrom,if=ide,index=${2 + i},readonly=on`);
  });
  args.push("-boot", spec.boot === "cdrom" ? "order=d" : "order=c");
  if (spec.kernel) {
    args.push("-kernel", spec.kernel.kernel);
    if (spec.kernel.initrd) args.push("-initrd", spec.kernel.initrd);
    if (spec.kernel.append) args.push("-append", spec.kernel.append);
  }
  if (spec.net) {
    args.push("-netdev", "user,id=net0,ipv6=off", "-device", `${spec.net.model},netdev=net0`);
  }
  if (spec.rng)
    args.push("-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0");
  args.push(...(spec.extraArgs ?? []));
  return args;
}

/** A stable UUID derived from the run id: it shows in `ps`, which lets the reaper recognise its QEMUs. */
export function runUuid(runId: string): string {
  const hex = createHash("sha256").update(runId).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
