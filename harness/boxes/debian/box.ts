import path from "node:path";
import { DEBIAN_ROOT_PASSWORD } from "../../../images/debian/box.ts";
import {
  debianXenPackages,
  describeDebianRelease,
  type DebianRelease,
} from "../../../images/debian/releases.ts";
import type { Machine, MachineOptions } from "../../machine/machine.ts";
import { createOverlay, exists } from "../../machine/disk.ts";
import type { Box, BoxFacts, BootMode, HowtoState } from "../box.ts";
import { loginAsRoot } from "../login.ts";
import { DEBIAN_TYPING, ensureDebianBox } from "./box-files.ts";
import { createAndWatch, debianSteps, tryHvmDomU, xenGrubDefault } from "./steps.ts";

/** What the specs check on a Debian box: the same for every release but its Xen's version and paths. */
export function debianFacts(release: DebianRelease): BoxFacts {
  return {
    os: "debian",
    xenConfigDir: "/etc/xen",
    bridge: "bridge0",
    expectedXenVersion: release.xenVersion,
    packageInstalledCommand: (name) =>
      `dpkg-query -W -f='\${Status} \${Version}\\n' ${name} | grep '^install ok installed'`,
    xenPackages: debianXenPackages(release),
    bootConfigCommand:
      "cat /etc/default/grub.d/zz-nbxen-xen.cfg && grep -E '^\\s*(set default|menuentry)' /boot/grub/grub.cfg",
    xenDefaultBootPattern: xenGrubDefault(release),
    // Debian's xen.service is /etc/init.d/xen (xencommons): it starts xenstored (or oxenstored) and
    // xenconsoled, which have no units of their own. `systemctl is-active` of several units succeeds when
    // any one is active, so each daemon is looked for by itself.
    xenServiceCommand: "systemctl is-active xen.service && pgrep -x xenconsoled && pgrep -x 'o?xenstored'",
    pingCommand: (host) => `ping -c 1 -W 3 ${host}`,
    xenKernelPath: release.xenKernelPath,
    runningUnderXenCommand: "cat /proc/xen/capabilities",
    runningUnderXenPattern: /control_d/,
    nic: "eth0",
    bridgeMembersCommand: "ls /sys/class/net/bridge0/brif",
    fileSizeCommand: (file) => `stat -c %s ${file}`,
    domUConfigPath: (name) => `/etc/xen/${name}.cfg`,
    domUDiskMiB: (configured) => configured,
    autostartConfigCommand: "ls -l /etc/xen/auto/",
  };
}

/** The reference box of a Debian release: built from Debian's packages, with Debian's own Xen. */
export function debianBox(release: DebianRelease): Box {
  return {
    name: release.box,
    description: describeDebianRelease(release),
    facts: debianFacts(release),
    steps: () => debianSteps(release),
    diskPath: (machineDir) => path.join(machineDir, "disks", "disk.qcow2"),
    async fetch(ctx) {
      const b = await ensureDebianBox(ctx, release);
      return [b.disk, b.kernel, b.initrd, b.xenRepo];
    },
    async machineOptions(state: HowtoState, mode: BootMode): Promise<MachineOptions> {
      const { ctx } = state;
      const box = await ensureDebianBox(ctx, release);
      const disk = path.join(ctx.machineDir, "disks", "disk.qcow2");
      if (!(await exists(disk))) await createOverlay(disk, box.disk, "qcow2");
      return {
        name: release.box,
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
