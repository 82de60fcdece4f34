/**
 * Run history and verdicts. Every `nbxen up` and every HOWTO spec run leaves a record: its report
 * directory (steps.junit.xml, specs.junit.xml, summary, howto.md, howto.json) and run.json (box, Xen packages,
 * accelerator, harness version) copied under <stateDir>/runs/<id>/. Two records compare case by case
 * with verdicts in the manner of Xen's OSSTest.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { UsageError } from "../../lib/errors.ts";
import { readJunit, type CaseResult } from "./junit-read.ts";

/** What run.json says about a run, written next to its reports. */
export interface RunMeta {
  box: string;
  createdAt: string;
  harness: { version: string; commit?: string };
  accelerator?: string;
  /** The exact PKGNAMEs of the run's Xen once known ("xenkernel420-20250821nb1"), else the package names. */
  xenPackages?: string[];
  /**
   * The HOWTO the run was checked against: the table of lines (harness/howto/lines.ts) by digest, and the
   * HOWTO text it was made from (docs/howto/), by path and digest.
   */
  howto?: { tableDigest: string; text: string; textDigest: string };
  /** The locally built Xen pair the run installed (xenPackageFiles, `--xen-package`): each file's SHA256. */
  localXenPackages?: { pkgname: string; sha256: string }[];
  /** An in-place Xen update the run made (`nbxen update-xen`): the pair before and after. */
  xenUpdate?: { from: string[]; to: string[]; localFiles?: { pkgname: string; sha256: string }[] };
  notes?: string[];
}

export interface RunRecord {
  id: string;
  dir: string;
  meta: RunMeta;
  steps: CaseResult[];
  specs: CaseResult[];
}

const REPORT_FILES = [
  "run.json",
  "steps.junit.xml",
  "specs.junit.xml",
  "summary.txt",
  "howto.md",
  "howto.json",
];

export function runsDir(stateDir: string): string {
  return path.join(stateDir, "runs");
}

/**
 * Copies a report directory (<stateDir>/reports/<box>) into the history of its state dir, all at once:
 * a half-copied record never shows. `withSpecs: false` leaves out a specs.junit.xml of an earlier run.
 */
export async function recordRun(reportDir: string, opts: { withSpecs?: boolean } = {}): Promise<RunRecord> {
  const stateDir = path.dirname(path.dirname(path.resolve(reportDir)));
  const meta = await readMeta(reportDir);
  const stamp = meta.createdAt.replace(/[-:]/g, "").replace(/\..*/, "");
  const id = `${meta.box}-${stamp}-${randomBytes(2).toString("hex")}`;
  const final = path.join(runsDir(stateDir), id);
  const tmp = `${final}.part`;
  await mkdir(tmp, { recursive: true });
  try {
    for (const f of REPORT_FILES.filter((f) => opts.withSpecs !== false || f !== "specs.junit.xml"))
      if (existsSync(path.join(reportDir, f))) await copyFile(path.join(reportDir, f), path.join(tmp, f));
    await rename(tmp, final);
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
  return loadRun(final);
}

/** run.json of a report directory (`nbxen status`: the last run), undefined when there is none yet. */
export async function readLastMeta(reportDir: string): Promise<RunMeta | undefined> {
  return existsSync(path.join(reportDir, "run.json")) ? readMeta(reportDir) : undefined;
}

async function readMeta(dir: string): Promise<RunMeta> {
  const file = path.join(dir, "run.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new UsageError(
      `${dir} is not a run's report directory: it has no run.json (give a run id from \`nbxen runs\`, ` +
        `a directory under <state>/runs/, or a box's report directory <state>/reports/<box>)`,
    );
  }
  const meta = JSON.parse(text) as RunMeta;
  if (typeof meta.box !== "string" || typeof meta.createdAt !== "string")
    throw new UsageError(`${file}: not a run record (needs "box" and "createdAt")`);
  return meta;
}

async function readCases(file: string): Promise<CaseResult[]> {
  if (!existsSync(file)) return [];
  return readJunit(await readFile(file, "utf8"));
}

/** A run by id (under <stateDir>/runs) or by directory (a run's or a box's report directory). */
export async function loadRun(idOrDir: string, stateDir?: string): Promise<RunRecord> {
  const dir =
    stateDir !== undefined && !idOrDir.includes(path.sep) && existsSync(path.join(runsDir(stateDir), idOrDir))
      ? path.join(runsDir(stateDir), idOrDir)
      : path.resolve(idOrDir);
  if (!existsSync(dir))
    throw new UsageError(`no run ${idOrDir}: neither a run id (see \`nbxen runs\`) nor a directory`);
  const meta = await readMeta(dir);
  return {
    id: path.basename(dir),
    dir,
    meta,
    steps: await readCases(path.join(dir, "steps.junit.xml")),
    specs: await readCases(path.join(dir, "specs.junit.xml")),
  };
}

/** Every recorded run, oldest first; `box` keeps one box's. */
export async function listRuns(stateDir: string, box?: string): Promise<RunRecord[]> {
  const dir = runsDir(stateDir);
  const names = existsSync(dir) ? (await readdir(dir)).filter((n) => !n.endsWith(".part")) : [];
  const runs: RunRecord[] = [];
  for (const n of names) {
    const r = await loadRun(path.join(dir, n)).catch(() => undefined);
    if (r && (box === undefined || r.meta.box === box)) runs.push(r);
  }
  return runs.sort((a, b) => a.meta.createdAt.localeCompare(b.meta.createdAt));
}

/** The harness's version (package.json) and, in a git checkout, its commit. */
export async function harnessVersion(): Promise<RunMeta["harness"]> {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const pkg = JSON.parse(await readFile(path.join(root, "package.json"), "utf8")) as { version: string };
  const git = await execa("git", ["rev-parse", "--short", "HEAD"], { cwd: root, reject: false });
  return { version: pkg.version, ...(git.exitCode === 0 && git.stdout ? { commit: git.stdout.trim() } : {}) };
}

export async function writeMeta(reportDir: string, meta: RunMeta): Promise<void> {
  await mkdir(reportDir, { recursive: true });
  await writeFile(path.join(reportDir, "run.json"), JSON.stringify(meta, null, 2) + "\n");
}

export type Verdict =
  "pass" | "fail, regression" | "fail, like baseline" | "never passed" | "broken" | "pending" | "gone";

export interface Comparison {
  id: string;
  kind: "step" | "spec";
  verdict: Verdict;
  now?: CaseResult["status"];
  before?: CaseResult["status"];
  message?: string;
}

/**
 * The harness or the host failed rather than the guest: an interruption (a JUnit <error>), QEMU or the
 * machine not starting, a full cache, an artifact no mirror served. Such a failure says nothing of NetBSD.
 */
const BROKEN =
  /MachineStartError|QEMU( \(pid \d+\))? (exited|was killed|could not|did not)|the machine supervisor|CacheFullError|ENOSPC|no place could serve|interrupted by SIG/i;

export function isBroken(c: CaseResult): boolean {
  return c.status === "error" || (c.status === "failed" && BROKEN.test(c.message ?? ""));
}

/** One case's verdict against the baseline's case of the same id (absent: never seen there). */
export function verdict(now: CaseResult | undefined, before: CaseResult | undefined): Verdict {
  if (!now) return "gone";
  if (now.status === "passed") return "pass";
  if (now.status === "skipped") return "pending";
  if (isBroken(now)) return "broken";
  if (before?.status === "passed") return "fail, regression";
  if (before?.status === "failed") return "fail, like baseline";
  return "never passed";
}

/**
 * What a case is matched on across two runs. A step's JUnit id names its box and its title
 * ("nbxen debian-12 steps :: install-os: Install the OS (Debian 12 ...)"): it is matched on the step's
 * name alone, so that runs of two boxes (debian-12 against debian-13) compare step by step. A spec's id
 * (its describe and it) is the same on every box.
 */
export function caseKey(kind: Comparison["kind"], id: string): string {
  if (kind === "spec") return id;
  const name = id.replace(/^nbxen \S+ steps :: /, "");
  const colon = name.indexOf(": ");
  return colon < 0 ? name : name.slice(0, colon);
}

export function compareRuns(baseline: RunRecord, current: RunRecord): Comparison[] {
  const rows: Comparison[] = [];
  for (const kind of ["step", "spec"] as const) {
    const before = new Map(
      (kind === "step" ? baseline.steps : baseline.specs).map((c) => [caseKey(kind, c.id), c]),
    );
    const now = kind === "step" ? current.steps : current.specs;
    for (const c of now) {
      const key = caseKey(kind, c.id);
      const b = before.get(key);
      before.delete(key);
      rows.push({
        id: c.id,
        kind,
        verdict: verdict(c, b),
        now: c.status,
        ...(b ? { before: b.status } : {}),
        ...(c.message ? { message: c.message } : {}),
      });
    }
    for (const b of before.values()) rows.push({ id: b.id, kind, verdict: "gone", before: b.status });
  }
  return rows;
}

/** Whether a comparison should fail CI: a regression or a broken run. */
export function comparisonFails(rows: Comparison[]): boolean {
  return rows.some((r) => r.verdict === "fail, regression" || r.verdict === "broken");
}

function counts(rows: Comparison[]): string {
  const by = new Map<Verdict, number>();
  for (const r of rows) by.set(r.verdict, (by.get(r.verdict) ?? 0) + 1);
  return [...by.entries()].map(([v, n]) => `${n} ${v}`).join(", ");
}

/** The package of a run's Xen that names its version: the hypervisor's (xenkernelNNN, xen-hypervisor-X.Y-amd64). */
export function xenOf(meta: RunMeta): string | undefined {
  const pkgs = meta.xenPackages ?? [];
  return pkgs.find((p) => /^(xenkernel|xen-hypervisor-)/.test(p)) ?? pkgs[0];
}

function header(baseline: RunRecord, current: RunRecord): string[] {
  const describe = (r: RunRecord) =>
    `${r.id} (${r.meta.box}, ${r.meta.createdAt}${r.meta.xenPackages?.length ? `, ${r.meta.xenPackages.join(" ")}` : ""}${r.meta.accelerator ? `, ${r.meta.accelerator}` : ""})`;
  const lines = [`baseline: ${describe(baseline)}`, `this run: ${describe(current)}`];
  if (baseline.meta.box !== current.meta.box) {
    const xen = (r: RunRecord) => `${r.meta.box} (${xenOf(r.meta) ?? "Xen not recorded"})`;
    lines.push(
      `boxes:    ${xen(baseline)} -> ${xen(current)}: two boxes, steps matched by step name, specs by name`,
    );
  }
  return lines;
}

/** The title of a comparison: the box, or both boxes when the runs are of two. */
function subject(baseline: RunRecord, current: RunRecord): string {
  return baseline.meta.box === current.meta.box
    ? `${current.meta.box} against its baseline`
    : `${current.meta.box} against ${baseline.meta.box}`;
}

export function formatComparison(
  baseline: RunRecord,
  current: RunRecord,
  rows: Comparison[],
  format: "text" | "markdown" | "junit",
): string {
  if (format === "markdown") {
    const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
    return (
      [
        `# nbxen: ${subject(baseline, current)}`,
        "",
        ...header(baseline, current).map((l) => `- ${l}`),
        `- verdicts: ${counts(rows)}`,
        "",
        "| kind | case | verdict | now | baseline | message |",
        "|---|---|---|---|---|---|",
        ...rows.map(
          (r) =>
            `| ${r.kind} | ${cell(r.id)} | ${r.verdict} | ${r.now ?? "-"} | ${r.before ?? "-"} | ${cell(r.message ?? "")} |`,
        ),
      ].join("\n") + "\n"
    );
  }
  if (format === "junit") {
    const x = (s: string) =>
      s
        .replace(/&/g, "&amp;")
        .replace(/</g, "&lt;")
        .replace(/>/g, "&gt;")
        .replace(/"/g, "&quot;")
        .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "");
    const cases = rows.map((r) => {
      const head = `  <testcase classname="nbxen ${x(current.meta.box)} ${r.kind}s" name="${x(r.id)}">`;
      const msg = x(`${r.verdict}${r.message ? `: ${r.message}` : ""}`);
      if (r.verdict === "fail, regression") return `${head}<failure message="${msg}"/></testcase>`;
      if (r.verdict === "broken") return `${head}<error message="${msg}"/></testcase>`;
      if (r.verdict === "pass") return `${head}</testcase>`;
      return `${head}<skipped message="${msg}"/></testcase>`;
    });
    const failures = rows.filter((r) => r.verdict === "fail, regression").length;
    const errors = rows.filter((r) => r.verdict === "broken").length;
    return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="nbxen ${x(current.meta.box)} against ${x(baseline.id)}" tests="${rows.length}" failures="${failures}" errors="${errors}">\n${cases.join("\n")}\n</testsuite>\n`;
  }
  const width = Math.min(90, Math.max(4, ...rows.map((r) => r.id.length)));
  return (
    [
      ...header(baseline, current),
      "",
      ...rows.map(
        (r) =>
          `${r.verdict.padEnd(20)} ${r.kind.padEnd(4)} ${r.id.slice(0, width).padEnd(width)}${r.message && r.verdict !== "pass" ? `  ${r.message.slice(0, 160)}` : ""}`,
      ),
      "",
      `verdicts: ${counts(rows)}`,
    ].join("\n") + "\n"
  );
}
