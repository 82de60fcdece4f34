import { mkdir } from "node:fs/promises";
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
import { chooseAccelerator } from "./machine/accel.ts";
import { harnessVersion, writeMeta } from "./report/history.ts";
import { HowtoRunner } from "./steps/runner.ts";
import { writeRunReports } from "./steps/report.ts";
import { HarnessError } from "../lib/errors.ts";
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

  static async open(
    config: ResolvedConfig,
    opts: { reporter?: Reporter; signal?: AbortSignal } = {},
  ): Promise<HowtoSession> {
    const reporter = opts.reporter ?? createReporter();
    const box = await getBox(config.box, config.xenPackage);
    const machineDir = machineDirFor(config, box.name);
    await mkdir(machineDir, { recursive: true, mode: 0o700 });
    let lock: FileLock;
    try {
      // One run per machine directory, refused at once: a second run would stop the first's machine.
      lock = await acquireLock(path.join(machineDir, "run.lock"), { timeoutMs: 0 });
    } catch (error) {
      if (error instanceof LockTimeoutError) throw new MachineBusyError(machineDir, error.holderPid);
      throw error;
    }
    try {
      return await HowtoSession.openLocked(config, box, machineDir, reporter, lock, opts.signal);
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
    signal: AbortSignal | undefined,
  ): Promise<HowtoSession> {
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
    const xenPackages = await box.resolveChosenXen?.({ config, store, reporter });
    if (xenPackages) reporter.info(`xen packages: ${xenPackages.join(" ")}`);
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
    };
    return new HowtoSession(box, ctx, new HowtoRunner(box, ctx), lock);
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
