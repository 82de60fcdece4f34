/**
 * The second CD sysinst installs from: an ISO whose root holds `<arch>/binary/sets/<files>`, like the
 * release's own CDs. Rock Ridge is what keeps `kern-GENERIC.tgz` and `base.tar.xz` readable by
 * NetBSD's cd9660 (plain ISO 9660 would show them as lower-cased 8.3 names and sysinst would not find
 * the sets), so the image is written with `-R` and the test reads the names back.
 *
 * sysinst extracts every set its distribution selects and stops at "Release set X does not exist."
 * when one is missing from the medium, so the builder refuses to write a CD without the selected sets
 * (`requiredSets`; the selection per release is the catalog's SYSINST_MINIMAL_SETS).
 */
import { readdir, rename, rm, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { execa } from "execa";
import { HarnessError, UsageError } from "../../lib/errors.ts";

export const SETS_ISO_VOLUME_ID = "NBXEN_SETS";

export interface BuildSetsIsoOptions {
  /** Directory holding the set files (base.tgz, kern-GENERIC.tgz, ... or *.tar.xz). */
  setsDir: string;
  arch: "amd64";
  /** ISO to write; replaced atomically. */
  out: string;
  /** xorriso binary (default: "xorriso" from PATH). */
  xorriso?: string;
  /** Set files ("modules.tar.xz") the installer will look for: each must be in `setsDir`. */
  requiredSets?: readonly string[];
}

/** The sets directory lacks a set the installer will select. */
export class MissingSetError extends HarnessError {
  constructor(
    readonly missing: string[],
    setsDir: string,
  ) {
    super(
      `the sets CD would lack ${missing.join(", ")}: sysinst selects ${missing.length === 1 ? "it" : "them"} ` +
        `and would stop at "Release set ${missing[0]!.replace(/\.(tgz|tar\.xz)$/, "")} does not exist." ` +
        `(${setsDir} holds no such file; fetch the release's sets again with "nbxen box fetch")`,
    );
  }
}

export class XorrisoMissingError extends HarnessError {
  constructor(readonly command: string) {
    super(`${command} not found: install xorriso (Debian: apt-get install xorriso) to build the sets ISO`, {
      cliExitCode: 2,
    });
  }
}

export class IsoBuildError extends HarnessError {
  constructor(
    message: string,
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export async function buildSetsIso(opts: BuildSetsIsoOptions): Promise<void> {
  const setsDir = resolve(opts.setsDir);
  const out = resolve(opts.out);
  const xorriso = opts.xorriso ?? "xorriso";
  const st = await stat(setsDir).catch(() => undefined);
  if (st === undefined || !st.isDirectory()) throw new UsageError(`sets directory ${setsDir} does not exist`);
  const files = (await readdir(setsDir, { withFileTypes: true })).filter((d) => d.isFile());
  if (files.length === 0) throw new UsageError(`sets directory ${setsDir} holds no files`);
  const present = new Set(files.map((f) => f.name));
  const missing = (opts.requiredSets ?? []).filter((name) => !present.has(name));
  if (missing.length > 0) throw new MissingSetError(missing, setsDir);

  const part = `${out}.part`;
  await rm(part, { force: true });
  const args = [
    "-as",
    "mkisofs",
    "-R",
    "-J",
    "-V",
    SETS_ISO_VOLUME_ID,
    "-o",
    part,
    "-graft-points",
    // "=" and "\" in the source path would be read as graft-point syntax.
    `${opts.arch}/binary/sets/=${setsDir.replace(/[\\=]/g, "\\$&")}`,
  ];
  try {
    const result = await execa(xorriso, args, { reject: false, all: true, stdin: "ignore" });
    if (result.failed || result.exitCode !== 0) {
      const code = (result as { code?: string }).code;
      if (code === "ENOENT") throw new XorrisoMissingError(xorriso);
      throw new IsoBuildError(
        `xorriso failed building ${out} (exit ${result.exitCode ?? "none"}): ${tail(result.all ?? "")}`,
        result.command,
        result.exitCode,
        result.stderr ?? "",
      );
    }
    await rename(part, out);
  } catch (err) {
    await rm(part, { force: true });
    if ((err as { code?: string }).code === "ENOENT" && !(err instanceof HarnessError))
      throw new XorrisoMissingError(xorriso);
    throw err;
  }
}

function tail(text: string, lines = 8): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}
