/**
 * The shell commands the dom0 steps type into a NetBSD guest (sh on NetBSD 6, 9 and 10), each tied to
 * the HOWTO line it carries out. Pure: nothing here talks to a guest. Files are written with a
 * here-document whose delimiter is quoted, so the shell expands nothing inside it.
 *
 * `root` options prefix every path in the guest's file system that a command reads or writes ("" in
 * the guest); tests point it at a temporary directory and run the same text with a real /bin/sh.
 */
import { dirname } from "node:path";
import type { HowtoLineId } from "../../howto/lines.ts";
import type { HowtoRef } from "../../howto/refs.ts";
import { UsageError } from "../../../lib/errors.ts";
import { kernelUrl, type NetbsdRelease, type XenKernel } from "../../../images/catalog/netbsd.ts";
import { deviationFromHowto, xenMenuLine, type XenEntry } from "./bootcfg.ts";
import { rcVarShellEdit, shQuote } from "./rcconf.ts";

export interface GuestCommand {
  /** Exactly what is typed at the prompt (a here-document spans several lines). */
  sh: string;
  /** The HOWTO line this command carries out (harness/howto/lines.ts); absent for plumbing (fetches, backups). */
  howto?: HowtoLineId;
  /** What the command does differently from the HOWTO's literal text, and why. */
  deviation?: string;
  /** A check: the step fails unless it exits 0. */
  check?: boolean;
}

export interface RootOption {
  /** Prefix for every guest path a command touches (default "": the guest's own root). */
  root?: string;
}

const DELIMITER = "NBXEN_EOF";

/**
 * `cat > PATH <<'NBXEN_EOF'` ... : writes `content` byte for byte (a missing final newline is added,
 * as a here-document always ends with one). The delimiter gets a suffix if a line already equals it.
 */
export function writeFileCommand(path: string, content: string): string {
  const body = content.endsWith("\n") ? content : `${content}\n`;
  const bodyLines = new Set(body.split("\n"));
  let delim = DELIMITER;
  for (let i = 1; bodyLines.has(delim); i++) delim = `${DELIMITER}_${i}`;
  return `cat > ${shQuote(path)} <<'${delim}'\n${body}${delim}`;
}

// ---------------------------------------------------------------------------------------------
// Xen packages and kernels

/** How the release's Xen packages differ from the HOWTO's xenkernel42/xentools42; undefined when they do not. */
export function xenPackagesDeviation(rel: NetbsdRelease): string | undefined {
  const { kernelPkg, toolsPkg, chosen } = rel.xen;
  if (kernelPkg === "xenkernel42") return undefined;
  if (chosen)
    return `${kernelPkg}/${toolsPkg} instead of the HOWTO's xenkernel42/xentools42: chosen with xenPackage (or --xen)`;
  return (
    `${kernelPkg}/${toolsPkg} instead of the HOWTO's xenkernel42/xentools42: the ${rel.box} box tests the ` +
    `Xen that pkgsrc builds for NetBSD ${rel.major} (the HOWTO's recommendation dates from NetBSD 6)`
  );
}

/** The install-xen step's declaration of the HOWTO's recommendation, with the release's deviation. */
export function xenPackagesHowto(rel: NetbsdRelease): HowtoRef {
  const deviation = xenPackagesDeviation(rel);
  return deviation === undefined ? "xenkernel42-recommended" : { id: "xenkernel42-recommended", deviation };
}

/**
 * pkg_add the release's Xen pair from PKG_PATH, by name; or, given `files` (URLs of a locally built
 * pair), those files, whose dependencies pkg_add looks for next to them and then in PKG_PATH.
 */
export function installXenPackages(
  rel: NetbsdRelease,
  pkgPathValue: string,
  opts: { files?: readonly string[]; howto?: HowtoLineId; deviation?: string } = {},
): GuestCommand[] {
  const { kernelPkg, toolsPkg } = rel.xen;
  const what = opts.files ? opts.files.map(shQuote).join(" ") : `${kernelPkg} ${toolsPkg}`;
  const install: GuestCommand = {
    sh: `PKG_PATH=${shQuote(pkgPathValue)} pkg_add -v ${what}`,
    howto: opts.howto ?? "xenkernel42-recommended",
  };
  const deviation = opts.howto ? opts.deviation : (opts.deviation ?? xenPackagesDeviation(rel));
  if (deviation !== undefined) install.deviation = deviation;
  return [install, { sh: `pkg_info -qe ${kernelPkg} && pkg_info -qe ${toolsPkg}`, check: true }];
}

/** The Xen packages installed, by PKGNAME, as /var/db/pkg names them (pkg_add registers each there). */
export const INSTALLED_XEN_PACKAGES_COMMAND = "ls /var/db/pkg | grep -E '^xen(kernel|tools)[0-9]+-' || true";

/**
 * Replace the installed Xen pair `from` (PKGNAMEs) by `to`'s: pkg_delete the old (its tools first),
 * pkg_add the new (`install`, from installXenPackages), then the new hypervisor in / where /boot.cfg's
 * Xen entry loads it, and the new pair's rc.d scripts (enableXencommons).
 */
export function updateXenCommands(
  from: readonly string[],
  install: GuestCommand[],
  to: NetbsdRelease,
  opts: RootOption = {},
): GuestCommand[] {
  const root = opts.root ?? "";
  const tools = from.filter((p) => p.startsWith("xentools"));
  const kernels = from.filter((p) => !p.startsWith("xentools"));
  return [
    { sh: `pkg_delete -v ${[...tools, ...kernels].join(" ")}`, howto: "updating-xen" },
    { sh: from.map((p) => `! pkg_info -qe ${p}`).join(" && "), check: true },
    ...install,
    { sh: `cp ${root}${to.xen.xenGzPath} ${root}/`, howto: "updating-xen" },
    { sh: `gzip -t ${root}/xen.gz`, check: true },
    ...enableXencommons(to, opts).map(({ howto: _howto, ...c }) => c),
  ];
}

/**
 * Put the hypervisor and the dom0 kernel in /. The dom0 kernel comes from the release's
 * binary/kernel directory, fetched with ftp(1), which takes http URLs on every NetBSD release.
 */
export function copyXenKernels(
  rel: NetbsdRelease,
  opts: { serverUrl?: string } & RootOption = {},
): GuestCommand[] {
  const root = opts.root ?? "";
  return [
    {
      sh: `cp ${root}${rel.xen.xenGzPath} ${root}/`,
      howto: "bootcfg-xen-menu",
    },
    fetchKernel(rel, "XEN3_DOM0", opts.serverUrl, `${root}/`, "bootcfg-xen-menu"),
    { sh: `gzip -t ${root}/xen.gz && gzip -t ${root}/netbsd-XEN3_DOM0.gz`, check: true },
  ];
}

/** The domU kernels, next to the dom0's in / (or `dir`), for the domU configs to name. */
export function fetchDomUKernels(
  rel: NetbsdRelease,
  opts: { serverUrl?: string; dir?: string } & RootOption = {},
): GuestCommand[] {
  const dir = `${opts.root ?? ""}${opts.dir ?? "/"}`.replace(/\/?$/, "/");
  const kernels: XenKernel[] = ["XEN3_DOMU", "INSTALL_XEN3_DOMU"];
  return [
    ...kernels.map((k) => fetchKernel(rel, k, opts.serverUrl, dir)),
    { sh: kernels.map((k) => `gzip -t ${dir}netbsd-${k}.gz`).join(" && "), check: true },
  ];
}

function fetchKernel(
  rel: NetbsdRelease,
  kernel: XenKernel,
  serverUrl: string | undefined,
  dir: string,
  howto?: HowtoLineId,
): GuestCommand {
  const cmd: GuestCommand = {
    sh: `ftp -V -o ${dir}netbsd-${kernel}.gz ${shQuote(kernelUrl(rel, kernel, serverUrl))}`,
  };
  if (howto !== undefined) cmd.howto = howto;
  return cmd;
}

// ---------------------------------------------------------------------------------------------
// boot.cfg

/**
 * Replace /boot.cfg with `newText` (made by withXenDefault), keeping the first original aside.
 * The step reads /boot.cfg, edits it in TypeScript, and types this.
 */
export function installBootCfg(newText: string, entry: XenEntry, opts: RootOption = {}): GuestCommand[] {
  const file = `${opts.root ?? ""}/boot.cfg`;
  const write: GuestCommand = {
    sh: writeFileCommand(file, newText),
    howto: "bootcfg-xen-menu",
  };
  const deviation = deviationFromHowto(entry);
  if (deviation !== undefined) write.deviation = deviation;
  return [
    {
      sh: `test -f ${shQuote(`${file}.nbxen-orig`)} || cp -p ${shQuote(file)} ${shQuote(`${file}.nbxen-orig`)}`,
    },
    write,
    { sh: `grep -qxF ${shQuote(xenMenuLine(entry))} ${shQuote(file)}`, check: true },
  ];
}

// ---------------------------------------------------------------------------------------------
// dom0 configuration

export function makedevXen(): GuestCommand[] {
  return [
    {
      sh: "cd /dev && sh MAKEDEV xen",
      howto: "makedev-xen",
    },
    // xenstored needs /dev/xsd_kva, the tools /dev/xenevt (etc/MAKEDEV.tmpl); /kern/xen/privcmd
    // exists only once the dom0 kernel runs, see dom0Checks().
    { sh: "test -c /dev/xenevt && test -c /dev/xsd_kva", check: true },
  ];
}

/** rc.d scripts to enable: xencommons (xl needs it), xendomains (auto-start). Never xend (xm only). */
function rcdScriptsToCopy(rel: NetbsdRelease): string[] {
  return rel.xen.rcdScripts.filter((s) => s === "xencommons" || s === "xendomains");
}

export function enableXencommons(rel: NetbsdRelease, opts: RootOption = {}): GuestCommand[] {
  const root = opts.root ?? "";
  const rcConf = `${root}/etc/rc.conf`;
  return [
    ...rcdScriptsToCopy(rel).map((s): GuestCommand => ({
      sh: `cp ${root}/usr/pkg/share/examples/rc.d/${s} ${root}/etc/rc.d/${s}`,
      howto: "rcd-scripts",
    })),
    { sh: rcVarShellEdit("xencommons", "YES", rcConf), howto: "rcconf-xencommons" },
    { sh: rcVarCheck("xencommons", "YES", rcConf), check: true },
  ];
}

/**
 * After booting Xen, when rc did not start the daemons: start them now and see the dom0. Plumbing: the
 * HOWTO's line is xencommons=YES (enableXencommons), which rc honours at the next boot.
 */
export function startXencommons(): GuestCommand[] {
  return [{ sh: "/etc/rc.d/xencommons start", check: true }, ...dom0Checks()];
}

/** What proves a working dom0: the privcmd node, a running xenstored, Domain-0 in `xl list`. */
export function dom0Checks(): GuestCommand[] {
  return [
    { sh: "test -e /kern/xen/privcmd", check: true },
    { sh: "pgrep -x xenstored >/dev/null", check: true },
    { sh: "xl list | grep -q '^Domain-0 '", check: true },
  ];
}

/** Start domains at boot: `xendomains="dom1 dom2"`, configs named after the domains in /usr/pkg/etc/xen/. */
export function xendomainsRcConf(names: string[], opts: RootOption = {}): GuestCommand[] {
  for (const n of names) checkDomainName(n);
  const rcConf = `${opts.root ?? ""}/etc/rc.conf`;
  const value = names.join(" ");
  return [
    {
      sh: rcVarShellEdit("xendomains", value, rcConf),
      howto: "xendomains",
    },
    { sh: rcVarCheck("xendomains", value, rcConf), check: true },
  ];
}

/** Source the file as rc.subr does and compare: the last assignment wins, as it will at boot. */
function rcVarCheck(name: string, value: string, file: string): string {
  return `( . ${shQuote(file)}; [ "$${name}" = ${shQuote(value)} ] )`;
}

// ---------------------------------------------------------------------------------------------
// Network

function checkNic(nic: string): void {
  if (!/^[a-z]+[0-9]+$/.test(nic))
    throw new UsageError(`not a NetBSD interface name: ${JSON.stringify(nic)}`);
}

/** /etc/ifconfig.bridge0, read by /etc/rc.d/network at boot (brconfig exists on 6, 9 and 10). */
export function bridgeConfig(nic: string, opts: { bridge?: string } & RootOption = {}): GuestCommand[] {
  checkNic(nic);
  const bridge = opts.bridge ?? "bridge0";
  checkNic(bridge);
  const file = `${opts.root ?? ""}/etc/ifconfig.${bridge}`;
  return [
    {
      sh: writeFileCommand(file, `create\nup\n!brconfig ${bridge} add ${nic}\n`),
      howto: "bridge0-config",
    },
    { sh: `grep -qxF ${shQuote(`!brconfig ${bridge} add ${nic}`)} ${shQuote(file)}`, check: true },
  ];
}

/** Bring the bridge up now, without a reboot; safe to repeat. */
export function bridgeUpNow(nic: string, bridge = "bridge0"): GuestCommand[] {
  checkNic(nic);
  checkNic(bridge);
  return [
    { sh: `ifconfig ${bridge} >/dev/null 2>&1 || ifconfig ${bridge} create` },
    { sh: `brconfig ${bridge} | grep -q '^[[:space:]]*${nic} flags=' || brconfig ${bridge} add ${nic}` },
    { sh: `ifconfig ${bridge} up` },
    { sh: `brconfig ${bridge} | grep -q '^[[:space:]]*${nic} flags='`, check: true },
  ];
}

// ---------------------------------------------------------------------------------------------
// domU

export interface DomUOptions {
  name: string;
  memoryMiB: number;
  /** XEN3_DOMU to run, INSTALL_XEN3_DOMU to install; or an absolute path to a kernel. */
  kernel: XenKernel | string;
  /** Directory holding the netbsd-*.gz kernels in the dom0 (default "/"). */
  kernelDir?: string;
  /** Disk image file in the dom0 (the domU's xbd0). */
  disk: string;
  /** Read-only second disk (xbd1), e.g. the sets ISO for sysinst. */
  cdrom?: string;
  bridge?: string;
  vcpus?: number;
}

function checkDomainName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name))
    throw new UsageError(`not a usable domain name: ${JSON.stringify(name)}`);
}

function checkPath(what: string, p: string): void {
  if (!p.startsWith("/") || /['\n,]/.test(p))
    throw new UsageError(`${what} must be an absolute path without quotes or commas: ${JSON.stringify(p)}`);
}

export function domUKernelPath(opts: Pick<DomUOptions, "kernel" | "kernelDir">): string {
  if (opts.kernel.startsWith("/")) return opts.kernel;
  const dir = (opts.kernelDir ?? "/").replace(/\/?$/, "/");
  return `${dir}netbsd-${opts.kernel}.gz`;
}

/** The xl domain config (the HOWTO's keys; `disk` in the `file:path,vdev,access` form). */
export function domUConfig(opts: DomUOptions): string {
  checkDomainName(opts.name);
  if (!Number.isInteger(opts.memoryMiB) || opts.memoryMiB <= 0)
    throw new UsageError(`domU memory must be a positive number of MiB`);
  const kernel = domUKernelPath(opts);
  checkPath("kernel", kernel);
  checkPath("disk", opts.disk);
  if (opts.cdrom !== undefined) checkPath("cdrom", opts.cdrom);
  const bridge = opts.bridge ?? "bridge0";
  checkNic(bridge);
  const disks = [
    `'file:${opts.disk},0x1,w'`,
    ...(opts.cdrom !== undefined ? [`'file:${opts.cdrom},0x2,r'`] : []),
  ];
  return [
    `name = "${opts.name}"`,
    `kernel = "${kernel}"`,
    `memory = ${opts.memoryMiB}`,
    ...(opts.vcpus !== undefined ? [`vcpus = ${opts.vcpus}`] : []),
    `vif = [ 'bridge=${bridge}' ]`,
    `disk = [ ${disks.join(", ")} ]`,
    "",
  ].join("\n");
}

/** Where xendomains looks for a domain's config: /usr/pkg/etc/xen/<name>. */
export function domUConfigPath(name: string, opts: RootOption = {}): string {
  checkDomainName(name);
  return `${opts.root ?? ""}/usr/pkg/etc/xen/${name}`;
}

export function writeDomUConfig(opts: DomUOptions, root: RootOption = {}): GuestCommand[] {
  const path = domUConfigPath(opts.name, root);
  return [
    {
      sh: writeFileCommand(path, domUConfig(opts)),
      howto: "domu-config",
    },
    { sh: `grep -qxF ${shQuote(`name = "${opts.name}"`)} ${shQuote(path)}`, check: true },
  ];
}

/** A file-backed disk; made once (re-running does not wipe an installed domU). */
export function makeDomUDisk(path: string, sizeMiB: number): GuestCommand[] {
  checkPath("disk", path);
  if (!Number.isInteger(sizeMiB) || sizeMiB <= 0)
    throw new UsageError(`disk size must be a positive number of MiB`);
  // bs in bytes: NetBSD's dd and GNU dd spell size suffixes differently.
  return [
    { sh: `mkdir -p ${shQuote(dirname(path))}` },
    {
      sh: `test -f ${shQuote(path)} || dd if=/dev/zero of=${shQuote(path)} bs=1048576 count=${sizeMiB}`,
      howto: "domu-disk-file",
    },
    { sh: `test -f ${shQuote(path)}`, check: true },
  ];
}
