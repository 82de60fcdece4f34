/**
 * A locally built Xen pair (`--xen-package PATH`, `nbxen update-xen --to PATH`): the xenkernelNNN and
 * xentoolsNNN binary packages a pkgsrc maintainer has just built, read from their files. A binary
 * package is a tar archive (gzip'd by default, PKG_COMPRESSION) whose packing list +CONTENTS names the
 * package (@name) and its dependencies (@pkgdep) (pkg_create(1)); the harness reads nothing else.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { UsageError } from "../../lib/errors.ts";
import { splitPkgName } from "./netbsd.ts";

export interface LocalPackage {
  /** Absolute path of the package file. */
  file: string;
  /** From @name: "xenkernel420-4.20.2". */
  pkgname: string;
  /** From @pkgdep: dependency patterns ("libyajl>=2.0"). */
  depends: string[];
  sha256: string;
}

export interface LocalXenPair {
  /** "420" for xenkernel420/xentools420. */
  nnn: string;
  kernel: LocalPackage;
  tools: LocalPackage;
}

/** The local package files are not a usable Xen pair: what is wrong, and with which path. */
export class LocalXenPackageError extends UsageError {
  constructor(
    message: string,
    /** The path given that the message is about, when it is one. */
    readonly path?: string,
  ) {
    super(message);
  }
}

const XEN_BASE = /^xen(kernel|tools)([0-9]{2,3})$/;

async function sha256(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** @name and @pkgdep of a binary package, from its +CONTENTS (tar detects the compression). */
export async function readLocalPackage(file: string): Promise<LocalPackage> {
  const r = await execa("tar", ["-xOf", file, "+CONTENTS"], { reject: false, stripFinalNewline: false });
  if (r.exitCode !== 0)
    throw new LocalXenPackageError(
      `${file} is not a pkgsrc binary package: tar cannot read +CONTENTS from it (${r.stderr.trim().split("\n")[0] ?? ""})`,
      file,
    );
  const lines = r.stdout.split("\n");
  const pkgname = lines
    .find((l) => l.startsWith("@name "))
    ?.slice(6)
    .trim();
  if (!pkgname) throw new LocalXenPackageError(`${file}: its +CONTENTS has no @name line`, file);
  const depends = lines.filter((l) => l.startsWith("@pkgdep ")).map((l) => l.slice(8).trim());
  return { file, pkgname, depends, sha256: await sha256(file) };
}

/** The package files `given` names: files as they are, and a directory's xenkernel*.tgz / xentools*.tgz. */
async function candidateFiles(given: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of given) {
    const abs = path.resolve(p);
    const st = await stat(abs).catch(() => undefined);
    if (!st) throw new LocalXenPackageError(`${p}: no such file or directory`, p);
    if (st.isDirectory()) {
      const names = (await readdir(abs))
        .filter((n) => /^xen(kernel|tools)[0-9]{2,3}-.*\.tgz$/.test(n))
        .sort();
      if (names.length === 0)
        throw new LocalXenPackageError(
          `${p}: the directory holds no xenkernelNNN-*.tgz or xentoolsNNN-*.tgz package`,
          p,
        );
      files.push(...names.map((n) => path.join(abs, n)));
    } else files.push(abs);
  }
  return files;
}

/**
 * Reads the locally built pair from files and directories: exactly one xenkernelNNN and one xentoolsNNN
 * of the same NNN, or a LocalXenPackageError that says what was found.
 */
export async function readLocalXenPair(given: readonly string[]): Promise<LocalXenPair> {
  if (given.length === 0) throw new LocalXenPackageError("no local Xen package given");
  const pkgs = await Promise.all((await candidateFiles(given)).map(readLocalPackage));
  const kernels: LocalPackage[] = [];
  const tools: LocalPackage[] = [];
  for (const p of pkgs) {
    const m = XEN_BASE.exec(splitPkgName(p.pkgname).base);
    if (!m)
      throw new LocalXenPackageError(
        `${p.file} is ${p.pkgname}, not a xenkernelNNN or xentoolsNNN package; dependencies come from the mirror`,
        p.file,
      );
    (m[1] === "kernel" ? kernels : tools).push(p);
  }
  const list = (ps: LocalPackage[]) => ps.map((p) => `${p.pkgname} (${p.file})`).join(", ");
  if (kernels.length !== 1 || tools.length !== 1)
    throw new LocalXenPackageError(
      `a local Xen pair is one xenkernelNNN and one xentoolsNNN package; found ` +
        `${kernels.length} kernel package(s)${kernels.length ? `: ${list(kernels)}` : ""} and ` +
        `${tools.length} tools package(s)${tools.length ? `: ${list(tools)}` : ""}. Name the two files.`,
    );
  const kernel = kernels[0]!;
  const tool = tools[0]!;
  const nnn = XEN_BASE.exec(splitPkgName(kernel.pkgname).base)![2]!;
  const toolsNnn = XEN_BASE.exec(splitPkgName(tool.pkgname).base)![2]!;
  if (nnn !== toolsNnn)
    throw new LocalXenPackageError(
      `${kernel.pkgname} and ${tool.pkgname} are not a pair: xenkernel${nnn} goes with xentools${nnn}`,
    );
  return { nnn, kernel, tools: tool };
}

/** What a run record says of the local pair: each package with its file's SHA256. */
export function describeLocalPair(pair: LocalXenPair): string {
  return [pair.kernel, pair.tools].map((p) => `${p.pkgname} (sha256 ${p.sha256})`).join(", ");
}

/** The pair's packages with their files' SHA256, as run records keep them. */
export function localPairDigests(pair: LocalXenPair): { pkgname: string; sha256: string }[] {
  return [pair.kernel, pair.tools].map((p) => ({ pkgname: p.pkgname, sha256: p.sha256 }));
}
