import { createHash } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import {
  acquireLock,
  ArtifactStore,
  LocalArtifactServer,
  LockTimeoutError,
  type FileLock,
} from "../images/store/index.ts";
import type { Box, BoxContext, ResolvedConfig } from "./boxes/box.ts";
import { getBox } from "./boxes/registry.ts";
import {
  describeLocalPair,
  localPairDigests,
  readLocalXenPair,
  type LocalXenPair,
} from "../images/catalog/netbsd-local-packages.ts";
import { chooseAccelerator } from "./machine/accel.ts";
import { HOWTO_TEXT_FILE, howtoTableDigest } from "./howto/lines.ts";
import { harnessVersion, writeMeta } from "./report/history.ts";
import { HowtoRunner } from "./steps/runner.ts";
import { writeRunReports } from "./steps/report.ts";
import { HarnessError, UsageError } from "../lib/errors.ts";
import { createReporter, type Reporter } from "../lib/reporter.ts";

/** Where a box's machine keeps its state: one directory per box under the project's state dir. */
export function machineDirFor(config: ResolvedConfig, box: string): string {
  return path.join(config.stateDir, "machines", box);
}

/** Another run (`nbxen up`, the HOWTO specs) holds this box's machine directory. */
export class MachineBusyError extends HarnessError {
  constructor(
    readonly machineDir: string,
    readonly holderPid: number | undefined,
  ) {
    super(
      `another nbxen run${holderPid !== undefined ? ` (pid ${holderPid})` : ""} is using ${machineDir}; ` +
        `wait for it to end, or stop it (Ctrl-C in its terminal${holderPid !== undefined ? `, or kill ${holderPid}` : ""})`,
    );
  }
}

/**
 * Takes the machine directory's run lock, or refuses at once (MachineBusyError): one run per machine
 * directory, and no halt, destroy, exec or snapshot under a run (it would stop or change its machine).
 */
export async function lockMachineDir(machineDir: string): Promise<FileLock> {
  await mkdir(machineDir, { recursive: true, mode: 0o700 });
  try {
    return await acquireLock(path.join(machineDir, "run.lock"), { timeoutMs: 0 });
  } catch (error) {
    if (error instanceof LockTimeoutError) throw new MachineBusyError(machineDir, error.holderPid);
    throw error;
  }
}

/**
 * Everything one HOWTO run needs, opened together and closed together: the run lock of the box's machine
 * directory, the box, the artifact store and its local server, the accelerator decision, the step runner.
 * The session is the one owner of the machine: steps (re)boot it through bootMachine into
 * `runner.state.machine`, and closing the session stops it unless `keepMachineRunning()` handed it over.
 * `await using` closes it.
 */
export class HowtoSession implements AsyncDisposable {
  private constructor(
    readonly box: Box,
    readonly ctx: BoxContext,
    readonly runner: HowtoRunner,
    private readonly lock: FileLock,
  ) {}

  /** When the run began: its record's date. */
  readonly openedAt = new Date().toISOString();

  /**
   * `updateXenTo`: after the HOWTO steps, an update-xen step to that Xen (a xenkernelNNN name or the
   * paths of a locally built pair); UsageError when the box cannot update its Xen.
   */
  static async open(
    config: ResolvedConfig,
    opts: { reporter?: Reporter; signal?: AbortSignal; updateXenTo?: readonly string[] } = {},
  ): Promise<HowtoSession> {
    const reporter = opts.reporter ?? createReporter();
    const localXen = await readChosenLocalPair(config);
    // A local pair names its own xenkernelNNN: the box is built for that pair.
    const box = await getBox(config.box, localXen ? `xenkernel${localXen.nnn}` : config.xenPackage);
    const machineDir = machineDirFor(config, box.name);
    const lock = await lockMachineDir(machineDir);
    try {
      return await HowtoSession.openLocked(config, box, machineDir, reporter, lock, { ...opts, localXen });
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  private static async openLocked(
    config: ResolvedConfig,
    box: Box,
    machineDir: string,
    reporter: Reporter,
    lock: FileLock,
    opts: { signal?: AbortSignal; updateXenTo?: readonly string[]; localXen: LocalXenPair | undefined },
  ): Promise<HowtoSession> {
    const { signal, localXen } = opts;
    const downloads = new Map<string, ReturnType<Reporter["progress"]>>();
    const store = new ArtifactStore({
      cacheDir: config.cacheDir,
      mirror: config.mirror,
      log: (l) => reporter.debug(l),
      onProgress: (p) => {
        let h = downloads.get(p.url);
        if (!h) downloads.set(p.url, (h = reporter.progress(`download ${p.name}`, p.totalBytes)));
        h.update(p.receivedBytes, p.totalBytes);
        if (p.totalBytes !== undefined && p.receivedBytes >= p.totalBytes) {
          h.done("downloaded");
          downloads.delete(p.url);
        }
      },
    });
    // Before anything boots: a chosen Xen pair that does not exist is bad input (exit 2).
    if (localXen) reporter.info(`local Xen packages: ${describeLocalPair(localXen)}`);
    const xenPackages = await box.resolveChosenXen?.({
      config,
      store,
      reporter,
      ...(localXen ? { localXen } : {}),
    });
    if (xenPackages) reporter.info(`xen packages: ${xenPackages.join(" ")}`);
    const extraSteps = [];
    if (opts.updateXenTo) {
      if (!box.updateXenStep)
        throw new UsageError(
          `box ${box.name} cannot update its Xen in place: update-xen replaces a pkgsrc xenkernelNNN/xentoolsNNN pair on a netbsd-* box`,
        );
      extraSteps.push(await box.updateXenStep(opts.updateXenTo, { config, store, reporter }));
    }
    const accel = await chooseAccelerator({
      qemuBinary: config.qemu.binary,
      override: config.qemu.accelerator,
      cpu: config.qemu.cpu,
    });
    reporter.info(`accelerator: ${accel.reason}; CPU model ${accel.cpu}`);
    reporter.info(`HVM domUs: ${accel.hvmCapable ? "possible" : "not possible"}: ${accel.hvmReason}`);
    const server = await LocalArtifactServer.start();
    const ctx: BoxContext = {
      config,
      store,
      server,
      accel,
      reporter,
      machineDir,
      ...(signal ? { signal } : {}),
      ...(xenPackages ? { xenPackages } : {}),
      ...(localXen ? { localXen } : {}),
    };
    return new HowtoSession(box, ctx, new HowtoRunner(box, ctx, extraSteps), lock);
  }

  /** Leaves the machine running after the session closes (`nbxen up` when it has finished). */
  async keepMachineRunning(): Promise<boolean> {
    const m = this.runner.state.machine;
    if (!m || !m.running) return false;
    await m.detach();
    await m.disconnect();
    this.runner.state.machine = undefined;
    this.runner.state.shell = undefined;
    return true;
  }

  /** The box's report directory: the reports of the latest run, and its run.json. */
  get reportDir(): string {
    return path.join(this.ctx.config.stateDir, "reports", this.box.name);
  }

  async writeReports(): Promise<{ junit: string; summary: string; howto: string; howtoJson: string }> {
    const dir = this.reportDir;
    await writeMeta(dir, {
      box: this.box.name,
      createdAt: this.openedAt,
      harness: await harnessVersion(),
      accelerator: `${this.ctx.accel.accelerator} -cpu ${this.ctx.accel.cpu}`,
      xenPackages: this.ctx.xenPackages ?? this.box.facts.xenPackages,
      howto: await howtoIdentity(),
      ...(this.ctx.localXen
        ? {
            localXenPackages: localPairDigests(this.ctx.localXen),
          }
        : {}),
      ...(this.runner.state.xenUpdate
        ? {
            xenUpdate: {
              from: this.runner.state.xenUpdate.from,
              to: this.runner.state.xenUpdate.to,
              ...(this.runner.state.xenUpdate.localFiles
                ? { localFiles: this.runner.state.xenUpdate.localFiles }
                : {}),
            },
          }
        : {}),
      ...(this.runner.notes.length ? { notes: this.runner.notes } : {}),
    });
    return writeRunReports(
      dir,
      this.box.name,
      this.runner.results,
      this.runner.howtoOutcomes(),
      this.runner.notes,
      this.ctx.xenPackages,
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.runner.stopMachine();
      await this.ctx.server.close();
    } finally {
      await this.lock.release();
    }
  }
}

/** The HOWTO table and text a run is checked against, for its record. */
async function howtoIdentity(): Promise<{ tableDigest: string; text: string; textDigest: string }> {
  const file = fileURLToPath(new URL(`../${HOWTO_TEXT_FILE}`, import.meta.url));
  const text = await readFile(file).catch(() => undefined);
  return {
    tableDigest: howtoTableDigest(),
    text: HOWTO_TEXT_FILE,
    textDigest: text ? createHash("sha256").update(text).digest("hex").slice(0, 16) : "unreadable",
  };
}

/**
 * The locally built pair the config names (xenPackageFiles), read before anything is locked or booted:
 * bad files, a Debian box, or an xenPackage naming another pair are bad input.
 */
async function readChosenLocalPair(config: ResolvedConfig): Promise<LocalXenPair | undefined> {
  if (!config.xenPackageFiles) return undefined;
  if ((await getBox(config.box)).facts.os !== "netbsd")
    throw new UsageError(
      `xenPackageFiles (--xen-package): box ${config.box} does not install pkgsrc packages; local Xen packages are for a netbsd-* box`,
    );
  const pair = await readLocalXenPair(config.xenPackageFiles);
  if (config.xenPackage !== undefined && config.xenPackage !== `xenkernel${pair.nnn}`)
    throw new UsageError(
      `xenPackage ${config.xenPackage} and the local packages (${pair.kernel.pkgname}, ${pair.tools.pkgname}) name different pairs: leave xenPackage unset or make it xenkernel${pair.nnn}`,
    );
  return pair;
}
