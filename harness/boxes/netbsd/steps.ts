import type { NetbsdRelease } from "../../../images/catalog/netbsd.ts";
import { pkgPath, releaseCacheName } from "../../../images/catalog/netbsd.ts";
import { ExpectTimeoutError } from "../../console/console.ts";
import { bootMachine } from "../../steps/boot.ts";
import type { Step } from "../../steps/step.ts";
import { HarnessError } from "../../../lib/errors.ts";
import type { HowtoState } from "../box.ts";
import { loginAsRoot } from "../login.ts";
import { DomUNoAddressError, domainGoneCommand, domainListedCommand } from "../xl-commands.ts";
import {
  autostartDomUNames,
  createWithConsole as createDomUConsole,
  leaveDomUConsole,
  live,
  XEN_BANNER,
  type DomUConsole,
} from "../dom0.ts";
import { assertXenDefault, withXenDefault } from "./bootcfg.ts";
import { cacheServerUrl, dom0XenEntry, rebootInto, runCommands, SERIAL_BAUD } from "./dom0-run.ts";
import { bootFromMenu } from "./bootloader.ts";
import {
  bridgeConfig,
  bridgeUpNow,
  copyXenKernels,
  domUConfigPath,
  enableXencommons,
  fetchDomUKernels,
  installBootCfg,
  installXenPackages,
  makeDomUDisk,
  makedevXen,
  startXencommons,
  writeDomUConfig,
  xendomainsRcConf,
  xenPackagesHowto,
  type GuestCommand,
} from "./dom0-commands.ts";
import {
  fetchRelease,
  fetchXenPackages,
  NETBSD_ROOT_PASSWORD,
  NETBSD_TYPING,
  serveLocalPair,
} from "./box-files.ts";
import { describeLocalPair } from "../../../images/catalog/netbsd-local-packages.ts";
import { runSysinst, type SysinstAnswers } from "./sysinst.ts";
import type { SetsSource } from "./sysinst/types.ts";
import { netbsdDiskName } from "./sysinst/disk-name.ts";

/** How the harness answers sysinst, for the dom0 (from the CDs) and for a domU (sets over HTTP). */
function sysinstAnswers(rel: NetbsdRelease, targetDisk: string, source?: SetsSource): SysinstAnswers {
  return {
    flavor: rel.sysinstFlavor,
    version: rel.version,
    targetDisk,
    terminalType: "vt100",
    rootPassword: NETBSD_ROOT_PASSWORD,
    sets: rel.sysinstDistribution === "minimal" ? "minimal" : "custom",
    serialBaud: SERIAL_BAUD,
    network: "dhcp",
    sshd: true,
    ...(source ? { source } : {}),
  };
}

export function netbsdSteps(rel: NetbsdRelease): Step<HowtoState>[] {
  const installOs: Step<HowtoState> = {
    name: "install-os",
    title: `Install NetBSD ${rel.version} with sysinst over the serial console`,
    howto: ["install-netbsd", "install-netbsd-51"],
    async run(state) {
      await fetchRelease(state.ctx.store, rel, (l) => state.ctx.reporter.info(l));
      const machine = await bootMachine(state, "install-media", { login: false });
      // The disk the box attaches (its spec in disk mode creates nothing), by its NetBSD name.
      const targetDisk = netbsdDiskName((await state.box.machineOptions(state, "disk")).disks);
      await bootFromMenu(machine.console, {
        timeoutMs: 300_000,
        keyDelayMs: NETBSD_TYPING.keyDelayMs,
        log: (l) => state.ctx.reporter.debug(l),
      });
      await runSysinst(machine.console, sysinstAnswers(rel, targetDisk), {
        log: (l) => state.ctx.reporter.info(`sysinst: ${l}`),
        keyDelayMs: 20,
      });
      // sysinst reboots; the CD would boot again, so the machine restarts from its disk without the CDs.
      // A timeout is fine (the restart below boots the disk anyway); a closed console is not.
      await machine.console
        .expect([/Press return to boot now|Choose an option|Option \d will be chosen|booting/], {
          timeoutMs: 300_000,
        })
        .catch((error: unknown) => {
          if (!(error instanceof ExpectTimeoutError)) throw error;
        });
      await bootMachine(state, "disk");
      await live(state).shell.run("uname -sr");
    },
  };

  const installXen: Step<HowtoState> = {
    name: "install-xen",
    title: `pkg_add ${rel.xen.kernelPkg} ${rel.xen.toolsPkg} from the harness's local package server`,
    howto: ["install-xen-packages", xenPackagesHowto(rel)],
    async run(state) {
      const local = state.ctx.localXen;
      const pkgs = await fetchXenPackages(
        state.ctx.store,
        rel,
        state.ctx.config.pkgsrcBranch,
        (l) => state.ctx.reporter.info(l),
        local,
      );
      state.ctx.xenPackages = pkgs.xenPackages;
      state.ctx.reporter.info(`xen packages: ${pkgs.xenPackages.join(" ")}`);
      const url = cacheServerUrl(state);
      const mirror = pkgPath(rel, { serverUrl: url, pkgsrcBranch: pkgs.pkgsrcBranch });
      const commands = local
        ? installXenPackages(rel, mirror, {
            files: await serveLocalPair(state.ctx, local),
            deviation: `the locally built ${describeLocalPair(local)} (xenPackageFiles / --xen-package) instead of the HOWTO's xenkernel42/xentools42 from the mirror; their dependencies from the mirror`,
          })
        : installXenPackages(rel, mirror);
      await runCommands(state, commands, 1_800_000);
    },
  };

  const bootXen: Step<HowtoState> = {
    name: "boot-xen",
    title:
      "xen.gz and netbsd-XEN3_DOM0.gz in /, the Xen entry in /boot.cfg as the default, MAKEDEV xen, reboot into Xen",
    howto: [
      {
        id: "bootcfg-xen-menu",
        deviation:
          "the serial variant: the dom0 on console=com0 and Xen on console=com1 instead of console=pc (VGA), so the harness can read the console",
      },
      "makedev-xen",
      "rcd-scripts",
      "rcconf-xencommons",
    ],
    async run(state) {
      const url = cacheServerUrl(state);
      await runCommands(state, copyXenKernels(rel, { serverUrl: url }));
      const entry = dom0XenEntry(state);
      const current = await live(state).shell.run("cat /boot.cfg 2>/dev/null || true");
      const next = withXenDefault(current, entry);
      assertXenDefault(next, entry);
      await runCommands(state, installBootCfg(next, entry));
      assertXenDefault(await live(state).shell.run("cat /boot.cfg"), entry);
      await runCommands(state, makedevXen());
      await runCommands(state, enableXencommons(rel));
      await rebootInto(state, [XEN_BANNER]);
      await live(state).shell.run("test -e /kern/xen/privcmd");
    },
  };

  const configureXen: Step<HowtoState> = {
    name: "configure-xen",
    title: "xencommons running; xl info; xl list shows Domain-0",
    howto: ["xl-list"],
    async run(state) {
      const running = await live(state).shell.exec("/etc/rc.d/xencommons status");
      if (running.exitCode !== 0) await runCommands(state, startXencommons());
      await live(state).shell.run("xl info && xl list");
    },
  };

  const network: Step<HowtoState> = {
    name: "network",
    title: "bridge0 with wm0 on it (/etc/ifconfig.bridge0)",
    howto: ["bridge0-config"],
    async run(state) {
      await runCommands(state, [...bridgeConfig("wm0"), ...bridgeUpNow("wm0")]);
    },
  };

  const domU: Step<HowtoState> = {
    name: "domu",
    title:
      "domU: a dd-made disk, INSTALL_XEN3_DOMU and sysinst through xl console (sets over HTTP), then XEN3_DOMU to a login and a ping",
    // dom0-starts-domus: the domU booted to a system with an address (installed, on the bridge).
    howto: ["domu-disk-file", "domu-config", "xl-create", "xl-shutdown", "dom0-starts-domus"],
    async run(state) {
      const d = state.ctx.config.domUs[0];
      if (!d) throw new HarnessError("the configuration has no domUs (domUs: [])");
      const disk = `/home/xen/${d.name}.img`;
      const diskMiB = state.box.facts.domUDiskMiB(d.diskMiB);
      if (diskMiB !== d.diskMiB)
        state.ctx.reporter.info(
          `domU ${d.name}: disk of ${diskMiB} MiB, not the configured ${d.diskMiB} (a NetBSD domU's minimal installation needs it)`,
        );
      const config = (kernel: "INSTALL_XEN3_DOMU" | "XEN3_DOMU") =>
        writeDomUConfig({ name: d.name, memoryMiB: d.memoryMiB, kernel, disk });
      const url = cacheServerUrl(state);
      await runCommands(state, fetchDomUKernels(rel, { serverUrl: url }));
      await runCommands(state, makeDomUDisk(disk, diskMiB));
      await runCommands(state, config("INSTALL_XEN3_DOMU"));
      await installNetbsdDomU(state, rel, d.name, url);
      await runCommands(state, config("XEN3_DOMU"));
      const ip = await startNetbsdDomU(state, rel, d.name);
      await live(state).shell.run(state.box.facts.pingCommand(ip), { timeoutMs: 60_000 });
      // The HOWTO's xl shutdown: the installed domU shuts down and leaves xl list.
      await live(state).shell.run(`xl shutdown -w ${d.name}`, { timeoutMs: 300_000 });
      await live(state).shell.run(domainGoneCommand(d.name), { timeoutMs: 120_000 });
    },
  };

  const autostart: Step<HowtoState> = {
    name: "autostart",
    title: "xendomains: the domU starts at dom0 boot",
    howto: ["xendomains"],
    async run(state) {
      const names = autostartDomUNames(state);
      if (names.length === 0) return;
      await runCommands(state, xendomainsRcConf(names));
      await rebootInto(state, [XEN_BANNER]);
      for (const n of names) await live(state).shell.run(domainListedCommand(n), { timeoutMs: 300_000 });
    },
  };

  const hvm: Step<HowtoState> = {
    name: "hvm-domu",
    title: "HVM domU, when the guest CPU offers VMX or SVM",
    howto: [{ id: "hvm-cpu", notExercised: "no HVM guest image in the NetBSD boxes yet" }],
    snapshot: false,
    async run(state) {
      state.checks.push({
        id: "hvm-cpu",
        status: "not-exercised",
        note: state.ctx.accel.hvmCapable
          ? "no HVM guest image in the NetBSD boxes yet"
          : state.ctx.accel.hvmReason,
      });
    },
  };

  return [installOs, installXen, bootXen, configureXen, network, domU, autostart, hvm];
}

/**
 * The domU's kernel as its console shows it: `NetBSD 10.1 (INSTALL_XEN3_DOMU) #0: ...` (the version
 * banner of sys/kern/init_main.c / kern_version).
 */
const DOMU_KERNEL = /NetBSD (\S+) \((\S*XEN3_DOMU)\) #\d+/;
/** distrib/amd64's install.sh on a serial console (the install ramdisk asks it too). */
const TERMINAL_QUESTION = /Terminal type[^\n]*: *$/;
/** The domU's `ifconfig xennet0`: "inet 10.0.2.16/24 ..." (7.x on) or "inet 10.0.2.16 netmask ..." (6.x). */
const DOMU_INET = /\binet (\d+\.\d+\.\d+\.\d+)[/ ]/;

/** `xl create -c` the domU; its kernel's banner on the console tells which kernel it runs. */
async function createWithConsole(
  state: HowtoState,
  rel: NetbsdRelease,
  name: string,
): Promise<{ ident: string; c: DomUConsole }> {
  const c = await createDomUConsole(state, domUConfigPath(name), NETBSD_TYPING);
  const kernel = await c.console.expect(DOMU_KERNEL, {
    timeoutMs: 600_000,
    description: `domU ${name} (${rel.box}): its kernel's banner on xl console`,
  });
  return { ident: kernel.match[2]!, c };
}

/**
 * The HOWTO's domU installation: `xl create -c` with INSTALL_XEN3_DOMU, sysinst on the domU's console
 * with its disk xbd0 and the sets over HTTP from the harness's server (through bridge0), then, once
 * sysinst reboots the domU into its installer again, ^] and `xl destroy`.
 */
export async function installNetbsdDomU(
  state: HowtoState,
  rel: NetbsdRelease,
  name: string,
  serverUrl: string,
): Promise<void> {
  const { ident, c } = await createWithConsole(state, rel, name);
  if (ident !== "INSTALL_XEN3_DOMU")
    throw new HarnessError(
      `domU ${name} booted ${ident}, not INSTALL_XEN3_DOMU: its config names the wrong kernel`,
    );
  const server = new URL(serverUrl);
  const sets = releaseCacheName(rel, "binary/sets");
  const slash = sets.indexOf("/");
  const source = {
    kind: "http",
    host: server.host,
    dir: sets.slice(0, slash),
    setDir: sets.slice(slash),
  } as const;
  await runSysinst(c.console, sysinstAnswers(rel, "xbd0", source), {
    log: (l) => state.ctx.reporter.info(`domU ${name} sysinst: ${l}`),
    keyDelayMs: 20,
  });
  // "Reboot the computer": Xen restarts the domain with the same (installer) kernel.
  await c.console.expect(TERMINAL_QUESTION, {
    timeoutMs: 600_000,
    description: `domU ${name}: its installer again after sysinst's reboot`,
  });
  await leaveDomUConsole(state, c, NETBSD_TYPING);
  await live(state).shell.run(`xl destroy ${name}`, { timeoutMs: 120_000 });
  await live(state).shell.run(domainGoneCommand(name), { timeoutMs: 120_000 });
}

/**
 * `xl create -c` the installed domU (its config names XEN3_DOMU), log in on its console, read its
 * address on the bridge (`ifconfig xennet0`), leave with ^] and return the address.
 */
export async function startNetbsdDomU(state: HowtoState, rel: NetbsdRelease, name: string): Promise<string> {
  const { ident, c } = await createWithConsole(state, rel, name);
  if (ident === "INSTALL_XEN3_DOMU") {
    await c.console.expect(TERMINAL_QUESTION, {
      timeoutMs: 600_000,
      description: `domU ${name}: its installer`,
    });
    await leaveDomUConsole(state, c, NETBSD_TYPING);
    throw new DomUNoAddressError(
      `domU ${name} runs INSTALL_XEN3_DOMU and waits at its installer's terminal question: its config does not boot the installed system`,
    );
  }
  const domUShell = await loginAsRoot(c.console, {
    password: NETBSD_ROOT_PASSWORD,
    timeoutMs: 900_000,
    typing: NETBSD_TYPING,
  });
  // dhcpcd may still be waiting for its lease when the login prompt shows.
  const r = await domUShell.exec(
    "i=0; while [ $i -lt 60 ]; do ifconfig xennet0 | grep -q 'inet ' && break; sleep 1; i=$((i+1)); done; ifconfig xennet0",
    { timeoutMs: 120_000 },
  );
  const ip = DOMU_INET.exec(r.output)?.[1];
  await leaveDomUConsole(state, c, NETBSD_TYPING);
  if (!ip)
    throw new DomUNoAddressError(`domU ${name} has no IPv4 address on xennet0:\n${r.output.slice(-1000)}`);
  state.ctx.reporter.info(`domU ${name}: ${ident}, xennet0 ${ip}`);
  return ip;
}
