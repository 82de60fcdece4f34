/**
 * The NetBSD boxes: which release, which sets, which kernels, which Xen packages, and where to fetch
 * them. Every fact this file relies on is in docs/netbsd.md with its source (NetBSD's sysinst for the
 * set selection and names, the mirrors' layout, pkgsrc for the package names and trees).
 */
import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import type { ArtifactAlternate, ArtifactSpec, CachedArtifact } from "../store/index.ts";
import { HarnessError, UsageError } from "../../lib/errors.ts";

/** The stable branch a release comes from; sysinst's set selection differs per branch. */
export type NetbsdBranch = "netbsd-6" | "netbsd-9" | "netbsd-10";

/**
 * The sets sysinst's "Minimal installation" selects: `MD_SETS_SELECTED_MINIMAL` is
 * `SET_KERNEL_1, SET_CORE` (util.c), amd64's SET_KERNEL_1 is kern-GENERIC (arch/amd64/md.h), and
 * SET_CORE is `modules, base, etc` up to netbsd-9 and `modules, base, gpufw, etc` from the 2022
 * sysinst that netbsd-10 carries (defs.h). docs/netbsd.md "Minimal selection" gives each source.
 * A selected set missing from the medium stops sysinst at "Release set X does not exist.".
 */
export const SYSINST_MINIMAL_SETS: Readonly<Record<NetbsdBranch, readonly string[]>> = {
  "netbsd-6": ["kern-GENERIC", "modules", "base", "etc"],
  "netbsd-9": ["kern-GENERIC", "modules", "base", "etc"],
  "netbsd-10": ["kern-GENERIC", "modules", "base", "gpufw", "etc"],
};

/**
 * Sets whose file is `.tgz` whatever the release's suffix: sysinst's `distinfo.force_tgz`, true only for
 * the source sets (usr.sbin/sysinst/util.c dist_list). None of them is installed by the harness.
 */
export const FORCE_TGZ_SETS: readonly string[] = ["syssrc", "src", "sharesrc", "gnusrc", "xsrc"];

/**
 * One NetBSD tree that may hold a file: its public URL and where the same tree sits under a `--mirror`
 * root laid out like a NetBSD host's `pub/` (`NetBSD/`, `NetBSD-archive/`, `pkgsrc/`, `pkgsrc-archive/`).
 */
export interface NetbsdTree {
  label: "cdn" | "archive";
  /** Ends with "/". */
  base: string;
  /** Ends with "/". */
  mirrorPrefix: string;
}

/**
 * A release sits on the CDN until its successor ships, then only on the archive host: try them in
 * this order (docs/netbsd.md "Mirrors and the archive").
 */
export const RELEASE_TREES: readonly NetbsdTree[] = [
  { label: "cdn", base: "https://cdn.netbsd.org/pub/NetBSD/", mirrorPrefix: "NetBSD/" },
  {
    label: "archive",
    base: "https://archive.netbsd.org/pub/NetBSD-archive/",
    mirrorPrefix: "NetBSD-archive/",
  },
];
/** Binary packages: quarterly trees on the CDN, older ones on the archive host. */
export const PKGSRC_TREES: readonly NetbsdTree[] = [
  { label: "cdn", base: "https://cdn.netbsd.org/pub/pkgsrc/packages/", mirrorPrefix: "pkgsrc/packages/" },
  {
    label: "archive",
    base: "https://archive.netbsd.org/pub/pkgsrc-archive/packages/",
    mirrorPrefix: "pkgsrc-archive/packages/",
  },
];

export interface NetbsdRelease {
  box: string;
  version: string;
  major: 6 | 9 | 10;
  branch: NetbsdBranch;
  /** Suffix of the set files: sysinst's SETS_TAR_SUFF, ".tar.xz" where the port builds with USE_XZ_SETS. */
  setSuffix: ".tgz" | ".tar.xz";
  /**
   * The sets the harness fetches and puts on the sets CD: what sysinst's `sysinstDistribution` selects
   * (SYSINST_MINIMAL_SETS). That is all a dom0 needs: the Xen kernels come from binary/kernel, the Xen
   * tools and their Python from pkgsrc.
   */
  sets: readonly string[];
  sysinstDistribution: "minimal";
  /** Where the release tree is looked for, in order. */
  trees: readonly NetbsdTree[];
  /** The Xen pair the box installs: the release's default, or the one `xenPackage` chose (withXenPackage). */
  xen: XenPair;
  pkgsrc: {
    trees: readonly NetbsdTree[];
    /** Directory under `NetBSD/` for this architecture: "amd64" (6.x era) or "x86_64" (uname -p). */
    cpu: "amd64" | "x86_64";
    /**
     * Quarterly branch used when the mirror's directory listing cannot be read and the caller names
     * none. Undefined for 6.1.5, whose packages sit in a per-release directory.
     */
    defaultBranch?: string;
    /** The newest quarterly branch that still has the Xen packages (xenkernel415 goes after 2025Q3). */
    lastBranch?: string;
  };
  sysinstFlavor: "netbsd6" | "netbsd9plus";
}

/** A xenkernelNNN/xentoolsNNN pair by PKGBASE, everything derived from NNN (xenPair). */
export interface XenPair {
  kernelPkg: string;
  toolsPkg: string;
  /** The Xen version `xl info` reports, as a prefix: "4.15" for xenkernel415. */
  xenVersion: string;
  /** Where the kernel package installs the hypervisor (sysutils/xenkernelNNN/PLIST). */
  xenGzPath: string;
  /** rc.d scripts the tools package ships in /usr/pkg/share/examples/rc.d (RCD_SCRIPTS). */
  rcdScripts: string[];
  /** true when `xenPackage` / `--xen` named the pair; false for the release's default. */
  chosen: boolean;
}

/** "xenkernel415" -> "415"; undefined for anything else. The one spelling `xenPackage` and `--xen` take. */
export function xenPairNumber(name: string): string | undefined {
  return /^xenkernel([0-9]{2,3})$/.exec(name)?.[1];
}

/**
 * The pair of sysutils/xenkernelNNN: its tools are xentoolsNNN, NNN is the Xen version without its dot
 * (4.2, 4.15), the hypervisor goes to ${PREFIX}/xenNNN-kernel/ (docs/netbsd.md "Package names"), and
 * xend ships only before Xen 4.5, which removed it.
 */
export function xenPair(nnn: string, chosen = false): XenPair {
  const major = Number(nnn[0]);
  const minor = Number(nnn.slice(1));
  return {
    kernelPkg: `xenkernel${nnn}`,
    toolsPkg: `xentools${nnn}`,
    xenVersion: `${major}.${minor}`,
    xenGzPath: `/usr/pkg/xen${nnn}-kernel/xen.gz`,
    rcdScripts:
      major < 4 || (major === 4 && minor < 5)
        ? ["xen-watchdog", "xencommons", "xend", "xendomains"]
        : ["xen-watchdog", "xencommons", "xendomains"],
    chosen,
  };
}

/**
 * The release with the Xen pair `xenPackage` names ("xenkernel415"), or as it is when none is named.
 * Whether pkg_summary holds the pair is known only once it is fetched (fetchXenPackageTree says).
 */
export function withXenPackage(rel: NetbsdRelease, xenPackage: string | undefined): NetbsdRelease {
  if (xenPackage === undefined) return rel;
  const nnn = xenPairNumber(xenPackage);
  if (nnn === undefined)
    throw new UsageError(
      `xenPackage ${JSON.stringify(xenPackage)} is not a Xen package for ${rel.box}: name a pkgsrc ` +
        `xenkernelNNN (e.g. "xenkernel420"; its xentoolsNNN comes with it), or leave it unset for the ` +
        `release's default, ${rel.xen.kernelPkg}`,
    );
  return { ...rel, xen: xenPair(nnn, true) };
}

/** The fallback quarterly branch for 9.x/10.x when no listing can be read (see NetbsdRelease.pkgsrc). */
export const DEFAULT_PKGSRC_BRANCH = "2025Q3";

function release(r: Omit<NetbsdRelease, "sets" | "sysinstDistribution" | "trees">): NetbsdRelease {
  return { ...r, sets: SYSINST_MINIMAL_SETS[r.branch], sysinstDistribution: "minimal", trees: RELEASE_TREES };
}

/**
 * Box names stay as they are although newer point releases exist (9.5, 10.2, 11.0: docs/netbsd.md
 * "Which releases"): a box is a fixed release, and the archive fallback keeps it fetchable.
 */
export const NETBSD_RELEASES: readonly NetbsdRelease[] = [
  release({
    box: "netbsd-6.1.5",
    version: "6.1.5",
    major: 6,
    branch: "netbsd-6",
    setSuffix: ".tgz",
    xen: xenPair("42"),
    pkgsrc: { trees: PKGSRC_TREES, cpu: "amd64" },
    sysinstFlavor: "netbsd6",
  }),
  release({
    box: "netbsd-9.4",
    version: "9.4",
    major: 9,
    branch: "netbsd-9",
    setSuffix: ".tar.xz",
    xen: xenPair("415"),
    pkgsrc: {
      trees: PKGSRC_TREES,
      cpu: "x86_64",
      defaultBranch: DEFAULT_PKGSRC_BRANCH,
      lastBranch: "2025Q3",
    },
    sysinstFlavor: "netbsd9plus",
  }),
  release({
    box: "netbsd-10.1",
    version: "10.1",
    major: 10,
    branch: "netbsd-10",
    setSuffix: ".tar.xz",
    xen: xenPair("420"),
    pkgsrc: { trees: PKGSRC_TREES, cpu: "x86_64", defaultBranch: DEFAULT_PKGSRC_BRANCH },
    sysinstFlavor: "netbsd9plus",
  }),
];

export function netbsdRelease(box: string): NetbsdRelease {
  const rel = NETBSD_RELEASES.find((r) => r.box === box);
  if (rel === undefined) {
    const known = NETBSD_RELEASES.map((r) => r.box).join(", ");
    throw new UsageError(`unknown NetBSD box "${box}"; known boxes: ${known}`);
  }
  return rel;
}

/** Kernels in binary/kernel/ the harness uses: the dom0, the domU, and the domU installer. */
export type XenKernel = "XEN3_DOM0" | "XEN3_DOMU" | "INSTALL_XEN3_DOMU";
export const XEN_KERNELS: readonly XenKernel[] = ["XEN3_DOM0", "XEN3_DOMU", "INSTALL_XEN3_DOMU"];

/** Path of a release file under a release tree's root: "NetBSD-9.4/amd64/binary/sets/base.tar.xz". */
export function releaseMirrorPath(rel: NetbsdRelease, pathInArch: string): string {
  return `NetBSD-${rel.version}/amd64/${pathInArch}`;
}

/** Cache key of a release file: "netbsd-9.4/amd64/binary/sets/base.tar.xz". */
export function releaseCacheName(rel: NetbsdRelease, pathInArch: string): string {
  return `netbsd-${rel.version}/amd64/${pathInArch}`;
}

export function kernelFileName(kernel: XenKernel): string {
  return `netbsd-${kernel}.gz`;
}

/** The file name of a set as sysinst looks for it (util.c set_postfix: force_tgz, else the release's suffix). */
export function setFileName(rel: NetbsdRelease, set: string): string {
  return `${set}${FORCE_TGZ_SETS.includes(set) ? ".tgz" : rel.setSuffix}`;
}

/** The set files sysinst will look for on the medium for the release's distribution. */
export function sysinstSelectedSetFiles(rel: NetbsdRelease): string[] {
  return SYSINST_MINIMAL_SETS[rel.branch].map((s) => setFileName(rel, s));
}

/**
 * A file found in the first tree that has it. Under a `--mirror` the same trees are looked for below the
 * mirror root, and last the root itself as a release tree (`NetBSD-X.Y/...` directly under it, the
 * layout older harness versions documented).
 */
function treeFile(
  trees: readonly NetbsdTree[],
  path: string,
  opts: { sumsPath?: string; legacyMirrorPath?: string } = {},
): Pick<ArtifactSpec, "url" | "mirrorPath" | "alternates"> & { sums?: { url: string; mirrorPath: string } } {
  const at = (t: NetbsdTree, p: string) => ({ url: t.base + p, mirrorPath: t.mirrorPrefix + p });
  const [first, ...rest] = trees;
  const alternates: ArtifactAlternate[] = rest.map((t) => ({
    ...at(t, path),
    ...(opts.sumsPath !== undefined ? { checksumFile: at(t, opts.sumsPath) } : {}),
  }));
  const last = trees[trees.length - 1]!;
  if (opts.legacyMirrorPath !== undefined) {
    alternates.push({
      url: last.base + path,
      mirrorPath: opts.legacyMirrorPath,
      ...(opts.sumsPath !== undefined
        ? {
            checksumFile: {
              url: last.base + opts.sumsPath,
              mirrorPath: opts.legacyMirrorPath.replace(/[^/]+$/, opts.sumsPath.replace(/^.*\//, "")),
            },
          }
        : {}),
    });
  }
  return {
    ...at(first!, path),
    ...(alternates.length > 0 ? { alternates } : {}),
    ...(opts.sumsPath !== undefined ? { sums: at(first!, opts.sumsPath) } : {}),
  };
}

/** One release file, checksummed by the SHA512 file of its own directory, looked for in each tree. */
function releaseFile(rel: NetbsdRelease, dir: string, file: string): ArtifactSpec {
  const path = releaseMirrorPath(rel, `${dir}/${file}`);
  const sumsPath = releaseMirrorPath(rel, `${dir}/SHA512`);
  const { sums, ...where } = treeFile(rel.trees, path, { sumsPath, legacyMirrorPath: path });
  return {
    name: releaseCacheName(rel, `${dir}/${file}`),
    ...where,
    checksumFile: { ...sums!, algorithm: "sha512", entry: file },
  };
}

export function releaseArtifacts(
  rel: NetbsdRelease,
  opts: { sets?: readonly string[] } = {},
): ArtifactSpec[] {
  const sets = opts.sets ?? rel.sets;
  return [
    releaseFile(rel, "installation/cdrom", "boot-com.iso"),
    ...sets.map((s) => releaseFile(rel, "binary/sets", setFileName(rel, s))),
    ...XEN_KERNELS.map((k) => releaseFile(rel, "binary/kernel", kernelFileName(k))),
  ];
}

/**
 * URL of a release kernel as the guest fetches it. With `serverUrl` (the harness's artifact server
 * serving the store's cache root at "/"), the cache name; otherwise the first tree (the CDN), which no
 * longer holds an archived release: prefer the server.
 */
export function kernelUrl(rel: NetbsdRelease, kernel: XenKernel, serverUrl?: string): string {
  const inArch = `binary/kernel/${kernelFileName(kernel)}`;
  if (serverUrl !== undefined) return `${trimSlash(serverUrl)}/${releaseCacheName(rel, inArch)}`;
  return rel.trees[0]!.base + releaseMirrorPath(rel, inArch);
}

export interface PkgsrcOptions {
  /** The harness's artifact server as the guest sees it ("http://10.0.2.2:8080"), serving the cache root. */
  serverUrl?: string;
  /** Quarterly branch ("2025Q3"); "" selects the moving `N.0` symlink. Ignored for 6.1.5 unless set. */
  pkgsrcBranch?: string;
}

/** The release directory under `NetBSD/<cpu>/`: "6.1.5", "10.0_2025Q3" or "10.0". */
export function pkgsrcReleaseDir(rel: NetbsdRelease, pkgsrcBranch?: string): string {
  // Binary packages are built per ABI (N.0) and serve every N.x (pkgsrc packages/README.md).
  const abi = `${rel.major}.0`;
  if (rel.major === 6) return pkgsrcBranch ? `${abi}_${pkgsrcBranch}` : rel.version;
  const branch = pkgsrcBranch ?? rel.pkgsrc.defaultBranch;
  return branch ? `${abi}_${branch}` : abi;
}

/** Path of the package directory relative to a packages root: "NetBSD/x86_64/10.0_2025Q3/All". */
export function pkgsrcAllPath(rel: NetbsdRelease, pkgsrcBranch?: string): string {
  return `NetBSD/${rel.pkgsrc.cpu}/${pkgsrcReleaseDir(rel, pkgsrcBranch)}/All`;
}

/** Cache key prefix of packages: "pkgsrc/packages/NetBSD/x86_64/10.0_2025Q3/All" (whichever tree served them). */
export function pkgsrcCacheDir(rel: NetbsdRelease, pkgsrcBranch?: string): string {
  return `pkgsrc/packages/${pkgsrcAllPath(rel, pkgsrcBranch)}`;
}

/** The PKG_PATH value the guest uses: the harness's server, or else the first tree (the CDN). */
export function pkgPath(rel: NetbsdRelease, opts: PkgsrcOptions = {}): string {
  if (opts.serverUrl !== undefined) {
    return `${trimSlash(opts.serverUrl)}/${pkgsrcCacheDir(rel, opts.pkgsrcBranch)}`;
  }
  return rel.pkgsrc.trees[0]!.base + pkgsrcAllPath(rel, opts.pkgsrcBranch);
}

function pkgsrcFile(
  rel: NetbsdRelease,
  file: string,
  pkgsrcBranch?: string,
  checksum?: ArtifactSpec["checksum"],
): ArtifactSpec {
  const spec: ArtifactSpec = {
    name: `${pkgsrcCacheDir(rel, pkgsrcBranch)}/${file}`,
    ...treeFile(rel.pkgsrc.trees, `${pkgsrcAllPath(rel, pkgsrcBranch)}/${file}`),
  };
  if (checksum !== undefined) spec.checksum = checksum;
  return spec;
}

/** pkg_summary.gz of the package directory. The mirror publishes no checksum for it. */
export function pkgSummaryArtifact(rel: NetbsdRelease, opts: { pkgsrcBranch?: string } = {}): ArtifactSpec {
  return pkgsrcFile(rel, "pkg_summary.gz", opts.pkgsrcBranch);
}

/**
 * What the harness fetches to serve the Xen packages locally: pkg_summary.gz first; then, once it is
 * parsed, the closure of the kernel and tools packages (pass the parsed summary).
 */
export function pkgsrcArtifacts(
  rel: NetbsdRelease,
  summary?: readonly PkgSummaryEntry[],
  opts: { pkgsrcBranch?: string; packages?: string[] } = {},
): ArtifactSpec[] {
  const out = [pkgSummaryArtifact(rel, opts)];
  if (summary === undefined) return out;
  const roots = opts.packages ?? [rel.xen.kernelPkg, rel.xen.toolsPkg];
  for (const entry of resolvePackageEntries(summary, roots)) {
    out.push(pkgsrcFile(rel, packageFileName(entry), opts.pkgsrcBranch, entry.checksum));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// pkg_summary(5) and dependency patterns (pkg_install's pkg_match rules, in their common forms)

export interface PkgSummaryEntry {
  PKGNAME: string;
  DEPENDS: string[];
  FILE_NAME?: string;
  /** From FILE_CKSUM when it names sha512/sha256. */
  checksum?: { algorithm: "sha512" | "sha256"; hex: string };
}

/** Entries are blocks of VAR=value lines separated by blank lines; DEPENDS repeats. */
export function parsePkgSummary(text: string): PkgSummaryEntry[] {
  const entries: PkgSummaryEntry[] = [];
  let cur: { PKGNAME?: string; DEPENDS: string[]; FILE_NAME?: string; FILE_CKSUM?: string } = { DEPENDS: [] };
  const flush = (): void => {
    if (cur.PKGNAME !== undefined) {
      const e: PkgSummaryEntry = { PKGNAME: cur.PKGNAME, DEPENDS: cur.DEPENDS };
      if (cur.FILE_NAME !== undefined) e.FILE_NAME = cur.FILE_NAME;
      const m = /^(sha512|sha256)\s+([0-9a-fA-F]+)$/.exec(cur.FILE_CKSUM ?? "");
      if (m) e.checksum = { algorithm: m[1] as "sha512" | "sha256", hex: m[2]!.toLowerCase() };
      entries.push(e);
    }
    cur = { DEPENDS: [] };
  };
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") {
      flush();
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === "PKGNAME") cur.PKGNAME = value;
    else if (key === "DEPENDS") {
      if (value.trim() !== "") cur.DEPENDS.push(value.trim());
    } else if (key === "FILE_NAME") cur.FILE_NAME = value;
    else if (key === "FILE_CKSUM") cur.FILE_CKSUM = value;
  }
  flush();
  return entries;
}

export function packageFileName(entry: PkgSummaryEntry): string {
  return entry.FILE_NAME ?? `${entry.PKGNAME}.tgz`;
}

/** "py27-lxml-3.4.4nb1" -> { base: "py27-lxml", version: "3.4.4nb1" } (the last "-" splits). */
export function splitPkgName(pkgname: string): { base: string; version: string } {
  const i = pkgname.lastIndexOf("-");
  if (i <= 0) return { base: pkgname, version: "" };
  return { base: pkgname.slice(0, i), version: pkgname.slice(i + 1) };
}

/**
 * Compare two package versions the way pkg_install's dewey.c orders them: numeric components,
 * "alpha" < "beta" < "pre"/"rc" < release < "pl"/".", letters as an extra minor step, and the
 * "nbN" PKGREVISION compared last. Returns <0, 0, >0.
 */
export function compareVersions(a: string, b: string): number {
  const pa = deweyParse(a);
  const pb = deweyParse(b);
  const n = Math.max(pa.parts.length, pb.parts.length);
  for (let i = 0; i < n; i++) {
    const x = pa.parts[i] ?? 0;
    const y = pb.parts[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return pa.revision - pb.revision;
}

function deweyParse(v: string): { parts: number[]; revision: number } {
  const parts: number[] = [];
  let revision = 0;
  const s = v.toLowerCase();
  let i = 0;
  const modifiers: [string, number][] = [
    ["alpha", -3],
    ["beta", -2],
    ["pre", -1],
    ["rc", -1],
    ["pl", 0],
    ["_", 0],
    [".", 0],
  ];
  while (i < s.length) {
    const c = s[i]!;
    if (c >= "0" && c <= "9") {
      let j = i;
      while (j < s.length && s[j]! >= "0" && s[j]! <= "9") j++;
      parts.push(Number(s.slice(i, j)));
      i = j;
      continue;
    }
    if (s.startsWith("nb", i)) {
      let j = i + 2;
      while (j < s.length && s[j]! >= "0" && s[j]! <= "9") j++;
      revision = Number(s.slice(i + 2, j) || "0");
      i = j;
      continue;
    }
    const mod = modifiers.find(([word]) => s.startsWith(word, i));
    if (mod) {
      if (mod[1] !== 0) parts.push(mod[1]);
      i += mod[0].length;
      continue;
    }
    if (c >= "a" && c <= "z") {
      // A lone letter ("1.0a") is one more step: 0, then its ordinal.
      parts.push(0, c.charCodeAt(0) - 96);
      i++;
      continue;
    }
    i++;
  }
  return { parts, revision };
}

/** Expand csh-style alternatives: "{a,b}-[0-9]*" -> ["a-[0-9]*", "b-[0-9]*"] (nested braces too). */
export function expandAlternatives(pattern: string): string[] {
  const open = pattern.indexOf("{");
  if (open < 0) return [pattern];
  let depth = 0;
  let close = -1;
  const commas: number[] = [];
  for (let i = open; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "{") depth++;
    else if (c === "}") {
      depth--;
      if (depth === 0) {
        close = i;
        break;
      }
    } else if (c === "," && depth === 1) commas.push(i);
  }
  if (close < 0) return [pattern];
  const pre = pattern.slice(0, open);
  const post = pattern.slice(close + 1);
  const bounds = [open, ...commas, close];
  const out: string[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const alt = pattern.slice(bounds[k]! + 1, bounds[k + 1]!);
    out.push(...expandAlternatives(pre + alt + post));
  }
  return out;
}

function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        let cls = glob.slice(i + 1, end);
        if (cls.startsWith("!")) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

const RELATIONAL = /^(.*?)(>=|<=|>|<)(.*)$/;

/** Does `pkgname` ("python27-2.7.9nb1") satisfy a DEPENDS pattern (without its ":../../dir" part)? */
export function pkgMatch(pattern: string, pkgname: string): boolean {
  for (const alt of expandAlternatives(pattern)) {
    if (matchOne(alt, pkgname)) return true;
  }
  return false;
}

function matchOne(pattern: string, pkgname: string): boolean {
  const rel = RELATIONAL.exec(pattern);
  if (rel && !/[*?[]/.test(rel[1]!)) {
    const { base, version } = splitPkgName(pkgname);
    if (base !== rel[1]) return false;
    // "name>=1.0<2.0": one or two bounds.
    const bounds = `${rel[2]}${rel[3]}`.match(/(>=|<=|>|<)[^<>=]+/g) ?? [];
    return bounds.every((b) => {
      const op = /^(>=|<=|>|<)/.exec(b)![1]!;
      const c = compareVersions(version, b.slice(op.length));
      return op === ">=" ? c >= 0 : op === "<=" ? c <= 0 : op === ">" ? c > 0 : c < 0;
    });
  }
  if (/[*?[]/.test(pattern)) return globToRegExp(pattern).test(pkgname);
  return pattern === pkgname;
}

/** Strip the pkgsrc directory a DEPENDS entry may carry: "python27>=2.7:../../lang/python27". */
function dependPattern(dep: string): string {
  const i = dep.indexOf(":");
  return i < 0 ? dep : dep.slice(0, i);
}

/** A DEPENDS pattern (or a requested package) that no entry of pkg_summary satisfies. */
export class UnresolvedDependencyError extends HarnessError {
  constructor(
    message: string,
    /** Each unmatched pattern, with the package that needed it. */
    readonly missing: string[],
  ) {
    super(message);
  }
}

/** Best (highest version) entry matching a pattern; a bare name matches by PKGBASE. */
function bestMatch(summary: readonly PkgSummaryEntry[], pattern: string): PkgSummaryEntry | undefined {
  const bare = !/[<>=*?[{]/.test(pattern);
  let best: PkgSummaryEntry | undefined;
  for (const e of summary) {
    const ok = bare
      ? splitPkgName(e.PKGNAME).base === pattern || e.PKGNAME === pattern
      : pkgMatch(pattern, e.PKGNAME);
    if (!ok) continue;
    if (
      best === undefined ||
      compareVersions(splitPkgName(e.PKGNAME).version, splitPkgName(best.PKGNAME).version) > 0
    ) {
      best = e;
    }
  }
  return best;
}

function resolvePackageEntries(
  summary: readonly PkgSummaryEntry[],
  roots: readonly string[],
): PkgSummaryEntry[] {
  const order: PkgSummaryEntry[] = [];
  const state = new Map<string, "visiting" | "done">();
  const missing: string[] = [];
  const visit = (pattern: string, neededBy: string | undefined): void => {
    const entry = bestMatch(summary, pattern);
    if (entry === undefined) {
      missing.push(neededBy === undefined ? pattern : `${pattern} (needed by ${neededBy})`);
      return;
    }
    if (state.has(entry.PKGNAME)) return; // done, or a cycle: either way it is already ordered or on the way
    state.set(entry.PKGNAME, "visiting");
    for (const dep of entry.DEPENDS) visit(dependPattern(dep), entry.PKGNAME);
    state.set(entry.PKGNAME, "done");
    order.push(entry);
  };
  for (const root of roots) visit(root, undefined);
  if (missing.length > 0) {
    throw new UnresolvedDependencyError(
      `pkg_summary has no package for: ${missing.join(", ")}; the package directory cannot satisfy pkg_add`,
      missing,
    );
  }
  return order;
}

/** Package file names for `roots` and everything they depend on, dependencies first. */
export function resolvePackageClosure(
  summary: readonly PkgSummaryEntry[],
  roots: readonly string[],
): string[] {
  return resolvePackageEntries(summary, roots).map(packageFileName);
}

/** A Xen pair a pkg_summary holds: its name ("xenkernel415") and the exact PKGNAMEs it resolves to. */
export interface XenPairFound {
  name: string;
  /** The highest version of each: "xenkernel420-20250821nb1". */
  kernel: string;
  tools: string;
}

/** The pair `pair` names in `summary`, or undefined when its kernel or its tools package is missing. */
export function findXenPair(
  summary: readonly PkgSummaryEntry[],
  pair: Pick<XenPair, "kernelPkg" | "toolsPkg">,
): XenPairFound | undefined {
  const kernel = bestMatch(summary, pair.kernelPkg);
  const tools = bestMatch(summary, pair.toolsPkg);
  if (kernel === undefined || tools === undefined) return undefined;
  return { name: pair.kernelPkg, kernel: kernel.PKGNAME, tools: tools.PKGNAME };
}

/**
 * Every xenkernelNNN of `summary` that has its xentoolsNNN, oldest Xen first; `unpaired` lists the
 * kernels whose tools package is missing (no use to a dom0).
 */
export function listXenPairs(summary: readonly PkgSummaryEntry[]): {
  pairs: XenPairFound[];
  unpaired: string[];
} {
  const numbers = new Set<string>();
  for (const e of summary) {
    const nnn = xenPairNumber(splitPkgName(e.PKGNAME).base);
    if (nnn !== undefined) numbers.add(nnn);
  }
  const pairs: XenPairFound[] = [];
  const unpaired: string[] = [];
  for (const nnn of [...numbers].sort((a, b) =>
    compareVersions(xenPair(a).xenVersion, xenPair(b).xenVersion),
  )) {
    const found = findXenPair(summary, xenPair(nnn));
    if (found) pairs.push(found);
    else unpaired.push(bestMatch(summary, `xenkernel${nnn}`)!.PKGNAME);
  }
  return { pairs, unpaired };
}

/** What one package tree held when the chosen Xen pair was not in it. */
export interface XenPairsSeen {
  /** "NetBSD/x86_64/10.0_2025Q3/All". */
  dir: string;
  /** Where its pkg_summary.gz came from. */
  summaryUrl: string;
  pairs: XenPairFound[];
  unpaired: string[];
  /** The cached copy that was read, when pkg_summary.gz came from the cache rather than the tree. */
  cachedPath?: string;
}

/** `xenPackage` / `--xen` named a pair that no package tree of the release holds: bad input, exit 2. */
export class XenPackageUnknownError extends UsageError {
  constructor(
    readonly requested: string,
    rel: NetbsdRelease,
    readonly seen: XenPairsSeen[],
  ) {
    const toolsPkg = requested.replace(/^xenkernel/, "xentools");
    const each = (t: XenPairsSeen): string => {
      const pairs = t.pairs.map((p) => `${p.name} (${p.kernel}, ${p.tools})`).join(", ") || "no Xen pair";
      const unpaired = t.unpaired.length > 0 ? `; without their tools: ${t.unpaired.join(", ")}` : "";
      const cached = t.cachedPath
        ? ` (read from the cache, ${t.cachedPath}: remove it to read the tree's current one)`
        : "";
      return `  - ${t.dir} (${t.summaryUrl}): ${pairs}${unpaired}${cached}`;
    };
    const names = [...new Set(seen.flatMap((t) => t.pairs.map((p) => p.name)))];
    super(
      `xenPackage ${JSON.stringify(requested)}: no package tree for NetBSD ${rel.version} (${rel.pkgsrc.cpu}) ` +
        `holds ${requested} with ${toolsPkg}. The pairs there:\n${seen.map(each).join("\n")}\n` +
        (names.length > 0 ? `Choose one of ${names.join(", ")} with` : "Choose another with") +
        ` "xenPackage" in nbxen.config.json or \`nbxen up --xen NAME\`, or leave it unset for ` +
        `NetBSD ${rel.version}'s default, ${netbsdRelease(rel.box).xen.kernelPkg}.`,
    );
  }
}

/**
 * One line saying which tree served a release's files ("NetBSD 9.4: 8 files from
 * https://archive.netbsd.org/pub/NetBSD-archive/ ..."), from what the store recorded for each.
 */
export function describeReleaseSources(rel: NetbsdRelease, fetched: readonly CachedArtifact[]): string {
  const byOrigin = new Map<string, { fresh: number; cached: number }>();
  const marker = `NetBSD-${rel.version}/`;
  // An origin is a tree's public base, or a mirror root followed by the tree's place under it.
  const treeOf = (origin: string) =>
    rel.trees.find((t) => origin === t.base || origin.endsWith(`/${t.mirrorPrefix}`));
  for (const f of fetched) {
    const i = f.url.indexOf(marker);
    const origin = i >= 0 ? f.url.slice(0, i) : f.url;
    const n = byOrigin.get(origin) ?? { fresh: 0, cached: 0 };
    if (f.fromCache) n.cached++;
    else n.fresh++;
    byOrigin.set(origin, n);
  }
  const parts = [...byOrigin].map(([origin, n]) => {
    const tree = treeOf(origin);
    const counts = [n.fresh > 0 ? `${n.fresh} fetched` : "", n.cached > 0 ? `${n.cached} cached earlier` : ""]
      .filter(Boolean)
      .join(", ");
    return `${counts} from ${origin}${tree ? ` (${tree.label})` : ""}`;
  });
  const fromArchive = [...byOrigin.keys()].some((o) => treeOf(o)?.label === "archive");
  return `NetBSD ${rel.version} release files: ${parts.join("; ")}${fromArchive ? ` (the CDN no longer serves ${rel.version})` : ""}`;
}

// ---------------------------------------------------------------------------------------------
// Choosing the pkgsrc tree: quarterly directories are emptied or moved to the archive host, and a
// package can leave pkgsrc (xenkernel415 after 2025Q3), so the branch comes from what the mirror lists.

/** "2025Q3" -> 20253, for ordering. */
function branchKey(branch: string): number {
  const m = /^(\d{4})Q([1-4])$/.exec(branch);
  return m ? Number(m[1]) * 10 + Number(m[2]) : -1;
}

/**
 * The quarterly branches a listing of `NetBSD/<cpu>/` offers for the release's ABI, newest first, none
 * newer than the release's `lastBranch`: ["10.0_2025Q4", "10.0_2025Q3", "10.0"] -> ["2025Q4", "2025Q3"].
 */
export function pkgsrcBranchCandidates(rel: NetbsdRelease, listed: Iterable<string>): string[] {
  const prefix = `${rel.major}.0_`;
  const last = rel.pkgsrc.lastBranch === undefined ? Infinity : branchKey(rel.pkgsrc.lastBranch);
  const found = new Set<string>();
  for (const name of listed) {
    const clean = name.replace(/\/$/, "");
    if (!clean.startsWith(prefix)) continue;
    const branch = clean.slice(prefix.length);
    const key = branchKey(branch);
    if (key > 0 && key <= last) found.add(branch);
  }
  return [...found].sort((a, b) => branchKey(b) - branchKey(a));
}

/** What the NetBSD package fetch needs of the artifact store. */
export interface PackageStore {
  fetch(spec: ArtifactSpec): Promise<CachedArtifact>;
  listDirectory(url: string, mirrorPath?: string): Promise<{ url: string; names: string[] }>;
}

export interface XenPackagesFetched {
  /** The branch the packages came from (undefined: 6.1.5's per-release directory); pass it to pkgPath(). */
  pkgsrcBranch: string | undefined;
  /** "NetBSD/x86_64/9.0_2025Q3/All". */
  allPath: string;
  /** Where pkg_summary.gz came from (which tree served it). */
  summaryUrl: string;
  /** Cached files: pkg_summary.gz, then the packages, dependencies first. */
  files: string[];
  /** The exact PKGNAMEs of the Xen pair: ["xenkernel420-20250821nb1", "xentools420-20250821nb1"]. */
  xenPackages: [string, string];
}

/** A Xen pair built locally (images/catalog/netbsd-local-packages.ts): its PKGNAMEs and what it depends on. */
export interface LocallyBuiltPair {
  pkgnames: [string, string];
  /** @pkgdep patterns of both packages. */
  depends: string[];
}

/** No package tree the harness could find holds the Xen packages for the release. */
export class PkgsrcTreeMissingError extends HarnessError {
  constructor(
    message: string,
    /** Each directory tried and why it would not do. */
    readonly tried: { dir: string; problem: string }[],
  ) {
    super(message);
  }
}

/** How many quarterly branches to try, newest first, before giving up. */
const MAX_BRANCHES_TRIED = 4;

/**
 * Fetch pkg_summary.gz and the closure of the Xen kernel and tools packages into the store, from the
 * newest package tree that has them: the branch named by the caller, else the newest quarterly branch
 * the CDN or the archive lists (not newer than the release's lastBranch), else DEFAULT_PKGSRC_BRANCH.
 * Says what it chose through `log`. The pair is `rel.xen` (withXenPackage); when it was chosen and no
 * tree read holds it, XenPackageUnknownError lists the pairs each tree does hold.
 */
export async function fetchXenPackageTree(
  store: PackageStore,
  rel: NetbsdRelease,
  opts: { pkgsrcBranch?: string; log?: (line: string) => void; local?: LocallyBuiltPair } = {},
): Promise<XenPackagesFetched> {
  const log = opts.log ?? (() => {});
  const local = opts.local;
  // A local pair comes from its files: the tree has to hold its dependencies only.
  const wanted = local ? [...new Set(local.depends)] : [rel.xen.kernelPkg, rel.xen.toolsPkg];
  const wantedText = local
    ? `the dependencies of ${local.pkgnames.join(" and ")} (${wanted.join(", ") || "none"})`
    : wanted.join(" and ");
  let candidates: (string | undefined)[];
  let why: string;
  if (opts.pkgsrcBranch !== undefined) {
    candidates = [opts.pkgsrcBranch];
    why = "as configured (pkgsrcBranch)";
  } else if (rel.pkgsrc.defaultBranch === undefined) {
    candidates = [undefined];
    why = `NetBSD ${rel.version}'s own package directory`;
  } else {
    const listed: string[] = [];
    const seen: string[] = [];
    for (const tree of rel.pkgsrc.trees) {
      const dir = `NetBSD/${rel.pkgsrc.cpu}/`;
      try {
        const { url, names } = await store.listDirectory(tree.base + dir, tree.mirrorPrefix + dir);
        const here = pkgsrcBranchCandidates(rel, names);
        seen.push(`${url}: ${here.length > 0 ? here.join(", ") : "none"}`);
        listed.push(...names);
      } catch (error) {
        seen.push(`${tree.base + dir}: not listed (${(error as Error).message.split("\n")[0]})`);
      }
    }
    const found = pkgsrcBranchCandidates(rel, listed).slice(0, MAX_BRANCHES_TRIED);
    log(
      `pkgsrc: ${rel.major}.0 branches listed${rel.pkgsrc.lastBranch ? ` (up to ${rel.pkgsrc.lastBranch})` : ""}: ${seen.join("; ")}`,
    );
    if (found.length > 0) {
      candidates = found;
      why = "the newest listed branch that has them";
    } else {
      candidates = [rel.pkgsrc.defaultBranch];
      why = `the default branch (no listing named a ${rel.major}.0_YYYYQn directory)`;
    }
  }

  const tried: { dir: string; problem: string }[] = [];
  const pairMissing: XenPairsSeen[] = [];
  let summariesRead = 0;
  for (const branch of candidates) {
    const allPath = pkgsrcAllPath(rel, branch);
    let summaryFile: CachedArtifact;
    try {
      summaryFile = await store.fetch({
        ...pkgSummaryArtifact(rel, { pkgsrcBranch: branch }),
        trustOnFirstUse: true,
      });
    } catch (error) {
      tried.push({ dir: allPath, problem: `no pkg_summary.gz: ${(error as Error).message.split("\n")[0]}` });
      log(`pkgsrc: ${allPath} has no pkg_summary.gz (emptied, moved or never built); trying the next`);
      continue;
    }
    summariesRead++;
    const summary = parsePkgSummary(gunzipSync(await readFile(summaryFile.path)).toString("utf8"));
    const pair = local ? undefined : findXenPair(summary, rel.xen);
    if (!local && pair === undefined && rel.xen.chosen) {
      pairMissing.push({
        dir: allPath,
        summaryUrl: summaryFile.url,
        ...listXenPairs(summary),
        ...(summaryFile.fromCache ? { cachedPath: summaryFile.path } : {}),
      });
      tried.push({ dir: allPath, problem: `pkg_summary.gz has no ${wanted.join(" with ")}` });
      log(`pkgsrc: ${allPath} has no ${wanted.join(" with ")}; trying the next`);
      continue;
    }
    let specs: ArtifactSpec[];
    try {
      specs = pkgsrcArtifacts(rel, summary, {
        pkgsrcBranch: branch,
        ...(local ? { packages: wanted } : {}),
      }).slice(1);
    } catch (error) {
      if (!(error instanceof UnresolvedDependencyError)) throw error;
      tried.push({ dir: allPath, problem: `pkg_summary.gz lacks ${error.missing.join(", ")}` });
      log(`pkgsrc: ${allPath} lacks ${error.missing.join(", ")}; trying the next`);
      continue;
    }
    log(`pkgsrc: using ${allPath} (${why}), pkg_summary.gz from ${summaryFile.url}`);
    const files = [summaryFile.path];
    for (const spec of specs) {
      files.push((await store.fetch(spec.checksum ? spec : { ...spec, trustOnFirstUse: true })).path);
    }
    return {
      pkgsrcBranch: branch,
      allPath,
      summaryUrl: summaryFile.url,
      files,
      // Resolved above, so the pair is there.
      xenPackages: local ? local.pkgnames : [pair!.kernel, pair!.tools],
    };
  }
  if (pairMissing.length > 0 && pairMissing.length === summariesRead)
    throw new XenPackageUnknownError(rel.xen.kernelPkg, rel, pairMissing);
  const roots = rel.pkgsrc.trees.map((t) => t.base).join(" or ");
  throw new PkgsrcTreeMissingError(
    `no binary package tree for NetBSD ${rel.version} (${rel.pkgsrc.cpu}) holds ${wantedText} ` +
      `with their dependencies:\n${tried.map((t) => `  - ${t.dir}: ${t.problem}`).join("\n")}\n` +
      `Looked under ${roots}. Point --mirror at a directory or URL whose pkgsrc/packages/` +
      `NetBSD/${rel.pkgsrc.cpu}/<dir>/All/ holds pkg_summary.gz and these packages` +
      (rel.pkgsrc.defaultBranch !== undefined
        ? `, or set "pkgsrcBranch" (e.g. "${rel.pkgsrc.lastBranch ?? DEFAULT_PKGSRC_BRANCH}") in nbxen.config.json to a quarterly branch that has them.`
        : ` (${pkgsrcAllPath(rel)} for ${rel.version}), or set "pkgsrcBranch" to a ${rel.major}.0_YYYYQn branch that has them.`),
    tried,
  );
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}
