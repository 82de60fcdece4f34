import { copyFile, link, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { setFileName, sysinstSelectedSetFiles, type NetbsdRelease } from "../../../images/catalog/netbsd.ts";
import { buildSetsIso } from "../../../images/media/sets-iso.ts";
import type { Machine, MachineOptions } from "../../machine/machine.ts";
import { createDisk, exists } from "../../machine/disk.ts";
import type { Box, BoxContext, BoxFacts, BootMode, HowtoState } from "../box.ts";
import { loginAsRoot } from "../login.ts";
import { fetchRelease, fetchXenPackages, NETBSD_ROOT_PASSWORD, NETBSD_TYPING } from "./box-files.ts";
import { netbsdSteps, startNetbsdDomU } from "./steps.ts";
import { updateXenStep } from "./update-xen.ts";

/**
 * The smallest domU disk the harness gives a NetBSD domU: sysinst's minimal installation (kernel,
 * modules, base, etc; gpufw on 10.x) and its default swap fit with room to spare.
 */
export const NETBSD_DOMU_MIN_DISK_MIB = 1024;

export function netbsdFacts(rel: NetbsdRelease): BoxFacts {
  return {
    os: "netbsd",
    xenConfigDir: "/usr/pkg/etc/xen",
    bridge: "bridge0",
    expectedXenVersion: rel.xen.xenVersion,
    packageInstalledCommand: (name) => `pkg_info -qe ${name}`,
    xenPackages: [rel.xen.kernelPkg, rel.xen.toolsPkg],
    bootConfigCommand: "cat /boot.cfg",
    xenDefaultBootPattern: /^menu=Xen:[^\n]*multiboot \/xen\.gz[^\n]*$/m,
    xenServiceCommand: "/etc/rc.d/xencommons status",
    pingCommand: (host) => `ping -c 1 -w 3 ${host}`,
    xenKernelPath: "/xen.gz",
    packagedXenKernelPath: rel.xen.xenGzPath,
    runningUnderXenCommand: "uname -v; test -e /kern/xen/privcmd && echo privcmd",
    runningUnderXenPattern: /XEN3_DOM0[\s\S]*privcmd/,
    nic: "wm0",
    bridgeMembersCommand: "brconfig bridge0",
    fileSizeCommand: (file) => `stat -f %z ${file}`,
    domUConfigPath: (name) => `/usr/pkg/etc/xen/${name}`,
    domUDiskMiB: (configured) => Math.max(configured, NETBSD_DOMU_MIN_DISK_MIB),
    autostartConfigCommand: "grep '^xendomains=' /etc/rc.conf",
  };
}

/** The sets CD: an ISO with Rock Ridge whose root holds amd64/binary/sets/ (sysinst's CD-ROM medium). */
async function setsIso(ctx: BoxContext, rel: NetbsdRelease, files: Map<string, string>): Promise<string> {
  const out = path.join(ctx.machineDir, "media", "sets.iso");
  if (await exists(out)) return out;
  const staging = path.join(ctx.machineDir, "media", "sets");
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  for (const set of rel.sets) {
    const file = setFileName(rel, set);
    const src = [...files.entries()].find(([name]) => name.endsWith(`/binary/sets/${file}`))?.[1];
    if (!src) throw new Error(`set ${file} was not fetched`);
    await link(src, path.join(staging, file)).catch(() => copyFile(src, path.join(staging, file)));
  }
  await buildSetsIso({ setsDir: staging, arch: "amd64", out, requiredSets: sysinstSelectedSetFiles(rel) });
  await rm(staging, { recursive: true, force: true });
  return out;
}

export function netbsdBox(rel: NetbsdRelease): Box {
  const facts = netbsdFacts(rel);
  return {
    name: rel.box,
    description: `NetBSD ${rel.version} dom0 with ${rel.xen.kernelPkg}/${rel.xen.toolsPkg}, installed with sysinst`,
    facts,
    steps: () => netbsdSteps(rel),
    updateXenStep: (to, ctx) => updateXenStep(rel, to, ctx),
    diskPath: (machineDir) => path.join(machineDir, "disks", "disk.qcow2"),
    async fetch(ctx) {
      const log = (l: string) => ctx.reporter.info(l);
      const files = await fetchRelease(ctx.store, rel, log);
      const pkgs = await fetchXenPackages(ctx.store, rel, ctx.config.pkgsrcBranch, log);
      return [...files.values(), ...pkgs.files];
    },
    async resolveChosenXen(ctx) {
      if (!rel.xen.chosen) return undefined;
      const log = (l: string) => ctx.reporter.debug(l);
      return (await fetchXenPackages(ctx.store, rel, ctx.config.pkgsrcBranch, log, ctx.localXen)).xenPackages;
    },
    async machineOptions(state: HowtoState, mode: BootMode): Promise<MachineOptions> {
      const { ctx } = state;
      const disk = path.join(ctx.machineDir, "disks", "disk.qcow2");
      let cdroms: string[] = [];
      if (mode === "install-media") {
        const files = await fetchRelease(ctx.store, rel);
        const bootIso = [...files.entries()].find(([n]) =>
          n.endsWith("/installation/cdrom/boot-com.iso"),
        )?.[1];
        if (!bootIso) throw new Error("boot-com.iso was not fetched");
        cdroms = [bootIso, await setsIso(ctx, rel, files)];
        await rm(disk, { force: true });
        await mkdir(path.dirname(disk), { recursive: true });
        await createDisk(disk, ctx.config.diskGiB);
      }
      return {
        name: rel.box,
        stateDir: ctx.machineDir,
        qemuBinary: ctx.config.qemu.binary,
        accelerator: ctx.accel.accelerator,
        cpu: ctx.accel.cpu,
        memoryMiB: ctx.config.memoryMiB,
        cpus: ctx.config.cpus,
        // IDE disk and an e1000 NIC (wd0, wm0): drivers every release since 6.x has in GENERIC and XEN3_DOM0.
        disks: [{ file: disk, format: "qcow2", interface: "ide" }],
        cdroms,
        boot: mode === "install-media" ? "cdrom" : "disk",
        net: { model: "e1000" },
        rng: true,
        extraArgs: ctx.config.qemu.extraArgs,
      };
    },
    startDomU: (state, name) => startNetbsdDomU(state, rel, name),
    async login(machine: Machine, opts = {}) {
      return loginAsRoot(machine.console, {
        password: NETBSD_ROOT_PASSWORD,
        timeoutMs: opts.timeoutMs ?? 600_000,
        typing: NETBSD_TYPING,
      });
    },
  };
}
