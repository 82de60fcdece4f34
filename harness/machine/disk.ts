import { access, mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { HarnessError } from "../../lib/errors.ts";

export class DiskError extends HarnessError {
  constructor(
    readonly file: string,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(`${file}: ${message}`, options);
  }
}

async function qemuImg(args: string[], file: string): Promise<string> {
  try {
    const { stdout } = await execa("qemu-img", args);
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; shortMessage?: string; code?: string };
    if (e.code === "ENOENT")
      throw new DiskError(file, "qemu-img is not installed (apt-get install qemu-utils)");
    throw new DiskError(
      file,
      `qemu-img ${args[0]} failed: ${(e.stderr || e.shortMessage || String(error)).trim()}`,
      {
        cause: error,
      },
    );
  }
}

/** Creates an empty qcow2 disk, atomically: a half-made image never sits under the final name. */
export async function createDisk(file: string, sizeGiB: number): Promise<void> {
  const tmp = `${file}.part`;
  await mkdir(path.dirname(file), { recursive: true });
  await rm(tmp, { force: true });
  await qemuImg(["create", "-q", "-f", "qcow2", tmp, `${sizeGiB}G`], file);
  await rename(tmp, file);
}

/** Creates a qcow2 overlay on a base image; writes go to the overlay and the base stays untouched. */
export async function createOverlay(
  file: string,
  base: string,
  baseFormat: "qcow2" | "raw" = "qcow2",
): Promise<void> {
  const tmp = `${file}.part`;
  await mkdir(path.dirname(file), { recursive: true });
  await rm(tmp, { force: true });
  await qemuImg(["create", "-q", "-f", "qcow2", "-F", baseFormat, "-b", base, tmp], file);
  await rename(tmp, file);
}

export interface DiskInfo {
  virtualSize: number;
  format: string;
  backingFile?: string;
  snapshots: string[];
}

export async function diskInfo(file: string): Promise<DiskInfo> {
  const out = JSON.parse(await qemuImg(["info", "--output=json", "-U", file], file)) as {
    "virtual-size": number;
    format: string;
    "backing-filename"?: string;
    snapshots?: { name: string }[];
  };
  return {
    virtualSize: out["virtual-size"],
    format: out.format,
    backingFile: out["backing-filename"],
    snapshots: (out.snapshots ?? []).map((s) => s.name),
  };
}

export async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks a qcow2 image's metadata (`qemu-img check`): undefined when it is sound (leaked clusters only
 * waste space), else what is wrong. A truncated image passes `qemu-img info` but not this.
 */
export async function checkDisk(file: string): Promise<string | undefined> {
  if (!(await exists(file))) return `${file} does not exist`;
  const r = await execa("qemu-img", ["check", "-U", file], { reject: false });
  if (r.exitCode === 0 || r.exitCode === 3 || r.exitCode === 63) return undefined;
  if ((r as { code?: string }).code === "ENOENT")
    throw new DiskError(file, "qemu-img is not installed (apt-get install qemu-utils)");
  const errors = `${r.stderr}\n${r.stdout}`
    .split("\n")
    .filter((l) => /error|corrupt|incomplete|invalid/i.test(l))
    .slice(0, 5)
    .join("; ");
  return r.exitCode === 2
    ? `qemu-img check found corruption: ${errors || "errors in the image"}`
    : `qemu-img check could not read the image (status ${r.exitCode}): ${errors || r.stderr.trim()}`;
}
