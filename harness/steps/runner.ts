import { createHash } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Box, BoxContext, BootMode, HowtoState } from "../boxes/box.ts";
import { tcgAfterKvmStall } from "../machine/accel.ts";
import { findKvmStall, type KvmBootStalledError } from "../machine/boot-watchdog.ts";
import { checkDisk, diskInfo } from "../machine/disk.ts";
import { abortReason, anySignal, InterruptedError, raceAbort, throwIfAborted } from "../../lib/abort.ts";
import { HarnessError, UsageError } from "../../lib/errors.ts";
import type { HowtoCheck, HowtoOutcome } from "../howto/refs.ts";
import { bootMachine } from "./boot.ts";
import { checkNotDeclared, howtoOutcomes } from "./howto-outcomes.ts";
import type { StepResult } from "./report.ts";
import type { Step } from "./step.ts";

/** A HOWTO step failed; the run stops there (the later steps are not run). */
export class StepFailedError extends HarnessError {
  constructor(
    readonly step: string,
    readonly title: string,
    cause: unknown,
    /** What else went wrong at the same time, said first: QEMU's exit, when QEMU went away. */
    readonly context?: string,
  ) {
    super(
      `step ${step} (${title}) failed: ${context ? `${context}\n` : ""}${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

/** A step went past its time bound (Step.timeoutMs). */
export class StepTimeoutError extends HarnessError {
  constructor(
    readonly step: string,
    readonly timeoutMs: number,
    readonly lastScreen: string | undefined,
  ) {
    super(
      `step ${step} did not finish within its bound of ${(timeoutMs / 1000).toFixed(1)}s` +
        (lastScreen !== undefined
          ? `\nlast screen:\n${lastScreen
              .split("\n")
              .map((l) => `  | ${l}`)
              .join("\n")}`
          : ""),
    );
  }
}

/** The run was interrupted (Ctrl-C, SIGTERM) during a step, which is marked "interrupted" in the results. */
export class StepInterruptedError extends InterruptedError {
  constructor(
    readonly step: string,
    signalName: string,
  ) {
    super(signalName, `interrupted by ${signalName} during step ${step}`);
  }
}

/** A snapshot or the disk holding it is damaged: it is not used, and the error says how to go on. */
export class SnapshotUnusableError extends HarnessError {
  constructor(
    readonly disk: string,
    readonly snapshot: string | undefined,
    problem: string,
  ) {
    super(
      `${snapshot ? `snapshot ${snapshot} in ` : ""}${disk} cannot be used: ${problem}\n` +
        `Its step snapshots are not used again. To rebuild the machine: \`nbxen destroy\`, then \`nbxen up\` ` +
        `(the artifact cache is kept).`,
    );
  }
}

interface SnapshotRecord {
  step: string;
  bootMode: BootMode;
  fingerprint: string;
  createdAt: string;
  /** The exact PKGNAMEs of the Xen the snapshot's machine has (or will have) installed. */
  xenPackages?: string[];
  /** What the step recorded of the HOWTO while it ran: a run resumed from here reports it again. */
  checks?: HowtoCheck[];
}

/**
 * Runs a box's HOWTO steps in order. A passed step ends in a named VM snapshot, so a later run resumes
 * from the last good one (`--from STEP`, or automatically) instead of rebuilding. A failed or interrupted
 * step ends the run; the machine belongs to the run (HowtoSession), not to the steps.
 *
 * `ctx.signal` (Ctrl-C from the CLI) reaches every wait on the machine's console: bootMachine hands it to
 * Machine.start, which binds it to the console. A step's time bound aborts the same way.
 */
export class HowtoRunner {
  readonly state: HowtoState;
  readonly results: StepResult[];
  /** What the run summary must say besides the steps (e.g. a fallback from KVM to TCG). */
  readonly notes: string[] = [];
  private readonly steps: Step<HowtoState>[];
  private next = 0;
  /** Aborted by a step's time bound; joined with the caller's signal into ctx.signal. */
  private readonly bound = new AbortController();

  /** `extraSteps` run after the box's HOWTO steps (an update-xen step). */
  constructor(
    readonly box: Box,
    ctx: BoxContext,
    extraSteps: readonly Step<HowtoState>[] = [],
  ) {
    ctx.signal = anySignal(ctx.signal, this.bound.signal);
    this.steps = [...box.steps(), ...extraSteps];
    this.state = { ctx, box, bootMode: "install-media", checks: [] };
    this.results = this.steps.map((s) => ({ step: s.name, title: s.title, status: "not-run", seconds: 0 }));
  }

  get stepNames(): string[] {
    return this.steps.map((s) => s.name);
  }

  private get snapshotsFile(): string {
    return path.join(this.state.ctx.machineDir, "snapshots.json");
  }

  /**
   * Identifies the inputs a snapshot depends on: a snapshot made with other settings is not reused.
   * `xenPackages`: the exact PKGNAMEs of the Xen the machine has, when known (undefined drops out).
   */
  fingerprint(xenPackages?: string[]): string {
    const c = this.state.ctx.config;
    const relevant = {
      box: c.box,
      memoryMiB: c.memoryMiB,
      cpus: c.cpus,
      diskGiB: c.diskGiB,
      dom0MemoryMiB: c.dom0MemoryMiB,
      xenPackage: c.xenPackage,
      xenPackages,
      // A rebuilt local package keeps its PKGNAME: its file's digest tells the builds apart.
      localXen: this.state.ctx.localXen
        ? [this.state.ctx.localXen.kernel.sha256, this.state.ctx.localXen.tools.sha256]
        : undefined,
      domUs: c.domUs,
      accel: this.state.ctx.accel.accelerator,
      cpu: this.state.ctx.accel.cpu,
    };
    return createHash("sha256").update(JSON.stringify(relevant)).digest("hex").slice(0, 16);
  }

  /**
   * The recorded snapshots made with this configuration. A record names the Xen PKGNAMEs it was made
   * with; when the session resolved them already (a chosen pair), they must be the same.
   */
  async matchingSnapshots(): Promise<SnapshotRecord[]> {
    const pinned = this.state.ctx.xenPackages;
    return (await this.readSnapshots()).filter(
      (r) =>
        r.fingerprint ===
        this.fingerprint(r.xenPackages === undefined ? undefined : (pinned ?? r.xenPackages)),
    );
  }

  async readSnapshots(): Promise<SnapshotRecord[]> {
    try {
      return JSON.parse(await readFile(this.snapshotsFile, "utf8")) as SnapshotRecord[];
    } catch {
      return [];
    }
  }

  private async writeSnapshots(records: SnapshotRecord[]): Promise<void> {
    await writeFile(this.snapshotsFile, JSON.stringify(records, null, 2) + "\n");
  }

  /**
   * The usable snapshots: recorded, made with this configuration, and present in the machine's disk.
   * A disk that qemu-img cannot read, or whose check finds corruption, has none: SnapshotUnusableError.
   */
  async usableSnapshots(disk: string | undefined): Promise<SnapshotRecord[]> {
    const recorded = await this.matchingSnapshots();
    if (!disk || recorded.length === 0) return [];
    const problem = await checkDisk(disk);
    if (problem) {
      // Not reused by this run nor by the next one.
      await this.writeSnapshots([]);
      throw new SnapshotUnusableError(disk, undefined, problem);
    }
    const inDisk = new Set((await diskInfo(disk)).snapshots);
    return recorded.filter((r) => inDisk.has(r.step));
  }

  /**
   * Decides where to start. `from` names the first step to run: the snapshot of the step before it must exist.
   * Without `from`, resumes after the last step with a usable snapshot. `fresh` ignores snapshots.
   */
  async prepare(opts: { from?: string; fresh?: boolean; disk?: string }): Promise<void> {
    const names = this.stepNames;
    if (opts.from !== undefined && !names.includes(opts.from))
      throw new UsageError(
        `--from ${opts.from}: no such step in box ${this.box.name}; steps: ${names.join(", ")}`,
      );
    const usable = opts.fresh ? [] : await this.usableSnapshots(opts.disk);
    let resumeFrom: SnapshotRecord | undefined;
    if (opts.from !== undefined) {
      const i = names.indexOf(opts.from);
      if (i > 0) {
        const prev = names[i - 1]!;
        resumeFrom = usable.find((r) => r.step === prev);
        if (!resumeFrom)
          throw new UsageError(
            `--from ${opts.from} needs the snapshot of step ${prev}, which does not exist for this configuration; ` +
              `usable snapshots: ${usable.map((r) => r.step).join(", ") || "none"}. Run \`nbxen up\` without --from first.`,
          );
      }
    } else {
      for (let i = names.length - 1; i >= 0 && !resumeFrom; i--)
        resumeFrom = usable.find((r) => r.step === names[i]);
    }
    if (!resumeFrom) {
      this.next = 0;
      return;
    }
    const index = names.indexOf(resumeFrom.step);
    this.state.ctx.reporter.info(`resuming from snapshot ${resumeFrom.step} (made ${resumeFrom.createdAt})`);
    const t0 = Date.now();
    try {
      await raceAbort(
        bootMachine(this.state, resumeFrom.bootMode, { snapshot: resumeFrom.step }),
        this.state.ctx.signal,
      );
    } catch (error) {
      if (error instanceof InterruptedError) throw error;
      const stall = this.fallbackFor(error);
      if (stall) {
        await this.fallBackToTcg(stall);
        return;
      }
      // loadvm refused it (damaged snapshot data): never try it again.
      if (error instanceof HarnessError && /loadvm/.test(error.message)) {
        await this.writeSnapshots((await this.readSnapshots()).filter((r) => r.step !== resumeFrom.step));
        throw new SnapshotUnusableError(opts.disk ?? "the machine's disk", resumeFrom.step, error.message);
      }
      throw error;
    }
    this.state.ctx.xenPackages ??= resumeFrom.xenPackages;
    for (let i = 0; i <= index; i++)
      this.state.checks.push(...(usable.find((r) => r.step === names[i])?.checks ?? []));
    for (let i = 0; i <= index; i++)
      this.results[i] = {
        ...this.results[i]!,
        status: "resumed",
        snapshot: i === index ? resumeFrom.step : undefined,
      };
    this.results[index]!.seconds = (Date.now() - t0) / 1000;
    this.next = index + 1;
  }

  /** The KVM stall in `error` when the run may fall back to TCG for it (once, under `accelerator: auto`). */
  private fallbackFor(error: unknown): KvmBootStalledError | undefined {
    const stall = findKvmStall(error);
    const accel = this.state.ctx.accel;
    return stall && accel.accelerator === "kvm" && accel.fallbackAllowed ? stall : undefined;
  }

  /**
   * The boot watchdog stopped a KVM boot: redo the run from its first step under TCG. Nothing made under
   * KVM is kept (its disk and snapshots belong to another CPU model).
   */
  private async fallBackToTcg(stall: KvmBootStalledError): Promise<void> {
    const { ctx } = this.state;
    const note = `boot watchdog: ${stall.summary}`;
    ctx.reporter.warn(note);
    this.notes.push(note);
    ctx.accel = await tcgAfterKvmStall(
      ctx.accel,
      `a KVM ${stall.phase} stalled (console silent ${Math.round(stall.silentForMs / 1000)}s)`,
    );
    ctx.reporter.info(`accelerator: ${ctx.accel.reason}; CPU model ${ctx.accel.cpu}`);
    await this.stopMachine();
    await rm(this.box.diskPath(ctx.machineDir), { force: true });
    this.results.forEach(
      (r, i) => (this.results[i] = { step: r.step, title: r.title, status: "not-run", seconds: 0 }),
    );
    this.state.checks.length = 0;
    this.next = 0;
  }

  async stopMachine(): Promise<void> {
    const m = this.state.machine;
    this.state.machine = undefined;
    this.state.shell = undefined;
    if (m) await m.stop();
  }

  /** One outcome per HOWTO table line, from the steps as they fared so far. */
  howtoOutcomes(): HowtoOutcome[] {
    return howtoOutcomes(this.box.name, this.steps, this.results, this.state.checks);
  }

  get done(): boolean {
    return this.next >= this.steps.length;
  }

  /** Runs the steps not yet run, up to and including `last` (default: all). */
  async runTo(last?: string): Promise<void> {
    const names = this.stepNames;
    const end = last === undefined ? names.length - 1 : names.indexOf(last);
    if (end < 0) throw new UsageError(`no step ${last} in box ${this.box.name}; steps: ${names.join(", ")}`);
    for (; this.next <= end; this.next++) {
      const step = this.steps[this.next]!;
      const result = this.results[this.next]!;
      const t0 = Date.now();
      this.state.ctx.reporter.info(`[${this.next + 1}/${names.length}] ${step.name}: ${step.title}`);
      let timer: NodeJS.Timeout | undefined;
      if (step.timeoutMs !== undefined)
        timer = setTimeout(
          () =>
            this.bound.abort(
              new StepTimeoutError(step.name, step.timeoutMs!, this.state.machine?.console.screenText()),
            ),
          step.timeoutMs,
        );
      const checksBefore = this.state.checks.length;
      try {
        throwIfAborted(this.state.ctx.signal);
        // Raced, so that work that does not watch the signal (a download) cannot hold the run.
        await raceAbort(step.run(this.state), this.state.ctx.signal);
        const checks = this.state.checks.slice(checksBefore);
        const stray = checkNotDeclared(step, checks);
        if (stray) throw new HarnessError(stray);
        if (step.snapshot !== false) {
          if (!this.state.machine)
            throw new HarnessError(`step ${step.name} ended without a running machine to snapshot`);
          await this.state.machine.savevm(step.name);
          const records = (await this.readSnapshots()).filter((r) => r.step !== step.name);
          records.push({
            step: step.name,
            bootMode: this.state.bootMode,
            // After the step: the one that installs Xen has just learnt the PKGNAMEs.
            fingerprint: this.fingerprint(this.state.ctx.xenPackages),
            createdAt: new Date().toISOString(),
            ...(this.state.ctx.xenPackages ? { xenPackages: this.state.ctx.xenPackages } : {}),
            ...(checks.length > 0 ? { checks } : {}),
          });
          await this.writeSnapshots(records);
          result.snapshot = step.name;
        }
        result.status = "passed";
        result.seconds = (Date.now() - t0) / 1000;
        this.state.ctx.reporter.info(
          `[${this.next + 1}/${names.length}] ${step.name}: passed in ${result.seconds.toFixed(1)}s${result.snapshot ? `, snapshot ${result.snapshot}` : ""}`,
        );
      } catch (caught) {
        const signal = this.state.ctx.signal;
        // Whatever the step saw (a console closed by Ctrl-C, say), the signal says why it ended.
        const error = signal?.aborted ? abortReason(signal) : caught;
        const stall = this.fallbackFor(error);
        if (stall) {
          await this.fallBackToTcg(stall);
          this.next = -1; // the loop's increment starts the run again at the first step
          continue;
        }
        result.seconds = (Date.now() - t0) / 1000;
        this.next = this.steps.length;
        if (error instanceof InterruptedError) {
          result.status = "interrupted";
          result.error = `${error.message} after ${result.seconds.toFixed(1)}s`;
          this.state.ctx.reporter.info(
            `[${names.indexOf(step.name) + 1}/${names.length}] ${step.name}: INTERRUPTED (${error.signalName}) after ${result.seconds.toFixed(1)}s`,
          );
          throw new StepInterruptedError(step.name, error.signalName);
        }
        const qemuGone = await this.state.machine?.exitReport();
        const failure = new StepFailedError(step.name, step.title, error, qemuGone);
        result.status = "failed";
        result.error = failure.message.replace(/^step \S+ \([^)]*\) failed: /, "");
        this.state.ctx.reporter.info(
          `[${names.indexOf(step.name) + 1}/${names.length}] ${step.name}: FAILED after ${result.seconds.toFixed(1)}s`,
        );
        throw failure;
      } finally {
        if (timer) clearTimeout(timer);
      }
    }
  }
}
