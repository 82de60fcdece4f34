import path from "node:path";
import { DEBIAN_ROOT_PASSWORD } from "../../../images/debian/box.ts";
import type { Machine, MachineOptions } from "../../machine/machine.ts";
import { createOverlay, exists } from "../../machine/disk.ts";
import type { Box, BoxContext, BoxFacts, BootMode, HowtoState } from "../box.ts";
import { loginAsRoot } from "../login.ts";
import { DEBIAN_BOX, DEBIAN_TYPING, ensureDebianBox } from "./box-files.ts";
import { createAndWatch, debianSteps, tryHvmDomU } from "./steps.ts";

const facts: BoxFacts = {
  os: "debian",
  xenConfigDir: "/etc/xen",
  bridge: "bridge0",
  expectedXenVersion: "4.17",
  packageInstalledCommand: (name) =>
    `dpkg-query -W -f='\${Status} \${Version}\\n' ${name} | grep '^install ok installed'`,
  xenPackages: ["xen-system-amd64", "xen-hypervisor-4.17-amd64", "xen-utils-4.17"],
  bootConfigCommand:
    "cat /etc/default/grub.d/zz-nbxen-xen.cfg && grep -E '^\\s*(set default|menuentry)' /boot/grub/grub.cfg",
  xenDefaultBootPattern: /^\s*set default="Debian GNU\/Linux, with Xen hypervisor"$/m,
  xenServiceCommand: "systemctl is-active xen.service xenstored.service xenconsoled.service",
  pingCommand: (host) => `ping -c 1 -W 3 ${host}`,
  xenKernelPath: "/boot/xen-4.17-amd64.gz",
  runningUnderXenCommand: "cat /proc/xen/capabilities",
  runningUnderXenPattern: /control_d/,
  nic: "eth0",
  bridgeMembersCommand: "ls /sys/class/net/bridge0/brif",
  fileSizeCommand: (file) => `stat -c %s ${file}`,
  domUConfigPath: (name) => `/etc/xen/${name}.cfg`,
  domUDiskMiB: (configured) => configured,
  autostartConfigCommand: "ls -l /etc/xen/auto/",
};

export function debian12Box(): Box {
  return {
    name: DEBIAN_BOX,
    description: "reference box: Debian 12 + Debian's Xen 4.17, Linux dom0",
    facts,
    steps: debianSteps,
    diskPath: (machineDir) => path.join(machineDir, "disks", "disk.qcow2"),
    async fetch(ctx) {
      const b = await ensureDebianBox(ctx);
      return [b.disk, b.kernel, b.initrd, b.xenRepo];
    },
    async machineOptions(state: HowtoState, mode: BootMode): Promise<MachineOptions> {
      const { ctx } = state;
      const box = await ensureDebianBox(ctx);
      const disk = path.join(ctx.machineDir, "disks", "disk.qcow2");
      if (!(await exists(disk))) await createOverlay(disk, box.disk, "qcow2");
      return {
        name: DEBIAN_BOX,
        stateDir: ctx.machineDir,
        qemuBinary: ctx.config.qemu.binary,
        accelerator: ctx.accel.accelerator,
        cpu: ctx.accel.cpu,
        memoryMiB: ctx.config.memoryMiB,
        cpus: ctx.config.cpus,
        disks: [{ file: disk, format: "qcow2", interface: "virtio" }],
        cdroms: [],
        boot: "disk",
        kernel:
          mode === "direct-kernel"
            ? { kernel: box.kernel, initrd: box.initrd, append: box.meta.kernelCmdline }
            : undefined,
        net: { model: "virtio-net-pci" },
        rng: true,
        extraArgs: ctx.config.qemu.extraArgs,
      };
    },
    startDomU: createAndWatch,
    tryHvmDomU,
    async login(machine: Machine, opts = {}) {
      return loginAsRoot(machine.console, {
        password: DEBIAN_ROOT_PASSWORD,
        timeoutMs: opts.timeoutMs ?? 300_000,
        typing: DEBIAN_TYPING,
      });
    },
  };
}
