/**
 * The raw floor of the debian-12 stack: the box's own Xen 4.17 and Linux kernel, multibooted by QEMU
 * without GRUB, systemd or a disk, into a dom0 initramfs whose init only starts xenstored and xenconsoled
 * and runs `xl create -c` of a PV domU (the same kernel, an initramfs that prints a marker and powers off).
 * Built by floor-build.sh from the box's files, cached under <cache>/bench-floor/<hash of the inputs>/, and
 * booted with the harness's Machine under the accelerator and CPU model the harness chooses.
 */
import { xenCmdline } from "../harness/boxes/debian/steps.ts";
import { LINUX_PV_CLOCK } from "../harness/boxes/debian/domu-root.ts";
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import type { ResolvedConfig } from "../harness/boxes/box.ts";
import type { AcceleratorChoice } from "../harness/machine/accel.ts";
import { Machine } from "../harness/machine/machine.ts";
import { acquireLock } from "../images/store/index.ts";
import { HarnessError } from "../lib/errors.ts";

export const FLOOR_MARKS = {
  FLOOR_DOM0_MARK: "NBXEN-FLOOR-DOM0-INIT",
  FLOOR_TOOLS_MARK: "NBXEN-FLOOR-TOOLS-UP",
  FLOOR_DOMU_MARK: "NBXEN-FLOOR-DOMU-UP",
  FLOOR_DONE_MARK: "NBXEN-FLOOR-DOMU-GONE",
} as const;

/** What floor-build.sh is given: the marks, and the domU's kernel line with the boxes' clock. */
const FLOOR_BUILD_ENV = {
  ...FLOOR_MARKS,
  FLOOR_DOMU_EXTRA: `console=hvc0 quiet ${LINUX_PV_CLOCK}`,
};

const BUILD_SCRIPT = fileURLToPath(new URL("./floor-build.sh", import.meta.url));
/** Box files the floor is made of. box.json stands for disk.qcow2: every build of the box rewrites both. */
const INPUTS = ["box.json", "vmlinuz", "xen-repo/SHA256SUMS"] as const;

export interface FloorMeta {
  xenVersion: string;
  kernelVersion: string;
  dom0InitramfsBytes: number;
  domUInitramfsBytes: number;
  libraries: number;
}

export interface Floor {
  dir: string;
  xen: string;
  kernel: string;
  dom0Initramfs: string;
  meta: FloorMeta;
}

export class FloorBuildError extends HarnessError {
  constructor(
    readonly outDir: string,
    readonly output: string,
  ) {
    super(
      `building the bench floor into ${outDir} failed:\n${output.trim().split("\n").slice(-20).join("\n")}`,
    );
  }
}

export class FloorBootError extends HarnessError {
  constructor(
    readonly stage: string,
    readonly transcriptDir: string,
    cause: unknown,
  ) {
    super(
      `the bench floor did not reach ${stage}: ${cause instanceof Error ? cause.message : String(cause)}\nconsole transcript: ${transcriptDir}`,
      { cause },
    );
  }
}

async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

async function floorKey(boxDir: string): Promise<string> {
  const h = createHash("sha256");
  for (const f of INPUTS) h.update(`${f} ${await sha256File(path.join(boxDir, f))}\n`);
  h.update(`floor-build.sh ${await sha256File(BUILD_SCRIPT)}\n`);
  h.update(JSON.stringify(FLOOR_BUILD_ENV));
  return h.digest("hex").slice(0, 16);
}

function floorIn(dir: string, meta: FloorMeta): Floor {
  return {
    dir,
    xen: path.join(dir, "xen"),
    kernel: path.join(dir, "vmlinuz"),
    dom0Initramfs: path.join(dir, "dom0.cpio"),
    meta,
  };
}

/** The floor for the box in boxDir: from the cache, or built now (about 10 s). One build at a time. */
export async function ensureFloor(
  boxDir: string,
  cacheDir: string,
  log: (line: string) => void = () => {},
): Promise<Floor & { built: boolean }> {
  const dir = path.join(cacheDir, "bench-floor", await floorKey(boxDir));
  const metaFile = path.join(dir, "floor.json");
  const cached = async () => floorIn(dir, JSON.parse(await readFile(metaFile, "utf8")) as FloorMeta);
  if (existsSync(metaFile)) return { ...(await cached()), built: false };
  await mkdir(path.dirname(dir), { recursive: true });
  await using _lock = await acquireLock(`${dir}.lock`, { log });
  if (existsSync(metaFile)) return { ...(await cached()), built: false };
  log(`building the bench floor into ${dir}`);
  const r = await execa("bash", [BUILD_SCRIPT, boxDir, dir], {
    env: FLOOR_BUILD_ENV,
    all: true,
    reject: false,
    stdin: "ignore",
  });
  if (r.failed) throw new FloorBuildError(dir, String(r.all ?? ""));
  return { ...(await cached()), built: true };
}

export interface FloorTimes {
  /** Seconds from QEMU's start (Machine.start called) to each point of the boot. */
  machineStarted: number;
  xenBanner: number;
  dom0Init: number;
  toolsUp: number;
  domUMarker: number;
  domUGone: number;
  poweredOff: number;
}

/** The dom0's console and clock as the box's GRUB_CMDLINE_LINUX_XEN_REPLACE sets them (no systemd here). */
const DOM0_CMDLINE = `console=hvc0 earlyprintk=xen ${LINUX_PV_CLOCK}`;

/** Boots the floor once and times it from QEMU's start to the domU's end and the machine's power-off. */
export async function bootFloor(
  floor: Floor,
  config: Pick<ResolvedConfig, "memoryMiB" | "cpus" | "dom0MemoryMiB" | "qemu">,
  accel: Pick<AcceleratorChoice, "accelerator" | "cpu">,
  stateDir: string,
): Promise<FloorTimes> {
  // QEMU's -initrd takes multiboot modules separated by commas, each "path args".
  for (const f of [floor.kernel, floor.dom0Initramfs])
    if (/[, ]/.test(f)) throw new HarnessError(`the floor's path must hold no comma or space: ${f}`);
  const t0 = performance.now();
  const at = () => (performance.now() - t0) / 1000;
  await using m = await Machine.start({
    name: "bench-floor",
    stateDir,
    qemuBinary: config.qemu.binary,
    accelerator: accel.accelerator,
    cpu: accel.cpu,
    memoryMiB: config.memoryMiB,
    cpus: config.cpus,
    disks: [],
    cdroms: [],
    boot: "disk",
    kernel: {
      kernel: floor.xen,
      initrd: `${floor.kernel} ${DOM0_CMDLINE},${floor.dom0Initramfs}`,
      append: xenCmdline(config.dom0MemoryMiB),
    },
    rng: false,
    extraArgs: config.qemu.extraArgs,
  });
  const machineStarted = at();
  let last: RegExpExecArray | undefined;
  const wait = async (stage: string, pattern: RegExp | string, timeoutMs: number) => {
    try {
      last = (await m.console.expect(pattern, { timeoutMs, description: `floor: ${stage}` })).match;
      return at();
    } catch (error) {
      throw new FloorBootError(stage, m.transcriptDir, error);
    }
  };
  const xenBanner = await wait("the Xen banner", /\(XEN\) Xen version \d+\.\d+/, 120_000);
  const dom0Init = await wait("the dom0's init", FLOOR_MARKS.FLOOR_DOM0_MARK, 300_000);
  const toolsUp = await wait("xenstored and xenconsoled", FLOOR_MARKS.FLOOR_TOOLS_MARK, 120_000);
  const domUMarker = await wait("the domU's marker", FLOOR_MARKS.FLOOR_DOMU_MARK, 300_000);
  const domUGone = await wait(
    "the domU's end",
    new RegExp(`${FLOOR_MARKS.FLOOR_DONE_MARK} xl=(\\d+)`),
    120_000,
  );
  const xl = last?.[1];
  if (xl !== "0")
    throw new FloorBootError("the domU's end", m.transcriptDir, `xl create -c exited with ${xl}`);
  if (!(await m.waitForExit(120_000)))
    throw new FloorBootError("power-off", m.transcriptDir, "the dom0 did not power the machine off");
  return { machineStarted, xenBanner, dom0Init, toolsUp, domUMarker, domUGone, poweredOff: at() };
}
