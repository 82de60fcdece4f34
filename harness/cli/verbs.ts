import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { ArtifactStore } from "../../images/store/index.ts";
import type { ResolvedConfig } from "../boxes/box.ts";
import { boxCatalog, getBox } from "../boxes/registry.ts";
import { connectConsoleSocket } from "../machine/console-socket.ts";
import { diskInfo } from "../machine/disk.ts";
import { Machine, MachineNotRunningError } from "../machine/machine.ts";
import { reapStale } from "../machine/reaper.ts";
import { isAlive, MachineDir } from "../machine/state-dir.ts";
import {
  compareRuns,
  xenOf,
  comparisonFails,
  formatComparison,
  listRuns,
  loadRun,
  readLastMeta,
  recordRun,
  runsDir,
  type RunRecord,
} from "../report/history.ts";
import { HowtoSession, lockMachineDir, machineDirFor } from "../session.ts";
import { summaryTable } from "../steps/report.ts";
import { StepFailedError } from "../steps/runner.ts";
import { InterruptedError } from "../../lib/abort.ts";
import { UsageError } from "../../lib/errors.ts";
import { createReporter } from "../../lib/reporter.ts";
import { doctor } from "./doctor.ts";

export interface UpOptions {
  /** The Xen pair (`--xen`), overriding the config's xenPackage. */
  xen?: string;
  /** A locally built pair's files or directories (`--xen-package`), overriding xenPackageFiles. */
  xenPackage?: string[];
  from?: string;
  to?: string;
  fresh?: boolean;
  /** true: keep the machine running whatever happens; false: always stop it; unset: keep it after a passed run. */
  keepRunning?: boolean;
  verbose?: boolean;
  /** Ctrl-C / SIGTERM: the run stops, the step is marked interrupted, the reports are written. */
  signal?: AbortSignal;
  /** `nbxen update-xen --to`: after the HOWTO steps, update Xen in place to this pair or these files. */
  updateXenTo?: string[];
}

const out = (line: string) => process.stdout.write(line + "\n");

export async function up(given: ResolvedConfig, opts: UpOptions): Promise<number> {
  const config = {
    ...given,
    ...(opts.xen !== undefined ? { xenPackage: opts.xen } : {}),
    ...(opts.xenPackage ? { xenPackageFiles: opts.xenPackage.map((p) => path.resolve(p)) } : {}),
  };
  const reporter = createReporter({ verbose: opts.verbose });
  // The Xen choice and step names are checked before anything is locked, probed, downloaded or booted.
  const names = (await getBox(config.box, config.xenPackage)).steps().map((s) => s.name);
  for (const [flag, step] of [
    ["--from", opts.from],
    ["--to", opts.to],
  ] as const)
    if (step !== undefined && !names.includes(step))
      throw new UsageError(`${flag} ${step}: no such step in box ${config.box}; steps: ${names.join(", ")}`);
  if (opts.from !== undefined && opts.to !== undefined && names.indexOf(opts.to) < names.indexOf(opts.from))
    throw new UsageError(`--to ${opts.to} comes before --from ${opts.from}; steps: ${names.join(", ")}`);

  await using session = await HowtoSession.open(config, {
    reporter,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.updateXenTo ? { updateXenTo: opts.updateXenTo } : {}),
  });
  const { runner, box } = session;
  reporter.info(`box ${box.name}: ${box.description}`);
  reporter.info(`state: ${session.ctx.machineDir}; cache: ${config.cacheDir}`);
  let failed: StepFailedError | undefined;
  let interrupted: InterruptedError | undefined;
  try {
    await runner.prepare({ from: opts.from, fresh: opts.fresh, disk: box.diskPath(session.ctx.machineDir) });
    await runner.runTo(opts.to);
  } catch (error) {
    if (error instanceof StepFailedError) failed = error;
    else if (error instanceof InterruptedError) interrupted = error;
    else throw error;
  } finally {
    const files = await session.writeReports();
    reporter.info("\n" + summaryTable(runner.results, runner.notes, session.ctx.xenPackages).trimEnd());
    reporter.info(`reports: ${files.summary}, ${files.junit}, ${files.howto}`);
    const record = await recordRun(session.reportDir, { withSpecs: false });
    reporter.info(`run recorded: ${record.id} (\`nbxen runs\`, \`nbxen report --compare\`)`);
    const t = runner.state.machine?.transcriptDir;
    if (t) reporter.info(`console transcript: ${t}`);
  }
  const keep = failed || interrupted ? opts.keepRunning === true : opts.keepRunning !== false;
  if (keep && (await session.keepMachineRunning()))
    reporter.info(`the machine keeps running: \`nbxen exec 'xl list'\`, \`nbxen console\`, \`nbxen halt\``);
  else if (runner.state.machine) reporter.info("stopping the machine");
  if (interrupted) {
    reporter.info(`\nnbxen up: ${interrupted.message}`);
    return interrupted.cliExitCode;
  }
  if (failed) {
    reporter.info(`\nnbxen up: ${failed.message}`);
    return 1;
  }
  return 0;
}

function machineDir(config: ResolvedConfig): MachineDir {
  return new MachineDir(machineDirFor(config, config.box));
}

export async function status(config: ResolvedConfig): Promise<number> {
  const dir = machineDir(config);
  const info = await dir.readRunInfo();
  const running = info !== undefined && info.exitedAt === undefined && isAlive(info.supervisorPid);
  out(`box:      ${config.box}`);
  out(`state:    ${dir.root}`);
  out(
    `machine:  ${running ? `running (run ${info!.runId}, QEMU pid ${info!.qemuPid}, since ${info!.startedAt})` : "not running"}`,
  );
  const box = await getBox(config.box, config.xenPackage);
  const disk = box.diskPath(dir.root);
  const lastRun = await readLastMeta(path.join(config.stateDir, "reports", config.box));
  if (lastRun?.xenPackages?.length) out(`xen:      ${lastRun.xenPackages.join(" ")} (last run)`);
  if (existsSync(disk)) {
    const snaps = (await diskInfo(disk)).snapshots;
    out(`snapshots: ${snaps.join(", ") || "none"}`);
  } else out("disk:     not created yet (`nbxen up`)");
  const summary = `${config.stateDir}/reports/${config.box}/summary.txt`;
  if (existsSync(summary)) out(`last run:\n${await readFile(summary, "utf8")}`);
  return 0;
}

export async function halt(config: ResolvedConfig): Promise<number> {
  const dir = machineDir(config);
  await using _lock = await lockMachineDir(dir.root);
  let machine: Machine;
  try {
    machine = await Machine.attach(config.box, dir.root);
  } catch (error) {
    if (!(error instanceof MachineNotRunningError)) throw error;
    out(`${config.box}: not running`);
    return 0;
  }
  const how = await machine.powerdown({ timeoutMs: 90_000 });
  out(`${config.box}: ${how === "clean" ? "powered off" : "did not power off within 90s; stopped"}`);
  return 0;
}

export async function destroy(config: ResolvedConfig): Promise<number> {
  const dir = machineDir(config);
  await using _lock = await lockMachineDir(dir.root);
  try {
    const machine = await Machine.attach(config.box, dir.root);
    await machine.stop();
  } catch (error) {
    // Not running, or half gone: the reaper below ends whatever QEMU is left.
    if (!(error instanceof MachineNotRunningError))
      createReporter().warn(
        `stopping the machine: ${error instanceof Error ? error.message : String(error)}`,
      );
  }
  await reapStale(dir);
  await rm(dir.root, { recursive: true, force: true });
  out(`${config.box}: machine state removed (${dir.root}); the artifact cache is kept`);
  return 0;
}

const DETACH_KEY = 0x1d; // Ctrl-]

export async function consoleAttach(config: ResolvedConfig): Promise<number> {
  const dir = machineDir(config);
  const info = await dir.readRunInfo();
  if (!info || info.exitedAt !== undefined || !isAlive(info.supervisorPid))
    throw new UsageError(`${config.box} is not running; start it with \`nbxen up\``);
  const stream = await connectConsoleSocket(dir.consoleSocket);
  process.stderr.write(`[connected to ${config.box}'s serial console; detach with Ctrl-]]\r\n`);
  const stdin = process.stdin;
  if (stdin.isTTY) stdin.setRawMode(true);
  return new Promise<number>((resolve) => {
    const finish = (code: number, why: string) => {
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      stream.close();
      process.stderr.write(`\r\n[${why}]\n`);
      resolve(code);
    };
    stream.onData((d) => process.stdout.write(d));
    stream.onClose(() => finish(0, "console closed: the machine stopped"));
    stdin.on("data", (d: Buffer) => {
      const i = d.indexOf(DETACH_KEY);
      if (i >= 0) {
        if (i > 0) stream.write(d.subarray(0, i));
        finish(0, "detached");
      } else stream.write(d);
    });
    stdin.on("end", () => finish(0, "detached (end of input)"));
    stdin.resume();
  });
}

export async function exec(
  config: ResolvedConfig,
  command: string,
  timeoutSeconds: number,
  signal?: AbortSignal,
): Promise<number> {
  if (!command.trim()) throw new UsageError("exec: give a command, e.g. nbxen exec 'xl list'");
  const box = await getBox(config.box, config.xenPackage);
  await using _lock = await lockMachineDir(machineDir(config).root);
  await using machine = await Machine.attach(config.box, machineDir(config).root, { signal });
  const shell = await box.login(machine);
  // A subshell, so `exit N` ends the command, not the guest's login shell.
  const result = await shell.exec(`(${command}\n)`, { timeoutMs: timeoutSeconds * 1000, signal });
  process.stdout.write(result.output.endsWith("\n") || !result.output ? result.output : result.output + "\n");
  return result.exitCode;
}

/** The running machine, for a verb that changes it: refused while a run (`up`, the specs) holds it. */
async function attachRunning(config: ResolvedConfig): Promise<{ machine: Machine } & AsyncDisposable> {
  const lock = await lockMachineDir(machineDir(config).root);
  try {
    const machine = await Machine.attach(config.box, machineDir(config).root);
    return {
      machine,
      async [Symbol.asyncDispose]() {
        try {
          await machine[Symbol.asyncDispose]();
        } finally {
          await lock.release();
        }
      },
    };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

export async function snapshotList(config: ResolvedConfig): Promise<number> {
  const box = await getBox(config.box);
  const disk = box.diskPath(machineDir(config).root);
  if (!existsSync(disk)) {
    out("no disk yet: no snapshots");
    return 0;
  }
  for (const s of (await diskInfo(disk)).snapshots) out(s);
  return 0;
}

export async function snapshotSave(config: ResolvedConfig, name: string): Promise<number> {
  if (!/^[A-Za-z0-9_.-]+$/.test(name))
    throw new UsageError(`snapshot name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-'`);
  await using running = await attachRunning(config);
  await running.machine.savevm(name);
  out(`saved snapshot ${name}`);
  return 0;
}

export async function snapshotRestore(config: ResolvedConfig, name: string): Promise<number> {
  await using running = await attachRunning(config);
  const { machine } = running;
  const known = await machine.snapshots();
  if (!known.includes(name))
    throw new UsageError(`no snapshot ${JSON.stringify(name)}; snapshots: ${known.join(", ") || "none"}`);
  await machine.loadvm(name);
  out(`restored snapshot ${name}`);
  return 0;
}

function storeFor(config: ResolvedConfig): ArtifactStore {
  return new ArtifactStore({ cacheDir: config.cacheDir, mirror: config.mirror });
}

export async function boxList(config: ResolvedConfig): Promise<number> {
  const cached = await storeFor(config).list();
  for (const entry of boxCatalog()) {
    const files = cached.filter((c) => c.name.startsWith(entry.name + "/"));
    const built = existsSync(`${config.cacheDir}/boxes/${entry.name}`);
    const state = files.length ? `${files.length} cached file(s)` : built ? "built" : "not fetched";
    out(
      `${entry.name.padEnd(14)} ${state.padEnd(20)} ${entry.description}${entry.name === config.box ? "  (configured)" : ""}`,
    );
  }
  return 0;
}

export async function boxFetch(config: ResolvedConfig, name: string): Promise<number> {
  // The configured Xen belongs to the configured box.
  const box = await getBox(name, name === config.box ? config.xenPackage : undefined);
  const reporter = createReporter();
  const files = await box.fetch({ config: { ...config, box: name }, store: storeFor(config), reporter });
  for (const f of files) out(f);
  return 0;
}

export async function boxVerify(config: ResolvedConfig): Promise<number> {
  const results = await storeFor(config).verify();
  let bad = 0;
  for (const r of results) {
    if (r.ok) out(`ok       ${r.name} (${r.algorithm})`);
    else {
      bad++;
      out(`FAILED   ${r.name}: ${r.problem ?? `expected ${r.expected}, got ${r.actual}`}`);
    }
  }
  out(`${results.length - bad} ok, ${bad} failed${results.length === 0 ? " (the cache is empty)" : ""}`);
  return bad ? 1 : 0;
}

export async function boxRemove(config: ResolvedConfig, name: string): Promise<number> {
  await getBox(name);
  const n = await storeFor(config).remove(name + "/");
  await rm(`${config.cacheDir}/boxes/${name}`, { recursive: true, force: true });
  out(`removed ${n} cached file(s) of ${name}`);
  return 0;
}

export async function runsList(config: ResolvedConfig, box?: string): Promise<number> {
  const runs = await listRuns(config.stateDir, box);
  if (!runs.length) {
    out(`no runs recorded${box ? ` for box ${box}` : ""} in ${runsDir(config.stateDir)}`);
    return 0;
  }
  for (const r of runs) {
    const tally = (cases: { status: string }[]) => {
      const n = (st: string) => cases.filter((c) => c.status === st).length;
      return cases.length
        ? `${n("passed")}/${cases.length} passed${n("failed") + n("error") ? `, ${n("failed") + n("error")} failed` : ""}`
        : "-";
    };
    const xen = xenOf(r.meta);
    out(
      `${r.id.padEnd(40)} ${r.meta.createdAt}  steps ${tally(r.steps).padEnd(22)} specs ${tally(r.specs).padEnd(22)}${xen ? ` ${xen}` : ""}`.trimEnd(),
    );
  }
  return 0;
}

export async function runsRecord(reportDir: string): Promise<number> {
  const r = await recordRun(reportDir);
  out(`run recorded: ${r.id} (${r.steps.length} steps, ${r.specs.length} specs) in ${r.dir}`);
  return 0;
}

export interface ReportOptions {
  compare?: string[];
  baseline?: string;
  format: string;
  output?: string;
}

export async function reportCompare(
  config: ResolvedConfig,
  opts: ReportOptions,
  run?: string,
): Promise<number> {
  const format = opts.format;
  if (format !== "text" && format !== "markdown" && format !== "junit")
    throw new UsageError(`--format ${format}: use text, markdown or junit`);
  let baseline: RunRecord;
  let current: RunRecord;
  if (opts.compare) {
    if (opts.compare.length !== 2 || opts.baseline || run)
      throw new UsageError(
        "--compare takes two runs, A (the baseline) and B, and nothing else: nbxen report --compare A B",
      );
    baseline = await loadRun(opts.compare[0]!, config.stateDir);
    current = await loadRun(opts.compare[1]!, config.stateDir);
  } else if (opts.baseline) {
    baseline = await loadRun(opts.baseline, config.stateDir);
    if (run) current = await loadRun(run, config.stateDir);
    else {
      const latest = (await listRuns(config.stateDir, config.box)).at(-1);
      if (!latest)
        throw new UsageError(`no run of box ${config.box} recorded yet to compare with ${opts.baseline}`);
      current = latest;
    }
  } else
    throw new UsageError(
      "say what to compare: nbxen report --compare A B, or nbxen report --baseline DIR [RUN]",
    );
  const rows = compareRuns(baseline, current);
  const text = formatComparison(baseline, current, rows, format);
  if (opts.output) await writeFile(opts.output, text);
  else process.stdout.write(text);
  return comparisonFails(rows) ? 1 : 0;
}

export async function doctorVerb(config: ResolvedConfig): Promise<number> {
  const checks = await doctor(config);
  for (const c of checks) out(`${c.ok ? "ok  " : "FAIL"}  ${c.name.padEnd(22)} ${c.detail}`);
  return checks.every((c) => c.ok) ? 0 : 1;
}
