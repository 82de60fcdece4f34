/** The bench's figures: each with its raw floor and ratio where one applies, its target and verdict. */

export interface Target {
  op: "<=" | ">=";
  value: number;
  /** How the target was reached when it is computed ("min(3 x floor + install-xen, 180)"). */
  formula?: string;
}

export interface Result {
  name: string;
  value: number;
  unit: string;
  /** "<= 5 s"; "-" when the figure has no target (shown for comparison only). */
  target: string;
  ok: boolean;
  /** Which part of the bench measured it: "floor", "end-to-end", "cold steps", "parts". */
  group: string;
  /** The raw floor the figure is set against, measured in the same run. */
  floor?: { name: string; value: number; unit: string };
  /** value / floor. */
  ratio?: number;
  /** Why a figure is missing, or how it was taken (median of N). */
  note?: string;
}

export interface Measured {
  name: string;
  value: number;
  unit: string;
  group: string;
  target?: Target;
  floor?: { name: string; value: number; unit: string };
  note?: string;
}

export class Results {
  readonly list: Result[] = [];

  add(m: Measured): Result {
    const t = m.target;
    const ok = !t || (Number.isFinite(m.value) && (t.op === "<=" ? m.value <= t.value : m.value >= t.value));
    const r: Result = {
      name: m.name,
      value: m.value,
      unit: m.unit,
      target: t ? `${t.op} ${round(t.value)} ${m.unit}${t.formula ? ` (${t.formula})` : ""}` : "-",
      ok,
      group: m.group,
      ...(m.floor ? { floor: m.floor } : {}),
      ...(m.floor && m.floor.value > 0 && Number.isFinite(m.value) ? { ratio: m.value / m.floor.value } : {}),
      ...(m.note ? { note: m.note } : {}),
    };
    this.list.push(r);
    return r;
  }

  /** A figure that could not be taken: a miss, whether it has a target or not. */
  failed(m: Omit<Measured, "value">, why: string): Result {
    const r = this.add({ ...m, value: Number.NaN, note: why });
    r.ok = false;
    return r;
  }

  get allOk(): boolean {
    return this.list.every((r) => r.ok);
  }
}

function round(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function num(v: number): string {
  if (!Number.isFinite(v)) return "-";
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1);
}

/** The floors in order of first use, each numbered once: the tables show "[n]" and list them below. */
function floorLegend(results: readonly Result[]): string[] {
  return [...new Set(results.flatMap((r) => (r.floor ? [r.floor.name] : [])))];
}

function cells(r: Result, legend: readonly string[]): string[] {
  return [
    !r.ok ? "MISS" : r.target === "-" ? "" : "ok",
    r.name,
    Number.isFinite(r.value) ? `${num(r.value)} ${r.unit}` : "-",
    r.floor ? `${num(r.floor.value)} ${r.floor.unit} [${legend.indexOf(r.floor.name) + 1}]` : "",
    r.ratio !== undefined ? `${r.ratio.toFixed(r.ratio >= 10 ? 0 : 1)}x` : "",
    r.target,
    r.note ?? "",
  ];
}

/** The results grouped, groups in order of first appearance, figures in their order within a group. */
function grouped(results: readonly Result[]): Result[] {
  const order = [...new Set(results.map((r) => r.group))];
  return order.flatMap((g) => results.filter((r) => r.group === g));
}

const HEAD = ["", "figure", "value", "floor", "ratio", "target", "note"];

/** The terminal table, grouped, each group under its name, the floors listed below it. */
export function textTable(given: readonly Result[]): string {
  const results = grouped(given);
  const legend = floorLegend(results);
  const rows = results.map((r) => cells(r, legend));
  const widths = HEAD.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === 2 || i === 3 || i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = [line(HEAD)];
  let group: string | undefined;
  results.forEach((r, i) => {
    if (r.group !== group) {
      group = r.group;
      out.push(`-- ${group}`);
    }
    out.push(line(rows[i]!));
  });
  const floors = legend.map((f, i) => `[${i + 1}] floor: ${f}`);
  return [...out, ...(floors.length ? ["", ...floors] : [])].join("\n") + "\n";
}

function md(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

export function markdownTable(given: readonly Result[], heading: string): string {
  const results = grouped(given);
  const legend = floorLegend(results);
  const out = [
    `# ${heading}`,
    "",
    "| | group | figure | value | floor | ratio | target | note |",
    "|---|---|---|--:|--:|--:|---|---|",
  ];
  for (const r of results) {
    const [status, name, value, floor, ratio, target, note] = cells(r, legend).map(md);
    out.push(
      `| ${status} | ${md(r.group)} | ${name} | ${value} | ${floor} | ${ratio} | ${target} | ${note} |`,
    );
  }
  if (legend.length)
    out.push("", "Floors, measured in the same run:", "", ...legend.map((f, i) => `${i + 1}. ${md(f)}`));
  return out.join("\n") + "\n";
}
