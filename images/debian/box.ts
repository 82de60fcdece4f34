import { constants } from "node:fs";
import { access, mkdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { HarnessError } from "../../lib/errors.ts";
import { acquireLock } from "../store/lock.ts";
import { buildEnv, type DebianRelease } from "./releases.ts";

/**
 * What box.json's "format" must say (build-box.sh writes what it is given). Bump it when a box built
 * before a change no longer works with the harness after it: boxes of another format are rebuilt.
 */
export const DEBIAN_BOX_FORMAT = 2;
/**
 * Root's password in the box. Transcripts mask it wherever it appears, so it is nothing that also
 * appears in paths or names (format 1 used "nbxen", which masked "nbxen" in every file name).
 */
export const DEBIAN_ROOT_PASSWORD = "Deb12-Root-pw-7";

/** What build-box.sh writes to box.json. */
export interface DebianBoxMeta {
  box: string;
  format: number;
  suite: string;
  /** e.g. "6.1.0-56-amd64" */
  kernelVersion: string;
  rootLabel: string;
  /** The NIC's name in the guest ("eth0": predictable renaming is off in the image). */
  nic: string;
  hostname: string;
  rootPassword: string;
  /** Debian version of the release's xen-hypervisor-X.Y-amd64 in xen-repo, e.g. "4.17.5+72-g01bf3ba2b9-1~deb12u1". */
  xenVersion: string;
  /** Packages installed in the image. */
  packages: number;
  /** .deb files in xen-repo. */
  xenRepoPackages: number;
  builtAt: string;
  /** Command line for a direct kernel boot of vmlinuz/initrd.img. */
  kernelCmdline: string;
}

export interface DebianBox {
  dir: string;
  /** qcow2 base image; use it through an overlay or snapshot=on, never write to it. */
  disk: string;
  kernel: string;
  initrd: string;
  /** Flat apt repository: serve it and use `deb [trusted=yes] <url>/xen-repo ./`. */
  xenRepo: string;
  meta: DebianBoxMeta;
}

export const DEBIAN_BOX_FILES = [
  "box.json",
  "disk.qcow2",
  "vmlinuz",
  "initrd.img",
  "xen-repo/Packages",
  "xen-repo/Packages.gz",
  "xen-repo/Release",
  "xen-repo/SHA256SUMS",
] as const;

/** Host tools build-box.sh runs, with the Debian package that has each. */
export const DEBIAN_BOX_BUILD_TOOLS: ReadonlyArray<{ tool: string; pkg: string }> = [
  { tool: "mmdebstrap", pkg: "mmdebstrap" },
  { tool: "mke2fs", pkg: "e2fsprogs" },
  { tool: "sfdisk", pkg: "fdisk" },
  { tool: "qemu-img", pkg: "qemu-utils" },
  { tool: "dpkg-scanpackages", pkg: "dpkg-dev" },
];

export const BUILD_SCRIPT = fileURLToPath(new URL("./build-box.sh", import.meta.url));

/** A box directory lacks a file (or has it empty): rebuild it. */
export class DebianBoxIncompleteError extends HarnessError {
  readonly dir: string;
  readonly file: string;
  constructor(box: string, dir: string, file: string) {
    super(
      `The ${box} box in ${dir} is incomplete: ${file} is missing or empty. Delete ${dir} to rebuild it.`,
    );
    this.dir = dir;
    this.file = file;
  }
}

/** The box was built by an older (or newer) harness whose box differs from what this one needs. */
export class DebianBoxOutdatedError extends HarnessError {
  readonly dir: string;
  readonly format: number | undefined;
  /** "its format is N, this harness needs M" */
  readonly reason: string;
  constructor(box: string, dir: string, format: number | undefined) {
    const reason = `its format is ${format ?? "1 (none given)"}, this harness needs ${DEBIAN_BOX_FORMAT}`;
    super(`The ${box} box in ${dir}: ${reason}. It is rebuilt on the next run (or delete ${dir}).`);
    this.dir = dir;
    this.format = format;
    this.reason = reason;
  }
}

/** box.json is not what build-box.sh writes. */
export class DebianBoxMetaError extends HarnessError {
  readonly file: string;
  readonly field?: string;
  constructor(file: string, reason: string, field?: string) {
    super(`${file}: ${reason}. Delete the box directory to rebuild it.`);
    this.file = file;
    if (field !== undefined) this.field = field;
  }
}

export class BuildToolMissingError extends HarnessError {
  readonly tool: string;
  readonly pkg: string;
  constructor(box: string, tool: string, pkg: string) {
    super(`${tool} is needed to build the ${box} box and is not installed: apt-get install ${pkg}`);
    this.tool = tool;
    this.pkg = pkg;
  }
}

export class DebianBoxBuildError extends HarnessError {
  readonly outDir: string;
  /** build-box.sh's exit status. */
  readonly exitCode?: number;
  /** The script's last output lines. */
  readonly tail: string[];
  constructor(
    box: string,
    outDir: string,
    fields: { exitCode?: number; signal?: string; tail: string[]; cause?: unknown },
  ) {
    const how = fields.signal ? `was killed by ${fields.signal}` : `exited with ${fields.exitCode ?? "?"}`;
    super(`Building the ${box} box into ${outDir} failed: build-box.sh ${how}.\n${fields.tail.join("\n")}`, {
      cause: fields.cause,
    });
    this.outDir = outDir;
    if (fields.exitCode !== undefined) this.exitCode = fields.exitCode;
    this.tail = fields.tail;
  }
}

const STRING_FIELDS = [
  "box",
  "suite",
  "kernelVersion",
  "rootLabel",
  "nic",
  "hostname",
  "rootPassword",
  "xenVersion",
  "builtAt",
  "kernelCmdline",
] as const;
const NUMBER_FIELDS = ["packages", "xenRepoPackages"] as const;

function parseMeta(release: DebianRelease, file: string, text: string): DebianBoxMeta {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new DebianBoxMetaError(file, `not JSON (${(err as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null) throw new DebianBoxMetaError(file, "not a JSON object");
  const obj = raw as Record<string, unknown>;
  if (obj.format !== DEBIAN_BOX_FORMAT)
    throw new DebianBoxOutdatedError(
      release.box,
      path.dirname(file),
      typeof obj.format === "number" ? obj.format : undefined,
    );
  for (const f of STRING_FIELDS) {
    if (typeof obj[f] !== "string" || obj[f] === "")
      throw new DebianBoxMetaError(file, `"${f}" is not a string`, f);
  }
  for (const f of NUMBER_FIELDS) {
    if (typeof obj[f] !== "number") throw new DebianBoxMetaError(file, `"${f}" is not a number`, f);
  }
  if (obj.box !== release.box)
    throw new DebianBoxMetaError(file, `"box" is ${String(obj.box)}, not ${release.box}`, "box");
  if (obj.suite !== release.suite)
    throw new DebianBoxMetaError(
      file,
      `"suite" is ${String(obj.suite)}, not ${release.suite} (${release.box})`,
      "suite",
    );
  return obj as unknown as DebianBoxMeta;
}

async function nonEmpty(file: string): Promise<boolean> {
  try {
    return (await stat(file)).size > 0;
  } catch {
    return false;
  }
}

/** Reads a built box of `release`; throws DebianBoxIncompleteError naming the first missing file. */
export async function readDebianBox(dir: string, release: DebianRelease): Promise<DebianBox> {
  const abs = path.resolve(dir);
  for (const f of DEBIAN_BOX_FILES) {
    if (!(await nonEmpty(path.join(abs, f)))) throw new DebianBoxIncompleteError(release.box, abs, f);
  }
  const metaFile = path.join(abs, "box.json");
  const meta = parseMeta(release, metaFile, await readFile(metaFile, "utf8"));
  return {
    dir: abs,
    disk: path.join(abs, "disk.qcow2"),
    kernel: path.join(abs, "vmlinuz"),
    initrd: path.join(abs, "initrd.img"),
    xenRepo: path.join(abs, "xen-repo"),
    meta,
  };
}

async function onPath(tool: string): Promise<boolean> {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/sbin"];
  for (const d of dirs) {
    if (!d) continue;
    try {
      await access(path.join(d, tool), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** Throws BuildToolMissingError for the first build tool that is not installed. */
export async function checkBuildTools(box: string): Promise<void> {
  for (const { tool, pkg } of DEBIAN_BOX_BUILD_TOOLS) {
    if (!(await onPath(tool))) throw new BuildToolMissingError(box, tool, pkg);
  }
}

export interface BuildDebianBoxOptions {
  /** Receives each line the build prints (mmdebstrap's included). */
  log?: (line: string) => void;
  /** Rebuild even if outDir holds a complete box. */
  force?: boolean;
  /** Stops the build (the script removes its temp dir). */
  signal?: AbortSignal;
}

const TAIL_LINES = 40;

/** The box in dir when it is complete and of this harness's format; else why not (to rebuild it). */
async function usableBox(dir: string, release: DebianRelease): Promise<DebianBox | string> {
  try {
    return await readDebianBox(dir, release);
  } catch (err) {
    if (err instanceof DebianBoxIncompleteError) return `no complete box there (${err.file})`;
    if (err instanceof DebianBoxOutdatedError) return err.reason;
    if (err instanceof DebianBoxMetaError) return err.message;
    throw err;
  }
}

/**
 * Returns the box of `release` in outDir, building it first with build-box.sh when there is none of this
 * harness's format (a few minutes; needs Debian's mirrors). One build at a time per directory: a second
 * run waits on outDir.lock and then uses what the first one built. The script renames its work dir to
 * outDir only when it succeeds.
 */
export async function buildDebianBox(
  outDir: string,
  release: DebianRelease,
  opts: BuildDebianBoxOptions = {},
): Promise<DebianBox> {
  const dir = path.resolve(outDir);
  const log = opts.log ?? (() => {});
  if (!opts.force) {
    const box = await usableBox(dir, release);
    if (typeof box !== "string") return box;
  }
  await mkdir(path.dirname(dir), { recursive: true });
  await using _lock = await acquireLock(`${dir}.lock`, { log });
  let why = "rebuild asked for";
  if (!opts.force) {
    const box = await usableBox(dir, release);
    if (typeof box !== "string") return box; // built by another run while this one waited
    why = box;
  }
  log(`building the ${release.box} box (Debian ${release.suite}) into ${dir} (a few minutes, once): ${why}`);
  await checkBuildTools(release.box);
  const tail: string[] = [];
  const child = execa("bash", [BUILD_SCRIPT, "--force", dir], {
    all: true,
    env: {
      ...buildEnv(release),
      NBXEN_ROOT_PASSWORD: DEBIAN_ROOT_PASSWORD,
      NBXEN_BOX_FORMAT: String(DEBIAN_BOX_FORMAT),
    },
    buffer: false,
    reject: false,
    stdin: "ignore",
    ...(opts.signal ? { cancelSignal: opts.signal } : {}),
  });
  for await (const line of child.iterable({ from: "all" })) {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    log(line);
  }
  const result = await child;
  if (result.failed) {
    throw new DebianBoxBuildError(release.box, dir, {
      ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
      ...(result.signal ? { signal: result.signal } : {}),
      tail,
    });
  }
  return readDebianBox(dir, release);
}
