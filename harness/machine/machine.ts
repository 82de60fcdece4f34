import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, openSync, closeSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { Console } from "../console/console.ts";
import { Transcript } from "../console/transcript.ts";
import type { ConsoleStream } from "../console/types.ts";
import { throwIfAborted } from "../../lib/abort.ts";
import { HarnessError } from "../../lib/errors.ts";
import { connectConsoleSocket } from "./console-socket.ts";
import { qemuArgs, type QemuMachineSpec } from "./qemu-args.ts";
import { QmpClient } from "./qmp.ts";
import { reapStale } from "./reaper.ts";
import { isAlive, MachineDir, type RunInfo } from "./state-dir.ts";
import type { SupervisorSpec } from "./supervisor.ts";

export class MachineStartError extends HarnessError {
  constructor(
    readonly machineName: string,
    message: string,
    readonly output: string,
  ) {
    super(
      `machine ${machineName}: ${message}${output.trim() ? `\n--- QEMU output ---\n${output.trim()}` : ""}`,
    );
  }
}

export class MachineNotRunningError extends HarnessError {
  constructor(
    readonly machineName: string,
    readonly stateDir: string,
  ) {
    super(`machine ${machineName} is not running (state in ${stateDir}); start it with \`nbxen up\``);
  }
}

export interface MachineOptions extends Omit<QemuMachineSpec, "runId" | "qmpSocket" | "pidFile"> {
  stateDir: string;
  qemuBinary: string;
  cols?: number;
  rows?: number;
  /** Milliseconds to wait for QEMU's QMP socket. */
  startTimeoutMs?: number;
  /** Restore this VM snapshot (savevm name) before the guest runs. */
  resumeSnapshot?: string;
  /**
   * Ends the start (tearing down what it started) and, later, every expect and send on the machine's
   * console, with the signal's reason: Ctrl-C, or a step's time bound.
   */
  signal?: AbortSignal;
}

const SUPERVISOR = path.join(path.dirname(fileURLToPath(import.meta.url)), "supervisor.ts");
const TSX = import.meta.resolve("tsx");

/**
 * A QEMU machine run by a supervisor process (see supervisor.ts), controlled over QMP, its serial console
 * on an expect engine. `await using m = await Machine.start(...)` stops it however the scope is left.
 */
export class Machine {
  private stopped = false;
  /** This process asked QEMU to end (stop, powerdown): its exit is no fault. */
  private stopRequested = false;
  private detachedFlag = false;

  private constructor(
    readonly name: string,
    readonly dir: MachineDir,
    readonly runId: string,
    readonly info: RunInfo,
    readonly qmp: QmpClient,
    readonly console: Console,
    readonly transcript: Transcript,
    private readonly stream: ConsoleStream,
  ) {}

  /**
   * Starts the machine: supervisor, QEMU (paused), QMP, console; restores `resumeSnapshot`; lets the guest run.
   * A start that fails at any point stops what it started (QEMU, supervisor, sockets) and rethrows the
   * original error, so the next start in the same directory finds nothing running.
   */
  static async start(opts: MachineOptions): Promise<Machine> {
    const dir = new MachineDir(opts.stateDir);
    await dir.prepare();
    await reapStale(dir);
    const existing = await dir.readRunInfo();
    if (existing && existing.exitedAt === undefined && isAlive(existing.supervisorPid))
      throw new HarnessError(
        `machine ${opts.name} is already running (supervisor pid ${existing.supervisorPid}); use \`nbxen halt\` or \`nbxen destroy\` first`,
      );
    throwIfAborted(opts.signal);
    for (const f of [dir.qmpSocket, dir.consoleSocket, dir.detachedFile, dir.qemuPidFile, dir.runFile])
      await rm(f, { force: true });

    const runId = `${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")}-${randomBytes(3).toString("hex")}`;
    const spec: SupervisorSpec = {
      runId,
      name: opts.name,
      stateDir: dir.root,
      qemuBinary: opts.qemuBinary,
      qemuArgs: qemuArgs({ ...opts, runId, qmpSocket: dir.qmpSocket, pidFile: dir.qemuPidFile }),
      ownerPid: process.pid,
      cols: opts.cols ?? 80,
      rows: opts.rows ?? 25,
    };
    await writeFile(dir.supervisorSpec, JSON.stringify(spec, null, 2) + "\n", { mode: 0o600 });
    const logFd = openSync(dir.supervisorLog, "a", 0o600);
    const child = spawn(process.execPath, ["--import", TSX, SUPERVISOR, dir.supervisorSpec], {
      detached: true,
      stdio: ["ignore", logFd, logFd],
      env: process.env,
    });
    closeSync(logFd);
    child.unref();

    const started: StartedParts = { supervisorPid: child.pid };
    try {
      started.transcript = await Transcript.open(dir.runDir(runId));
      const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
      let info: RunInfo | undefined;
      while (Date.now() < deadline) {
        throwIfAborted(opts.signal);
        info = await dir.readRunInfo();
        if (info?.runId === runId) break;
        if (child.exitCode !== null) break;
        await sleep(50);
      }
      if (!info || info.runId !== runId)
        throw new MachineStartError(
          opts.name,
          "the machine supervisor did not come up",
          await tail(dir.supervisorLog),
        );
      started.qemuPid = info.qemuPid;
      const stream = await connectConsoleSocket(dir.consoleSocket);
      started.stream = stream;
      const early: Buffer[] = [];
      const stopEarly = stream.onData((d) => early.push(d));
      let qmp: QmpClient;
      try {
        const qemuPid = info.qemuPid;
        qmp = await QmpClient.connect(dir.qmpSocket, {
          timeoutMs: Math.max(1000, deadline - Date.now()),
          giveUpIf: () => !isAlive(qemuPid) || opts.signal?.aborted === true,
        });
      } catch (error) {
        throwIfAborted(opts.signal);
        await sleep(300);
        const output = Buffer.concat(early).toString("utf8");
        const why = isAlive(info.qemuPid) ? "QEMU did not open its QMP socket" : "QEMU exited at start";
        // The supervisor logs QEMU's output when it exited before this client connected.
        const logged = output ? "" : await tail(dir.supervisorLog);
        throw new MachineStartError(
          opts.name,
          `${why} (${opts.qemuBinary})`,
          output || logged || String(error),
        );
      } finally {
        stopEarly();
      }
      started.qmp = qmp;
      const console = new Console(stream, {
        cols: spec.cols,
        rows: spec.rows,
        transcript: started.transcript,
        name: opts.name,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      started.console = console;
      const machine = new Machine(opts.name, dir, runId, info, qmp, console, started.transcript, stream);
      throwIfAborted(opts.signal);
      if (opts.resumeSnapshot) await machine.loadvm(opts.resumeSnapshot);
      throwIfAborted(opts.signal);
      await qmp.execute("cont");
      return machine;
    } catch (error) {
      await tearDownFailedStart(dir, started);
      throw error;
    }
  }

  /** Connects to a machine started by another nbxen process (`nbxen exec`, `console`, `halt`). */
  static async attach(
    name: string,
    stateDir: string,
    opts: { signal?: AbortSignal | undefined } = {},
  ): Promise<Machine> {
    const dir = new MachineDir(stateDir);
    const info = await dir.readRunInfo();
    if (
      !info ||
      info.exitedAt !== undefined ||
      !isAlive(info.supervisorPid) ||
      !existsSync(dir.consoleSocket)
    )
      throw new MachineNotRunningError(name, stateDir);
    const qmp = await QmpClient.connect(dir.qmpSocket, { timeoutMs: 5000 });
    const stream = await connectConsoleSocket(dir.consoleSocket);
    const transcript = await Transcript.open(dir.runDir(info.runId));
    const console = new Console(stream, {
      transcript,
      name,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const machine = new Machine(name, dir, info.runId, info, qmp, console, transcript, stream);
    // An attached machine belongs to whoever started it: leaving this process must not stop it.
    machine.detachedFlag = true;
    return machine;
  }

  get transcriptDir(): string {
    return this.transcript.dir;
  }

  get running(): boolean {
    return !this.stopped && isAlive(this.info.supervisorPid);
  }

  async status(): Promise<string> {
    const r = await this.qmp.execute<{ status: string }>("query-status");
    return r.status;
  }

  /** Keeps the machine running after this process exits (`nbxen up` does this when it has finished). */
  async detach(): Promise<void> {
    await writeFile(this.dir.detachedFile, `${process.pid}\n`, { mode: 0o600 });
    this.detachedFlag = true;
  }

  /**
   * When QEMU has exited without this process stopping it (killed, crashed, the guest powered off):
   * how it ended, from the supervisor's record, and where the console transcript is. Else undefined.
   */
  async exitReport(waitMs = 2000): Promise<string | undefined> {
    if (this.stopRequested) return undefined;
    const deadline = Date.now() + waitMs;
    let info = await this.dir.readRunInfo();
    // The supervisor records the exit as soon as QEMU is gone; give it a moment if QEMU is dying.
    while (info?.runId === this.runId && info.exitedAt === undefined && Date.now() < deadline) {
      if (isAlive(this.info.qemuPid) && isAlive(this.info.supervisorPid)) return undefined;
      await sleep(100);
      info = await this.dir.readRunInfo();
    }
    if (!info || info.runId !== this.runId || info.exitedAt === undefined) {
      if (isAlive(this.info.qemuPid)) return undefined;
      return `QEMU (pid ${this.info.qemuPid}) is gone and its supervisor recorded no exit (see ${this.dir.supervisorLog}); console transcript: ${this.transcript.dir}`;
    }
    const how =
      info.exitSignal !== undefined
        ? `was killed by ${info.exitSignal}`
        : `exited with status ${info.exitCode ?? "unknown"}`;
    return `QEMU (pid ${this.info.qemuPid}) ${how} at ${info.exitedAt}; console transcript: ${this.transcript.dir}`;
  }

  async savevm(name: string): Promise<void> {
    await this.hmpChecked(`savevm ${name}`);
  }

  async loadvm(name: string): Promise<void> {
    await this.hmpChecked(`loadvm ${name}`);
  }

  /** Names of the VM snapshots (savevm) in the machine's disks. */
  async snapshots(): Promise<string[]> {
    const out = await this.qmp.hmp("info snapshots");
    return parseSnapshotTable(out);
  }

  private async hmpChecked(command: string): Promise<string> {
    const out = await this.qmp.hmp(command);
    if (/^Error:|\berror\b/im.test(out))
      throw new HarnessError(`machine ${this.name}: ${command} failed: ${out.trim()}`);
    return out;
  }

  /** Waits for the supervisor to exit (QEMU gone). Returns false on timeout. */
  async waitForExit(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!isAlive(this.info.supervisorPid) && !isAlive(this.info.qemuPid)) return true;
      await sleep(100);
    }
    return false;
  }

  /** ACPI power button, then wait for the guest to power off; force it off after the timeout. */
  async powerdown(opts: { timeoutMs?: number } = {}): Promise<"clean" | "forced"> {
    this.stopRequested = true;
    try {
      await this.qmp.execute("system_powerdown");
    } catch {
      /* QEMU may already be gone */
    }
    const clean = await this.waitForExit(opts.timeoutMs ?? 60_000);
    if (!clean) await this.stop();
    await this.finish();
    return clean ? "clean" : "forced";
  }

  /** Stops QEMU now (QMP quit, then signals). Idempotent. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    if (!this.stopped && isAlive(this.info.supervisorPid)) {
      try {
        await Promise.race([this.qmp.execute("quit"), sleep(3000)]);
      } catch {
        /* the socket closes as QEMU quits */
      }
      if (!(await this.waitForExit(5000))) {
        for (const pid of [this.info.qemuPid, this.info.supervisorPid]) {
          if (isAlive(pid)) process.kill(pid!, "SIGKILL");
        }
        await this.waitForExit(5000);
      }
    }
    await this.finish();
  }

  /** Releases this process's connections without stopping the machine. */
  async disconnect(): Promise<void> {
    this.qmp.close();
    this.console.close();
    this.stream.close();
    await this.transcript.close();
  }

  private async finish(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.qmp.close();
    this.console.close();
    this.stream.close();
    await this.transcript.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.detachedFlag) await this.disconnect();
    else await this.stop();
  }
}

interface StartedParts {
  supervisorPid?: number;
  qemuPid?: number;
  transcript?: Transcript;
  stream?: ConsoleStream;
  qmp?: QmpClient;
  console?: Console;
}

/** Undoes a start that failed half way: QEMU and the supervisor end, connections close, sockets go. */
async function tearDownFailedStart(dir: MachineDir, p: StartedParts): Promise<void> {
  if (p.qmp && !p.qmp.isClosed) {
    await Promise.race([p.qmp.execute("quit").catch(() => undefined), sleep(2000)]);
  }
  p.qmp?.close();
  p.console?.close();
  p.stream?.close();
  // The supervisor stops QEMU on SIGTERM and records the exit; SIGKILL both if that takes too long.
  if (isAlive(p.supervisorPid)) process.kill(p.supervisorPid!, "SIGTERM");
  const gone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (!isAlive(p.supervisorPid) && !isAlive(p.qemuPid)) return true;
      await sleep(50);
    }
    return false;
  };
  if (!(await gone(7000))) {
    for (const pid of [p.qemuPid, p.supervisorPid]) if (isAlive(pid)) process.kill(pid!, "SIGKILL");
    await gone(5000);
  }
  // A QEMU the supervisor had started before it was killed, not yet recorded in run.json.
  await reapStale(dir);
  for (const f of [dir.qmpSocket, dir.consoleSocket, dir.qemuPidFile])
    await rm(f, { force: true }).catch(() => undefined);
  await p.transcript?.close().catch(() => undefined);
}

export function parseSnapshotTable(out: string): string[] {
  const names: string[] = [];
  for (const line of out.split(/\r?\n/)) {
    // "ID  TAG  VM SIZE  DATE  VM CLOCK  ICOUNT" rows; the tag is the second column.
    const m = /^\s*(\d+|--)\s+(\S+)\s+\S+/.exec(line);
    if (m && m[2] && m[2] !== "TAG") names.push(m[2]);
  }
  return names;
}

async function tail(file: string, chars = 4000): Promise<string> {
  try {
    return (await readFile(file, "utf8")).slice(-chars);
  } catch {
    return "";
  }
}
