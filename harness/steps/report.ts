import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { howtoLine, sectionLabel } from "../howto/lines.ts";
import type { HowtoOutcome } from "../howto/refs.ts";

export interface StepResult {
  step: string;
  title: string;
  status: "passed" | "failed" | "interrupted" | "resumed" | "not-run";
  seconds: number;
  snapshot?: string;
  error?: string;
}

function xmlEscape(s: string): string {
  return (
    s
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      // XML 1.0 forbids most control characters, which console output is full of.
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "")
  );
}

export function junitXml(suite: string, results: StepResult[]): string {
  const failures = results.filter((r) => r.status === "failed").length;
  const errors = results.filter((r) => r.status === "interrupted").length;
  const skipped = results.filter((r) => r.status === "not-run").length;
  const time = results.reduce((s, r) => s + r.seconds, 0);
  const cases = results.map((r) => {
    const head = `  <testcase classname="${xmlEscape(suite)}" name="${xmlEscape(`${r.step}: ${r.title}`)}" time="${r.seconds.toFixed(3)}">`;
    if (r.status === "failed")
      return `${head}\n    <failure message="${xmlEscape((r.error ?? "").split("\n")[0] ?? "")}">${xmlEscape(r.error ?? "")}</failure>\n  </testcase>`;
    if (r.status === "interrupted")
      return `${head}\n    <error type="interrupted" message="${xmlEscape((r.error ?? "interrupted").split("\n")[0] ?? "")}">${xmlEscape(r.error ?? "")}</error>\n  </testcase>`;
    if (r.status === "not-run")
      return `${head}\n    <skipped message="not run: an earlier step failed or the run stopped before it"/>\n  </testcase>`;
    if (r.status === "resumed")
      return `${head}\n    <system-out>resumed from snapshot ${xmlEscape(r.snapshot ?? "")}</system-out>\n  </testcase>`;
    return `${head}</testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="${xmlEscape(suite)}" tests="${results.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${time.toFixed(3)}">\n${cases.join("\n")}\n</testsuite>\n`;
}

export function summaryTable(
  results: StepResult[],
  notes: string[] = [],
  /** The exact PKGNAMEs of the run's Xen, when the box resolved them. */
  xenPackages?: readonly string[],
): string {
  const rows = [
    ["step", "result", "seconds", "snapshot"],
    ...results.map((r) => [r.step, r.status, r.seconds.toFixed(1), r.snapshot ?? "-"]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const table = [fmt(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(fmt)];
  return (
    [
      ...table,
      ...(xenPackages?.length ? ["", `xen packages: ${xenPackages.join(" ")}`] : []),
      ...(notes.length ? ["", "notes:", ...notes.map((n) => `- ${n}`)] : []),
    ].join("\n") + "\n"
  );
}

/** A markdown table cell: pipes escaped, one line. */
export function mdCell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " / ");
}

/**
 * The report HOWTO maintainers read: one row per HOWTO table line, in table order, so the reports of any
 * two boxes line up row by row: verified, deviation (what instead and why), not-exercised (why), failed.
 */
export function howtoReport(box: string, outcomes: readonly HowtoOutcome[]): string {
  const lines = [
    `# HOWTO verification: ${box}`,
    "",
    "| id | section | HOWTO line | status | step | note |",
    "|---|---|---|---|---|---|",
  ];
  for (const o of outcomes) {
    const l = howtoLine(o.id);
    lines.push(
      `| ${o.id} | ${mdCell(sectionLabel(l))} | \`${mdCell(l.text)}\` | ${o.status} | ${o.step ?? "-"} | ${mdCell(o.note ?? "")} |`,
    );
  }
  const beyond = outcomes.filter((o) => howtoLine(o.id).beyond !== undefined);
  if (beyond.length > 0) {
    lines.push("", "Beyond the HOWTO (it names the task, the harness has its own procedure):");
    for (const o of beyond) lines.push(`- ${o.id}: ${howtoLine(o.id).beyond}`);
  }
  return lines.join("\n") + "\n";
}

/** howto.json: the same outcomes for programs (`nbxen howto table`). */
export interface HowtoReportJson {
  box: string;
  lines: HowtoOutcome[];
}

export async function writeRunReports(
  dir: string,
  box: string,
  results: StepResult[],
  outcomes: readonly HowtoOutcome[],
  notes: string[] = [],
  xenPackages?: readonly string[],
): Promise<{ junit: string; summary: string; howto: string; howtoJson: string }> {
  await mkdir(dir, { recursive: true });
  const files = {
    junit: path.join(dir, "steps.junit.xml"),
    summary: path.join(dir, "summary.txt"),
    howto: path.join(dir, "howto.md"),
    howtoJson: path.join(dir, "howto.json"),
  };
  await writeFile(files.junit, junitXml(`nbxen ${box} steps`, results));
  await writeFile(files.summary, summaryTable(results, notes, xenPackages));
  await writeFile(files.howto, howtoReport(box, outcomes));
  const json: HowtoReportJson = { box, lines: [...outcomes] };
  await writeFile(files.howtoJson, JSON.stringify(json, null, 2) + "\n");
  return files;
}
