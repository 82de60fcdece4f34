import type { Step } from "../../steps/step.ts";
import type { HowtoState } from "../box.ts";
import { HarnessError } from "../../../lib/errors.ts";
import { DEBIAN_TYPING, ensureDebianBox } from "./box-files.ts";
import { DEBIAN_ROOT_PASSWORD } from "../../../images/debian/box.ts";
import {
  DEBIAN_XEN_REQUEST,
  debianXenPackages,
  type DebianRelease,
} from "../../../images/debian/releases.ts";
import {
  diskSignature,
  DOMU_READY,
  domUConfigText,
  LINUX_PV_CLOCK,
  makeDomUDiskScript,
} from "./domu-root.ts";
import { domainGoneCommand, domainListedCommand } from "../xl-commands.ts";
import { bootMachine } from "../../steps/boot.ts";
import {
  autostartDomUNames,
  createWithConsole,
  leaveDomUConsole,
  live,
  rebootAndLogin as rebootDom0,
  XEN_BANNER,
} from "../dom0.ts";

/** Reboots the dom0 from its shell and logs in again, checking the boot shows what it must. */
function rebootAndLogin(state: HowtoState, mustSee: RegExp[] = [], timeoutMs = 600_000) {
  return rebootDom0(state, {
    command: "systemctl reboot",
    mustSee,
    password: DEBIAN_ROOT_PASSWORD,
    typing: DEBIAN_TYPING,
    timeoutMs,
  });
}

/** grub.cfg's default is the release's Xen entry (20_linux_xen's, made the default by XEN_OVERRIDE_GRUB_DEFAULT). */
export function xenGrubDefault(r: DebianRelease): RegExp {
  const title = r.grubXenEntry.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  return new RegExp(`^\\s*set default="${title}"$`, "m");
}

const osDeviation = (r: DebianRelease) =>
  `reference box: Debian ${r.major} (${r.suite}) installed from Debian's packages (mmdebstrap) instead of NetBSD's sysinst`;
const xenDeviation = (r: DebianRelease) =>
  `Debian's xen-system-amd64 (Xen ${r.xenVersion}) from the harness's local package server, instead of pkgsrc's xenkernel42/xentools42`;

function installOs(r: DebianRelease): Step<HowtoState> {
  return {
    name: "install-os",
    title: `Install the OS (Debian ${r.major} from Debian's packages, first boot by direct kernel boot)`,
    howto: [
      { id: "install-netbsd", deviation: osDeviation(r) },
      { id: "install-netbsd-51", deviation: osDeviation(r) },
    ],
    async run(state) {
      const box = await ensureDebianBox(state.ctx, r);
      state.ctx.reporter.info(
        `box ${box.dir}: kernel ${box.meta.kernelVersion}, Xen ${box.meta.xenVersion} in the local repository`,
      );
      await bootMachine(state, "direct-kernel");
      const { shell } = live(state);
      const version = (await shell.run("cat /etc/debian_version")).trim();
      if (!version.startsWith(`${r.major}.`))
        throw new HarnessError(`expected Debian ${r.major} (${r.suite}), the guest says ${version}`);
    },
  };
}

const bootLoader: Step<HowtoState> = {
  name: "boot-loader",
  title: "Install the boot loader (GRUB) to the disk and boot from the disk",
  howto: [
    {
      id: "grub-root-partition",
      notExercised:
        "GRUB 2 reads the ext4 root of a Linux dom0: the limits of GRUB legacy on an FFS root do not apply",
    },
  ],
  async run(state) {
    const { shell } = live(state);
    await shell.run("grub-install /dev/vda 2>&1 && update-grub 2>&1", { timeoutMs: 300_000 });
    await bootMachine(state, "disk", { powerdownFirst: true });
    const cmdline = await live(state).shell.run("cat /proc/cmdline");
    if (!/BOOT_IMAGE=/.test(cmdline))
      throw new HarnessError(`the guest did not boot through GRUB: /proc/cmdline is ${cmdline}`);
  },
};

/** `name=version` of each installed package, as the run records its Xen. */
export function dpkgVersionsCommand(packages: readonly string[]): string {
  return `dpkg-query -W -f='\${Package}=\${Version}\\n' ${packages.join(" ")}`;
}

/** Parses dpkgVersionsCommand's output: one `name=version` per asked package, in the asked order. */
export function parseDpkgVersions(packages: readonly string[], output: string): string[] {
  const got = new Map(
    output
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => /^[^=\s]+=\S+$/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l] as const),
  );
  return packages.map((p) => {
    const v = got.get(p);
    if (!v) throw new HarnessError(`dpkg-query did not report ${p} as installed:\n${output}`);
    return v;
  });
}

function installXen(r: DebianRelease): Step<HowtoState> {
  return {
    name: "install-xen",
    title:
      "Install Xen from the packages the harness fetched and serves (analogue of pkg_add xenkernel42 xentools42)",
    howto: [
      { id: "install-xen-packages", deviation: xenDeviation(r) },
      { id: "xenkernel42-recommended", deviation: xenDeviation(r) },
    ],
    async run(state) {
      const { shell } = live(state);
      const box = await ensureDebianBox(state.ctx, r);
      state.ctx.server.mount("/xen-repo", box.xenRepo);
      const source = `deb [trusted=yes] ${state.ctx.server.guestUrl}/xen-repo ./`;
      const only =
        "-o Dir::Etc::SourceList=/etc/apt/sources.list.d/nbxen-xen.list -o Dir::Etc::SourceParts=-";
      // The box's initrd already carries the Xen block and network frontends the domUs need (built with
      // MODULES=most); regenerating it under TCG takes over ten minutes, so package triggers must not.
      await shell.run(
        "sed -i 's/^update_initramfs=.*/update_initramfs=no/' /etc/initramfs-tools/update-initramfs.conf",
      );
      await shell.run(`echo '${source}' > /etc/apt/sources.list.d/nbxen-xen.list`);
      await shell.run(`apt-get ${only} update 2>&1`, { timeoutMs: 300_000 });
      // Two postinsts run update-grub (about 30 s each under TCG); boot-xen runs it once with the Xen
      // settings anyway. Diverted for the install and put back in the same command, whatever apt does.
      const divert =
        "dpkg-divert --local --rename --add /usr/sbin/update-grub >/dev/null && ln -s /bin/true /usr/sbin/update-grub";
      const restore =
        "rm -f /usr/sbin/update-grub; dpkg-divert --local --rename --remove /usr/sbin/update-grub >/dev/null";
      await shell.run(
        `${divert}; DEBIAN_FRONTEND=noninteractive apt-get ${only} install -y --no-install-recommends ${DEBIAN_XEN_REQUEST.join(" ")} 2>&1; rc=$?; ${restore}; (exit $rc)`,
        { timeoutMs: 1_800_000, progress: [/Unpacking|Setting up|Processing/] },
      );
      await shell.run("test -x /usr/sbin/update-grub && ! test -L /usr/sbin/update-grub");
      const pkgs = debianXenPackages(r);
      state.ctx.xenPackages = parseDpkgVersions(pkgs, await shell.run(dpkgVersionsCommand(pkgs)));
      state.ctx.reporter.info(`xen packages: ${state.ctx.xenPackages.join(" ")}`);
    },
  };
}

function bootXen(r: DebianRelease): Step<HowtoState> {
  return {
    name: "boot-xen",
    title: "Boot Xen with the dom0 kernel by default; Xen's console on com1, the dom0's on hvc0",
    howto: [
      {
        id: "bootcfg-xen-menu",
        deviation: `GRUB's Xen entry instead of /boot.cfg, dom0_mem from the configuration; console over serial (com1 for Xen, hvc0 for the dom0) instead of console=pc, so the console can be read; bootscrub=false and clocksource=acpi for QEMU under TCG; the dom0 kernel on Xen's clock (${LINUX_PV_CLOCK})`,
      },
      {
        id: "makedev-xen",
        notExercised: "a Linux dom0 has no MAKEDEV: its kernel and udev make the Xen devices",
      },
    ],
    async run(state) {
      const { shell } = live(state);
      const mem = state.ctx.config.dom0MemoryMiB;
      const cfg = [
        "# nbxen: the HOWTO's boot entry, serial variant: Xen on com1, the dom0 on hvc0",
        "XEN_OVERRIDE_GRUB_DEFAULT=1",
        // Nobody reads GRUB's menu on a serial line the harness drives.
        "GRUB_TIMEOUT=0",
        `GRUB_CMDLINE_XEN_DEFAULT="${xenCmdline(mem)}"`,
        'GRUB_CMDLINE_LINUX_XEN_REPLACE_DEFAULT=""',
        `GRUB_CMDLINE_LINUX_XEN_REPLACE="${DOM0_LINUX_CMDLINE}"`,
        "",
      ].join("\n");
      await shell.run(`cat > /etc/default/grub.d/zz-nbxen-xen.cfg <<'NBXEN_EOF'\n${cfg}NBXEN_EOF`);
      await shell.run("update-grub 2>&1", { timeoutMs: 300_000 });
      const grub = await shell.run("grep -E '^\\s*(set default|menuentry)' /boot/grub/grub.cfg");
      if (!xenGrubDefault(r).test(grub))
        throw new HarnessError(`update-grub did not make Xen the default entry:\n${grub}`);
      const [banner] = await rebootAndLogin(state, [XEN_BANNER]);
      state.ctx.reporter.info(`Xen booted: version ${banner?.[1]}`);
      const dom0 = await live(state).shell.run(
        "cat /proc/xen/capabilities 2>/dev/null || true; test -d /proc/xen && echo is-xen",
      );
      if (!/control_d/.test(dom0))
        throw new HarnessError(
          `after the reboot the guest is not a Xen dom0: /proc/xen/capabilities says ${dom0}`,
        );
    },
  };
}

const configureXen: Step<HowtoState> = {
  name: "configure-xen",
  title: "Xen services running; xl info and xl list answer",
  howto: [
    {
      id: "rcd-scripts",
      notExercised:
        "Debian's packages install and enable their systemd units: there are no rc.d scripts to copy",
    },
    {
      id: "rcconf-xencommons",
      deviation:
        "Debian starts the Xen daemons with its xen.service (xencommons) instead of rc.conf xencommons=YES",
    },
    "xl-list",
  ],
  async run(state) {
    const { shell } = live(state);
    await shell.run("systemctl enable xen.service xendomains.service 2>&1 || true");
    await shell.run(
      "i=0; while [ $i -lt 60 ]; do systemctl is-active --quiet xen.service && break; sleep 2; i=$((i+1)); done; systemctl is-active xen.service",
      { timeoutMs: 180_000 },
    );
    await shell.run("xl info | grep -E '^xen_(major|minor|version)'");
    await shell.run("xl list | grep -E '^Domain-0 '");
  },
};

const network: Step<HowtoState> = {
  name: "network",
  title: "A bridge (bridge0) in the dom0 with the NIC on it, kept across reboots",
  howto: [
    {
      id: "bridge0-config",
      deviation:
        "Debian's /etc/network/interfaces bridge stanza instead of NetBSD's /etc/ifconfig.bridge0; same bridge name and membership",
    },
  ],
  async run(state) {
    const { shell } = live(state);
    const interfaces = [
      "# nbxen: the HOWTO's bridge0, with the NIC on it",
      "source /etc/network/interfaces.d/*",
      "auto lo",
      "iface lo inet loopback",
      "iface eth0 inet manual",
      "auto bridge0",
      "iface bridge0 inet dhcp",
      "    bridge_ports eth0",
      "    bridge_stp off",
      "    bridge_fd 0",
      "",
    ].join("\n");
    await shell.run(
      `ifdown eth0 2>&1 || true; cat > /etc/network/interfaces <<'NBXEN_EOF'\n${interfaces}NBXEN_EOF`,
    );
    await shell.run("ip addr flush dev eth0; ifup bridge0 2>&1", { timeoutMs: 120_000 });
    await shell.run("ip -4 addr show bridge0 | grep -q 'inet ' && bridge link show | grep -q eth0");
  },
};

function domUImage(name: string): string {
  return `/srv/xen/${name}.img`;
}

const domU: Step<HowtoState> = {
  name: "domu",
  title:
    "domU: a dd-made disk, a config in the HOWTO's shape, xl create; it boots, gets an address, answers ping, shuts down",
  howto: [
    "domu-disk-file",
    {
      id: "domu-config",
      deviation:
        "the domU boots the dom0's Linux kernel with a busybox root, from a config in the HOWTO's shape (kernel, memory, vif on bridge0, a file-backed disk)",
    },
    "xl-create",
    "xl-shutdown",
    "dom0-starts-domus",
  ],
  async run(state) {
    const { shell } = live(state);
    const d = state.ctx.config.domUs[0];
    if (!d) throw new HarnessError("the configuration has no domUs (domUs: [])");
    const image = domUImage(d.name);
    const kver = (await shell.run("uname -r")).trim();
    await shell.run(makeDomUDiskScript({ name: d.name, image, sizeMiB: d.diskMiB }), { timeoutMs: 300_000 });
    const cfg = domUConfigText({ name: d.name, memoryMiB: d.memoryMiB, image, bridge: "bridge0" }, kver);
    await shell.run(`cat > /etc/xen/${d.name}.cfg <<'NBXEN_EOF'\n${cfg}NBXEN_EOF`);
    const ip = await createAndWatch(state, d.name);
    // createAndWatch left the domU's console and took a new shell prompt: use the new shell from here on.
    await live(state).shell.run(`xl list ${d.name}`);
    await live(state).shell.run(`ping -c 3 -W 5 ${ip}`, { timeoutMs: 60_000 });
    await live(state).shell.run(`xl shutdown -w ${d.name} 2>&1`, { timeoutMs: 180_000 });
    // After the guest has shut down, xl's monitor process still has to destroy the domain.
    const after = await live(state).shell.exec(domainGoneCommand(d.name), { timeoutMs: 120_000 });
    if (after.exitCode !== 0)
      throw new HarnessError(`${d.name} still listed after xl shutdown -w:\n${after.output}`);
  },
};

/** `xl create -c`: watches the domU's console until it is up, leaves it with ^], returns its address. */
export async function createAndWatch(state: HowtoState, name: string): Promise<string> {
  const c = await createWithConsole(state, `/etc/xen/${name}.cfg`, DEBIAN_TYPING);
  const m = await c.console.expect(new RegExp(`${DOMU_READY} name=${name} disk=(\\S+) ip=(\\S+)`), {
    timeoutMs: 300_000,
    progress: [/\[\s*\d+\.\d+\]/],
    description: `domU ${name} boot on its console`,
  });
  await leaveDomUConsole(state, c, DEBIAN_TYPING);
  if (m.match[1] !== diskSignature(name))
    throw new HarnessError(
      `domU ${name} booted but read "${m.match[1]}" from its disk, not the signature the dom0 wrote`,
    );
  const ip = m.match[2] ?? "none";
  if (ip === "none") throw new HarnessError(`domU ${name} booted but got no address on the bridge`);
  return ip;
}

const autostart: Step<HowtoState> = {
  name: "autostart",
  title: "Starting domains automatically: after a dom0 reboot the domU runs again",
  howto: [
    {
      id: "xendomains",
      deviation: 'Debian\'s xendomains reads /etc/xen/auto/ instead of rc.conf xendomains="..."',
    },
  ],
  async run(state) {
    const { shell } = live(state);
    const names = autostartDomUNames(state);
    if (names.length === 0) return;
    await shell.run(
      `mkdir -p /etc/xen/auto && ${names.map((n) => `ln -sf /etc/xen/${n}.cfg /etc/xen/auto/${n}.cfg`).join(" && ")}`,
    );
    await shell.run("systemctl enable xendomains.service 2>&1");
    await rebootAndLogin(state, [XEN_BANNER]);
    for (const n of names) await live(state).shell.run(domainListedCommand(n), { timeoutMs: 240_000 });
    await live(state).shell.run("ip -4 addr show bridge0 | grep -q 'inet '");
  },
};

/** Config of the HVM-container domU: the domU's kernel and disk as a PVH guest (no device model needed). */
export const HVM_DOMU = "hvm1";
const HVM_REFUSED = /neither hap nor shadow|not supported|no hvm|HVM .*not available/i;

/** Tries `xl create` of the PVH domU: undefined when it runs, else Xen's reason for refusing it. */
export async function tryHvmDomU(state: HowtoState): Promise<string | undefined> {
  const { shell } = live(state);
  const d = state.ctx.config.domUs[0];
  if (!d) throw new HarnessError("the configuration has no domUs (domUs: [])");
  const image = domUImage(d.name);
  await shell.run(
    `cp ${image} /srv/xen/${HVM_DOMU}.img && sed -e 's|${image}|/srv/xen/${HVM_DOMU}.img|' -e 's/^name = .*/name = "${HVM_DOMU}"/' -e '/^vif/d' /etc/xen/${d.name}.cfg > /etc/xen/${HVM_DOMU}.cfg && echo 'type = "pvh"' >> /etc/xen/${HVM_DOMU}.cfg`,
  );
  const r = await shell.exec(`xl create /etc/xen/${HVM_DOMU}.cfg 2>&1`, { timeoutMs: 300_000 });
  if (r.exitCode !== 0) {
    if (HVM_REFUSED.test(r.output))
      return r.output
        .split("\n")
        .find((l) => HVM_REFUSED.test(l))
        ?.trim();
    throw new HarnessError(`xl create of the HVM-container domU failed:\n${r.output}`);
  }
  await shell.run(`xl list ${HVM_DOMU} && xl destroy ${HVM_DOMU}`);
  return undefined;
}

const hvm: Step<HowtoState> = {
  name: "hvm-domu",
  title: "HVM domU, when the guest CPU offers VMX or SVM",
  howto: ["hvm-cpu"],
  snapshot: false,
  async run(state) {
    const caps = await live(state).shell.run("xl info | sed -n 's/^virt_caps *: *//p'");
    if (!/\bhvm\b/.test(caps)) {
      state.checks.push({
        id: "hvm-cpu",
        status: "not-exercised",
        note: `Xen reports virt_caps "${caps.trim()}": the guest CPU offers no VMX/SVM (${state.ctx.accel.hvmReason})`,
      });
      return;
    }
    const refused = await tryHvmDomU(state);
    state.checks.push(
      refused
        ? {
            id: "hvm-cpu",
            status: "not-exercised",
            note: `the CPU offers SVM/VMX but Xen cannot build an HVM guest here: ${refused}`,
          }
        : {
            id: "hvm-cpu",
            status: "deviation",
            note: "an HVM-container (PVH) domU booted; no fully emulated HVM guest (the reference box installs no qemu-system-xen device model)",
          },
    );
  },
};

export function debianSteps(release: DebianRelease): Step<HowtoState>[] {
  return [
    installOs(release),
    bootLoader,
    installXen(release),
    bootXen(release),
    configureXen,
    network,
    domU,
    autostart,
    hvm,
  ];
}

/**
 * The dom0 kernel's command line under Xen (GRUB_CMDLINE_LINUX_XEN_REPLACE): its console on hvc0, the
 * Xen clock (LINUX_PV_CLOCK), and systemd's unit status on the console, so that a boot that waits
 * shows what it waits for on the console and in the transcript.
 */
export const DOM0_LINUX_CMDLINE = `console=hvc0 earlyprintk=xen net.ifnames=0 ${LINUX_PV_CLOCK} systemd.show_status=true`;

/**
 * Xen's command line on a Debian box (GRUB_CMDLINE_XEN_DEFAULT): the dom0's memory, serial console on
 * com1. bootscrub=false: Xen would otherwise scrub all free RAM at boot, seconds under TCG.
 * clocksource=acpi: after a snapshot is restored, Xen's clock on QEMU's HPET all but stops.
 */
export function xenCmdline(dom0MemoryMiB: number): string {
  const m = dom0MemoryMiB;
  return `dom0_mem=${m}M,max:${m}M dom0_max_vcpus=1 console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all bootscrub=false clocksource=acpi`;
}
