/**
 * The end-to-end figures of the debian-12 box, taken as a user takes them, through the CLI (bin/nbxen.js
 * and scripts/run-specs.sh) in a state directory of their own: the HOWTO specs cold (7-20 min under
 * TCG on 2 cores) and warm (1-3 min), `nbxen up` warm, `nbxen exec`, `nbxen snapshot restore` and
 * the time to a shell after it, and a command's round trip inside one shell on the dom0.
 */
import { existsSync } from "node:fs";
import { cp, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import type { ResolvedConfig } from "../harness/boxes/box.ts";
import { getBox } from "../harness/boxes/registry.ts";
import { Machine } from "../harness/machine/machine.ts";
import { listRuns } from "../harness/report/history.ts";
import { machineDirFor } from "../harness/session.ts";
import { HarnessError } from "../lib/errors.ts";
import type { Measured, Results } from "./results.ts";

export const BOX = "debian-12";
/** The step whose snapshot `snapshot restore` goes back to. */
const RESTORE_TO = "network";

export interface E2eContext {
  /** The checkout: where bin/nbxen.js and scripts/run-specs.sh are. */
  repo: string;
  configFile: string;
  config: ResolvedConfig;
  /** Each command's output goes to a file here. */
  logDir: string;
  log: (line: string) => void;
}

export interface Floors {
  /** The floor boot, QEMU start to the domU's end, in s. */
  boot?: { name: string; seconds: number };
  /** A command's round trip in the test guest's shell, in ms. */
  guestRoundTripMs?: number;
}

export class BenchCommandError extends HarnessError {
  constructor(what: string, exitCode: number | undefined, logFile: string, tail: string) {
    super(`${what} exited with ${exitCode ?? "a signal"} (log: ${logFile})\n${tail}`);
  }
}

interface Timed {
  seconds: number;
  exitCode: number | undefined;
  output: string;
  logFile: string;
}

let logSeq = 0;

async function timed(ctx: E2eContext, label: string, file: string, args: string[], env = {}): Promise<Timed> {
  const logFile = path.join(ctx.logDir, `${String(++logSeq).padStart(2, "0")}-${label}.log`);
  const t0 = performance.now();
  const r = await execa(file, args, {
    cwd: ctx.repo,
    env: { NBXEN_PLAIN: "1", ...env },
    all: true,
    reject: false,
    stdin: "ignore",
  });
  const seconds = (performance.now() - t0) / 1000;
  const output = String(r.all ?? "");
  await writeFile(
    logFile,
    `$ ${file} ${args.join(" ")}\n${output}\n[exit ${r.exitCode} after ${seconds.toFixed(1)} s]\n`,
  );
  return { seconds, exitCode: r.exitCode, output, logFile };
}

function nbxen(ctx: E2eContext, label: string, ...args: string[]): Promise<Timed> {
  return timed(ctx, label, process.execPath, ["bin/nbxen.js", "--config", ctx.configFile, ...args]);
}

function checked(what: string, t: Timed): Timed {
  if (t.exitCode !== 0)
    throw new BenchCommandError(
      what,
      t.exitCode,
      t.logFile,
      t.output.trim().split("\n").slice(-15).join("\n"),
    );
  return t;
}

function specs(ctx: E2eContext, label: string, fresh: boolean): Promise<Timed> {
  return timed(ctx, label, "bash", ["scripts/run-specs.sh"], {
    NBXEN_BOX: BOX,
    NBXEN_CONFIG: ctx.configFile,
    NBXEN_STATE_DIR: ctx.config.stateDir,
    NBXEN_FRESH: fresh ? "1" : "",
  });
}

/** The box's files, built first if need be (a few minutes, once per cache), as `nbxen box fetch` does. */
export async function fetchBox(ctx: E2eContext): Promise<string> {
  const t = checked(`nbxen box fetch ${BOX}`, await nbxen(ctx, "box-fetch", "box", "fetch", BOX));
  const kernel = t.output.split("\n").find((l) => l.endsWith("/vmlinuz"));
  if (!kernel) throw new HarnessError(`nbxen box fetch ${BOX} named no vmlinuz:\n${t.output}`);
  return path.dirname(kernel.trim());
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Records what `measure` returns; an error becomes a figure that could not be taken. */
async function attempt(
  results: Results,
  m: Omit<Measured, "value">,
  measure: () => Promise<Partial<Measured> & { value: number }>,
): Promise<number | undefined> {
  try {
    const r = await measure();
    results.add({ ...m, ...r });
    return r.value;
  } catch (error) {
    results.failed(m, error instanceof Error ? error.message.split("\n")[0]! : String(error));
    return undefined;
  }
}

function bootFloor(floors: Floors): Measured["floor"] | undefined {
  return floors.boot ? { name: floors.boot.name, value: floors.boot.seconds, unit: "s" } : undefined;
}

/** Runs every end-to-end figure in order: each needs the machine state the one before it left. */
export async function endToEnd(ctx: E2eContext, results: Results, floors: Floors): Promise<void> {
  await mkdir(ctx.logDir, { recursive: true });
  const floor = bootFloor(floors);
  const withFloor = floor ? { floor } : {};

  ctx.log("cold HOWTO specs (fresh state dir; 7-20 min under TCG)");
  const cold = await specs(ctx, "specs-cold", true);
  const coldRun = await latestRun(ctx.config.stateDir);
  const { steps, specs: coldSpecs } = coldRun;
  const install = steps.find((s) => s.step === "install-xen")?.seconds;
  const cap = 180;
  const coldTarget =
    floor && install !== undefined
      ? {
          op: "<=" as const,
          value: Math.min(3 * floor.value + install, cap),
          formula: `min(3 x floor + install-xen ${install.toFixed(0)} s, ${cap})`,
        }
      : { op: "<=" as const, value: cap, formula: "floor or install-xen missing: the cap alone" };
  results.add({
    name: "HOWTO specs, cold (box built, fresh state)",
    value: cold.exitCode === 0 ? cold.seconds : Number.NaN,
    unit: "s",
    group: "end-to-end",
    target: coldTarget,
    ...withFloor,
    note: cold.exitCode === 0 ? "" : `specs failed (exit ${cold.exitCode}; ${cold.logFile})`,
  });
  for (const s of steps)
    results.add({
      name: `step ${s.step}${s.status === "passed" ? "" : ` (${s.status})`}`,
      value: s.seconds,
      unit: "s",
      group: "cold run (from its run record)",
      ...withFloor,
      ...(s.step === "install-xen" ? { note: "the package install: added to the cold target" } : {}),
    });
  if (cold.exitCode !== 0)
    ctx.log(`cold specs failed (exit ${cold.exitCode}); the figures after it may not be taken`);

  ctx.log("warm HOWTO specs (same state dir: resumes from the last snapshot)");
  await attempt(
    results,
    {
      name: "HOWTO specs, warm (resumed)",
      unit: "s",
      group: "end-to-end",
      target: { op: "<=", value: 40 },
      ...withFloor,
    },
    async () => ({ value: checked("warm HOWTO specs", await specs(ctx, "specs-warm", false)).seconds }),
  );
  const warm = await latestRun(ctx.config.stateDir);
  if (warm.id !== coldRun.id && warm.specs.length) {
    results.add({
      name: "the steps (resumed from their snapshots)",
      value: warm.steps.reduce((t, s) => t + s.seconds, 0),
      unit: "s",
      group: "warm run (from its run record)",
    });
    addSpecTimes(results, "warm run", warm.specs);
  }

  ctx.log("nbxen up, warm");
  await attempt(
    results,
    {
      name: "nbxen up, warm (every step done: boot the last snapshot)",
      unit: "s",
      group: "end-to-end",
      ...withFloor,
    },
    async () => ({ value: checked("nbxen up", await nbxen(ctx, "up-warm", "up")).seconds }),
  );

  ctx.log("a command's round trip inside one shell on the dom0");
  const shellMs = await attempt(
    results,
    {
      name: "dom0 shell: exec round trip inside one shell",
      unit: "ms",
      group: "end-to-end",
      target: { op: "<=", value: 1000 },
      ...(floors.guestRoundTripMs !== undefined
        ? {
            floor: {
              name: "the test guest's shell round trip (no Xen console)",
              value: floors.guestRoundTripMs,
              unit: "ms",
            },
          }
        : {}),
    },
    () => dom0RoundTrip(ctx.config),
  );
  const shellFloor =
    shellMs !== undefined
      ? { floor: { name: "a command's round trip inside one dom0 shell", value: shellMs / 1000, unit: "s" } }
      : {};

  ctx.log("nbxen exec, from the CLI");
  await attempt(
    results,
    {
      name: "nbxen exec true: wall from the CLI",
      unit: "s",
      group: "end-to-end",
      target: { op: "<=", value: 1 },
      ...shellFloor,
    },
    async () => {
      const walls: number[] = [];
      for (let i = 0; i < 5; i++)
        walls.push(checked("nbxen exec true", await nbxen(ctx, "exec-true", "exec", "true")).seconds);
      return { value: median(walls), note: `median of 5: ${walls.map((w) => w.toFixed(1)).join(", ")}` };
    },
  );
  await attempt(
    results,
    { name: "nbxen exec 'xl list': wall from the CLI", unit: "s", group: "end-to-end", ...shellFloor },
    async () => ({
      value: checked("nbxen exec 'xl list'", await nbxen(ctx, "exec-xl-list", "exec", "xl list")).seconds,
    }),
  );

  ctx.log(`snapshot restore ${RESTORE_TO}, then the time to a shell`);
  const loadvm = await attempt(
    results,
    { name: `QMP loadvm ${RESTORE_TO}, in process (the restore's floor)`, unit: "s", group: "end-to-end" },
    () => rawLoadvm(ctx.config),
  );
  await attempt(
    results,
    {
      name: `restore to shell: nbxen snapshot restore ${RESTORE_TO} + nbxen exec true`,
      unit: "s",
      group: "end-to-end",
      target: { op: "<=", value: 5 },
      ...(loadvm !== undefined ? { floor: { name: "QMP loadvm in process", value: loadvm, unit: "s" } } : {}),
    },
    async () => {
      const restore = checked(
        "nbxen snapshot restore",
        await nbxen(ctx, "restore", "snapshot", "restore", RESTORE_TO),
      );
      const exec = checked("nbxen exec true", await nbxen(ctx, "exec-after-restore", "exec", "true"));
      return {
        value: restore.seconds + exec.seconds,
        note: `restore ${restore.seconds.toFixed(1)} s + exec ${exec.seconds.toFixed(1)} s`,
      };
    },
  );
}

interface RunTimes {
  id: string | undefined;
  steps: { step: string; seconds: number; status: string }[];
  specs: { name: string; seconds: number }[];
}

/** The per-step and per-spec times of the latest recorded run (its steps.junit.xml and specs.junit.xml). */
async function latestRun(stateDir: string): Promise<RunTimes> {
  const run = (await listRuns(stateDir, BOX)).at(-1);
  const name = (id: string) => unescapeXml(id.split(" :: ").slice(1).join(" :: ") || id);
  return {
    id: run?.id,
    steps: (run?.steps ?? []).map((c) => ({
      step: name(c.id).split(":")[0]!,
      seconds: c.seconds,
      status: c.status,
    })),
    specs: (run?.specs ?? []).map((c) => ({ name: name(c.id), seconds: c.seconds })),
  };
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 3)}...` : s;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (m, e: string) =>
    e.startsWith("#x") || e.startsWith("#X")
      ? String.fromCodePoint(parseInt(e.slice(2), 16))
      : e.startsWith("#")
        ? String.fromCodePoint(Number(e.slice(1)))
        : (ENTITIES[e] ?? m),
  );
}

/** The specs' own time (their commands in the guest, past the steps), and the slowest of them. */
function addSpecTimes(results: Results, run: string, specs: RunTimes["specs"]): void {
  if (!specs.length) return;
  const group = `${run} (from its run record)`;
  results.add({
    name: `the ${specs.length} specs' own time`,
    value: specs.reduce((t, s) => t + s.seconds, 0),
    unit: "s",
    group,
  });
  for (const s of [...specs].sort((a, b) => b.seconds - a.seconds).slice(0, 3))
    results.add({ name: `slowest spec: ${clip(s.name, 64)}`, value: s.seconds, unit: "s", group });
}

async function dom0RoundTrip(config: ResolvedConfig): Promise<{ value: number; note: string }> {
  const box = await getBox(BOX);
  await using m = await Machine.attach(BOX, machineDirFor(config, BOX));
  const shell = await box.login(m);
  const n = 20;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await shell.run("true");
  return { value: (performance.now() - t0) / n, note: `mean of ${n}` };
}

async function rawLoadvm(config: ResolvedConfig): Promise<{ value: number }> {
  await using m = await Machine.attach(BOX, machineDirFor(config, BOX));
  const t0 = performance.now();
  await m.loadvm(RESTORE_TO);
  return { value: (performance.now() - t0) / 1000 };
}

/** Keeps the run records (reports, JUnit files) with the logs, stops the machine, removes its state. */
export async function destroy(ctx: E2eContext): Promise<void> {
  const runs = path.join(ctx.config.stateDir, "runs");
  if (existsSync(runs)) await cp(runs, path.join(ctx.logDir, "runs"), { recursive: true });
  await nbxen(ctx, "destroy", "destroy");
}
