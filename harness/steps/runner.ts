import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Box, BoxContext, BootMode, HowtoState } from "../boxes/box.ts";
import { rm } from "node:fs/promises";
import { tcgAfterKvmStall } from "../machine/accel.ts";
import { findKvmStall, type KvmBootStalledError } from "../machine/boot-watchdog.ts";
import { diskInfo } from "../machine/disk.ts";
import { HarnessError, UsageError } from "../util/errors.ts";
import { bootMachine } from "./boot.ts";
import type { StepResult } from "./report.ts";
import type { Step } from "./step.ts";

/** A HOWTO step failed; its cleanup and the cleanups of the steps before it have run. */
export class StepFailedError extends HarnessError {
  constructor(
    readonly step: string,
    readonly title: string,
    cause: unknown,
  ) {
    super(`step ${step} (${title}) failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}

interface SnapshotRecord {
  step: string;
  bootMode: BootMode;
  fingerprint: string;
  createdAt: string;
}

/**
 * Runs a box's HOWTO steps in order (Packer's multistep): a failed step unwinds the cleanups of the steps
 * this run executed, in reverse, including its own. A passed step ends in a named VM snapshot, so a later
 * run resumes from the last good one (`--from STEP`, or automatically) instead of rebuilding.
 */
export class HowtoRunner {
  readonly state: HowtoState;
  readonly results: StepResult[];
  /** What the run summary must say besides the steps (e.g. a fallback from KVM to TCG). */
  readonly notes: string[] = [];
  private readonly steps: Step<HowtoState>[];
  private next = 0;
  private readonly ran: Step<HowtoState>[] = [];

  constructor(
    readonly box: Box,
    ctx: BoxContext,
  ) {
    this.steps = box.steps();
    this.state = { ctx, box, bootMode: "install-media", checks: [] };
    this.results = this.steps.map((s) => ({ step: s.name, title: s.title, status: "not-run", seconds: 0 }));
  }

  get stepNames(): string[] {
    return this.steps.map((s) => s.name);
  }

  private get snapshotsFile(): string {
    return path.join(this.state.ctx.machineDir, "snapshots.json");
  }

  /** Identifies the inputs a snapshot depends on: a snapshot made with other settings is not reused. */
  fingerprint(): string {
    const c = this.state.ctx.config;
    const relevant = {
      box: c.box,
      memoryMiB: c.memoryMiB,
      cpus: c.cpus,
      diskGiB: c.diskGiB,
      dom0MemoryMiB: c.dom0MemoryMiB,
      xenPackage: c.xenPackage,
      domUs: c.domUs,
      accel: this.state.ctx.accel.accelerator,
      cpu: this.state.ctx.accel.cpu,
    };
    return createHash("sha256").update(JSON.stringify(relevant)).digest("hex").slice(0, 16);
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

  /** The usable snapshots: recorded, made with this configuration, and present in the machine's disk. */
  async usableSnapshots(disk: string | undefined): Promise<SnapshotRecord[]> {
    const inDisk = disk
      ? new Set((await diskInfo(disk).catch(() => ({ snapshots: [] as string[] }))).snapshots)
      : new Set<string>();
    const fp = this.fingerprint();
    return (await this.readSnapshots()).filter((r) => r.fingerprint === fp && inDisk.has(r.step));
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
    for (let i = 0; i <= index; i++)
      this.results[i] = {
        ...this.results[i]!,
        status: "resumed",
        snapshot: i === index ? resumeFrom.step : undefined,
      };
    const t0 = Date.now();
    try {
      await bootMachine(this.state, resumeFrom.bootMode, { snapshot: resumeFrom.step });
    } catch (error) {
      const stall = this.fallbackFor(error);
      if (!stall) throw error;
      await this.fallBackToTcg(stall);
      return;
    }
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
    this.ran.length = 0;
    this.next = 0;
  }

  async stopMachine(): Promise<void> {
    const m = this.state.machine;
    this.state.machine = undefined;
    this.state.shell = undefined;
    if (m) await m.stop();
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
      const fp = this.fingerprint();
      const step = this.steps[this.next]!;
      const result = this.results[this.next]!;
      const t0 = Date.now();
      this.state.ctx.reporter.info(`[${this.next + 1}/${names.length}] ${step.name}: ${step.title}`);
      this.ran.push(step);
      try {
        await step.run(this.state);
        if (step.snapshot !== false) {
          if (!this.state.machine)
            throw new HarnessError(`step ${step.name} ended without a running machine to snapshot`);
          await this.state.machine.savevm(step.name);
          const records = (await this.readSnapshots()).filter((r) => r.step !== step.name);
          records.push({
            step: step.name,
            bootMode: this.state.bootMode,
            fingerprint: fp,
            createdAt: new Date().toISOString(),
          });
          await this.writeSnapshots(records);
          result.snapshot = step.name;
        }
        result.status = "passed";
        result.seconds = (Date.now() - t0) / 1000;
        this.state.ctx.reporter.info(
          `[${this.next + 1}/${names.length}] ${step.name}: passed in ${result.seconds.toFixed(1)}s${result.snapshot ? `, snapshot ${result.snapshot}` : ""}`,
        );
      } catch (error) {
        const stall = this.fallbackFor(error);
        if (stall) {
          await this.unwind();
          await this.fallBackToTcg(stall);
          this.next = -1; // the loop's increment starts the run again at the first step
          continue;
        }
        result.status = "failed";
        result.seconds = (Date.now() - t0) / 1000;
        result.error = error instanceof Error ? error.message : String(error);
        this.state.ctx.reporter.info(
          `[${this.next + 1}/${names.length}] ${step.name}: FAILED after ${result.seconds.toFixed(1)}s`,
        );
        await this.unwind();
        this.next = this.steps.length;
        throw new StepFailedError(step.name, step.title, error);
      }
    }
  }

  /** Runs the cleanups of the steps this run executed, newest first; a cleanup failure is reported, not thrown. */
  async unwind(): Promise<void> {
    for (const step of this.ran.reverse()) {
      if (!step.cleanup) continue;
      try {
        await step.cleanup(this.state);
      } catch (error) {
        this.state.ctx.reporter.warn(
          `cleanup of ${step.name} failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    this.ran.length = 0;
  }
}
