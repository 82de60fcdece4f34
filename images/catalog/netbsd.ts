/**
 * The NetBSD boxes: which release, which sets, which kernels, which Xen packages, and where to fetch
 * them. Layouts follow distrib/notes/amd64/contents (release tree) and pkgsrc's ftp-layout
 * (binary packages): see /work/shared/netbsd-facts.md.
 */
import type { ArtifactSpec } from "../store/index.ts";
import { HarnessError, UsageError } from "../../harness/util/errors.ts";

export interface NetbsdRelease {
  box: string;
  version: string;
  major: 6 | 9 | 10;
  /** Mirror root that holds `NetBSD-X.Y/` (ends with "/"). */
  mirrorBase: string;
  setSuffix: ".tgz" | ".tar.xz";
  /**
   * The sets the harness serves and installs. sysinst's "Minimal installation" extracts exactly
   * kern-GENERIC, base and etc; that is all a dom0 needs (the Xen kernels come from binary/kernel,
   * the Xen tools and their Python from pkgsrc), so the harness picks `sysinstDistribution`.
   */
  sets: string[];
  sysinstDistribution: "minimal" | "custom";
  xen: {
    kernelPkg: string;
    toolsPkg: string;
    /** Where the kernel package installs the hypervisor (sysutils/xenkernelNNN/PLIST). */
    xenGzPath: string;
    /** rc.d scripts the tools package ships in /usr/pkg/share/examples/rc.d (RCD_SCRIPTS). */
    rcdScripts: string[];
  };
  pkgsrc: {
    /** Root that holds `NetBSD/<cpu>/...` (ends with "/"). */
    base: string;
    /** Directory under `NetBSD/` for this architecture: "amd64" (6.x era) or "x86_64" (uname -p). */
    cpu: "amd64" | "x86_64";
    /**
     * Quarterly branch used when the caller names none. A default, not a fact: which branches a
     * mirror still carries changes over time (override with `pkgsrcBranch`). Undefined for 6.1.5,
     * whose packages sit in a per-release directory.
     */
    defaultBranch?: string;
  };
  sysinstFlavor: "netbsd6" | "netbsd9plus";
}

const CDN = "https://cdn.netbsd.org/pub/NetBSD/";
const ARCHIVE = "https://archive.netbsd.org/pub/NetBSD-archive/";
const PKGSRC_CDN = "https://cdn.netbsd.org/pub/pkgsrc/packages/";
const PKGSRC_ARCHIVE = "https://archive.netbsd.org/pub/pkgsrc-archive/packages/";
const MINIMAL_SETS = ["kern-GENERIC", "base", "etc"];

/** The quarterly branch the 9.x/10.x boxes use unless told otherwise (xenkernel415 goes after 2025Q3). */
export const DEFAULT_PKGSRC_BRANCH = "2025Q3";

export const NETBSD_RELEASES: readonly NetbsdRelease[] = [
  {
    box: "netbsd-6.1.5",
    version: "6.1.5",
    major: 6,
    mirrorBase: ARCHIVE,
    setSuffix: ".tgz",
    sets: MINIMAL_SETS,
    sysinstDistribution: "minimal",
    xen: {
      kernelPkg: "xenkernel42",
      toolsPkg: "xentools42",
      xenGzPath: "/usr/pkg/xen42-kernel/xen.gz",
      rcdScripts: ["xen-watchdog", "xencommons", "xend", "xendomains"],
    },
    pkgsrc: { base: PKGSRC_ARCHIVE, cpu: "amd64" },
    sysinstFlavor: "netbsd6",
  },
  {
    box: "netbsd-9.4",
    version: "9.4",
    major: 9,
    mirrorBase: CDN,
    setSuffix: ".tgz",
    sets: MINIMAL_SETS,
    sysinstDistribution: "minimal",
    xen: {
      kernelPkg: "xenkernel415",
      toolsPkg: "xentools415",
      xenGzPath: "/usr/pkg/xen415-kernel/xen.gz",
      rcdScripts: ["xen-watchdog", "xencommons", "xendomains"],
    },
    pkgsrc: { base: PKGSRC_CDN, cpu: "x86_64", defaultBranch: DEFAULT_PKGSRC_BRANCH },
    sysinstFlavor: "netbsd9plus",
  },
  {
    box: "netbsd-10.1",
    version: "10.1",
    major: 10,
    mirrorBase: CDN,
    setSuffix: ".tar.xz",
    sets: MINIMAL_SETS,
    sysinstDistribution: "minimal",
    xen: {
      kernelPkg: "xenkernel420",
      toolsPkg: "xentools420",
      xenGzPath: "/usr/pkg/xen420-kernel/xen.gz",
      rcdScripts: ["xen-watchdog", "xencommons", "xendomains"],
    },
    pkgsrc: { base: PKGSRC_CDN, cpu: "x86_64", defaultBranch: DEFAULT_PKGSRC_BRANCH },
    sysinstFlavor: "netbsd9plus",
  },
];

export const DEFAULT_BOX = "netbsd-6.1.5";

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

/** Path of a release file relative to the mirror root: "NetBSD-9.4/amd64/binary/sets/base.tgz". */
export function releaseMirrorPath(rel: NetbsdRelease, pathInArch: string): string {
  return `NetBSD-${rel.version}/amd64/${pathInArch}`;
}

/** Cache key of a release file: "netbsd-9.4/amd64/binary/sets/base.tgz". */
export function releaseCacheName(rel: NetbsdRelease, pathInArch: string): string {
  return `netbsd-${rel.version}/amd64/${pathInArch}`;
}

export function kernelFileName(kernel: XenKernel): string {
  return `netbsd-${kernel}.gz`;
}

export function setFileName(rel: NetbsdRelease, set: string): string {
  return `${set}${rel.setSuffix}`;
}

/** One release file, checksummed by the SHA512 file of its own directory. */
function releaseFile(rel: NetbsdRelease, dir: string, file: string): ArtifactSpec {
  const mirrorPath = releaseMirrorPath(rel, `${dir}/${file}`);
  const sumsPath = releaseMirrorPath(rel, `${dir}/SHA512`);
  return {
    name: releaseCacheName(rel, `${dir}/${file}`),
    url: rel.mirrorBase + mirrorPath,
    mirrorPath,
    checksumFile: { url: rel.mirrorBase + sumsPath, mirrorPath: sumsPath, algorithm: "sha512", entry: file },
  };
}

export function releaseArtifacts(rel: NetbsdRelease, opts: { sets?: string[] } = {}): ArtifactSpec[] {
  const sets = opts.sets ?? rel.sets;
  return [
    releaseFile(rel, "installation/cdrom", "boot-com.iso"),
    ...sets.map((s) => releaseFile(rel, "binary/sets", setFileName(rel, s))),
    ...XEN_KERNELS.map((k) => releaseFile(rel, "binary/kernel", kernelFileName(k))),
  ];
}

/**
 * URL of a release kernel as the guest fetches it. With `serverUrl` (the harness's artifact server
 * serving the store's cache root at "/"), the cache name; otherwise the upstream mirror.
 */
export function kernelUrl(rel: NetbsdRelease, kernel: XenKernel, serverUrl?: string): string {
  const inArch = `binary/kernel/${kernelFileName(kernel)}`;
  if (serverUrl !== undefined) return `${trimSlash(serverUrl)}/${releaseCacheName(rel, inArch)}`;
  return rel.mirrorBase + releaseMirrorPath(rel, inArch);
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

/** Path of the package directory relative to the pkgsrc packages root: "NetBSD/x86_64/10.0_2025Q3/All". */
export function pkgsrcAllPath(rel: NetbsdRelease, pkgsrcBranch?: string): string {
  return `NetBSD/${rel.pkgsrc.cpu}/${pkgsrcReleaseDir(rel, pkgsrcBranch)}/All`;
}

/** Cache key prefix of packages: "pkgsrc/packages/NetBSD/x86_64/10.0_2025Q3/All". */
export function pkgsrcCacheDir(rel: NetbsdRelease, pkgsrcBranch?: string): string {
  return `pkgsrc/packages/${pkgsrcAllPath(rel, pkgsrcBranch)}`;
}

/** The PKG_PATH value the guest uses. */
export function pkgPath(rel: NetbsdRelease, opts: PkgsrcOptions = {}): string {
  if (opts.serverUrl !== undefined) {
    return `${trimSlash(opts.serverUrl)}/${pkgsrcCacheDir(rel, opts.pkgsrcBranch)}`;
  }
  return rel.pkgsrc.base + pkgsrcAllPath(rel, opts.pkgsrcBranch);
}

function pkgsrcFile(
  rel: NetbsdRelease,
  file: string,
  pkgsrcBranch?: string,
  checksum?: ArtifactSpec["checksum"],
): ArtifactSpec {
  const all = pkgsrcAllPath(rel, pkgsrcBranch);
  const spec: ArtifactSpec = {
    name: `${pkgsrcCacheDir(rel, pkgsrcBranch)}/${file}`,
    url: `${rel.pkgsrc.base}${all}/${file}`,
    mirrorPath: `pkgsrc/packages/${all}/${file}`,
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

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}
