/**
 * Coverage of a HOWTO text by a box: every command and configuration block the text has, with the table
 * lines it carries and how the box fares on each; the table lines the text has outside blocks; the table
 * lines the text does not have; and where the text and the table disagree on which revision has a line.
 */
import { analyseHowtoText, normalizeHowtoText, type HowtoBlock } from "./blocks.ts";
import { HOWTO_LINE_IDS, howtoLine, type HowtoLineId, type HowtoRevision } from "./lines.ts";
import type { HowtoOutcome, HowtoStatus } from "./refs.ts";
import type { SourceLine } from "./side-by-side.ts";
import type { HowtoSource } from "./source.ts";

export type BlockStatus = HowtoStatus | "unmapped";

export interface BlockCoverage {
  block: HowtoBlock;
  /** The box's outcome for each table line found in the block. */
  lines: HowtoOutcome[];
  /** The least verified of its lines' statuses (verified < deviation < not-exercised < failed). */
  status: BlockStatus;
}

export interface HowtoCoverage {
  source: string;
  format: HowtoSource["format"];
  revision?: HowtoRevision;
  /** Side-by-side: only the diff's hunks are there; a line outside them is in both revisions. */
  partial: boolean;
  hunks: number;
  ambiguousRows: number[];
  box: string;
  blocks: BlockCoverage[];
  /** Table lines the text has outside its blocks, with the box's outcome. */
  inProse: { where: string; outcome: HowtoOutcome }[];
  /** Table lines said to be in this revision (every line, for an unlabelled text) the text does not have. */
  absent: HowtoLineId[];
  /** The text and the table disagree on which revisions carry these lines. */
  mismatches: string[];
}

const ORDER: readonly HowtoStatus[] = ["verified", "deviation", "not-exercised", "failed"];

function has(normalizedText: string, id: HowtoLineId): boolean {
  return normalizedText.includes(normalizeHowtoText(howtoLine(id).text));
}

/** The source line where the text's first occurrence of the line starts. */
function whereIs(lines: readonly SourceLine[], id: HowtoLineId): string {
  const want = normalizeHowtoText(howtoLine(id).text);
  const upTo = (from: number, to: number) =>
    normalizeHowtoText(
      lines
        .slice(from, to + 1)
        .map((l) => l.text)
        .join("\n"),
    );
  const end = lines.findIndex((_, j) => upTo(0, j).includes(want));
  if (end < 0) return "?";
  let start = end;
  while (!upTo(start, end).includes(want)) start--;
  return lines[start]!.where;
}

function textOf(lines: readonly SourceLine[]): string {
  return normalizeHowtoText(lines.map((l) => l.text).join("\n"));
}

/**
 * `revision` picks the text of a side-by-side source (default: the newer); `outcomes` are the box's,
 * one per table line (declaredOutcomes, or a run's).
 */
export function howtoCoverage(
  src: HowtoSource,
  box: string,
  outcomes: readonly HowtoOutcome[],
  revision?: HowtoRevision,
): HowtoCoverage {
  const chosen =
    (revision !== undefined ? src.texts.find((t) => t.revision === revision) : undefined) ??
    src.texts.find((t) => t.revision === "new") ??
    src.texts[0]!;
  const rev = chosen.revision;
  const outcome = new Map(outcomes.map((o) => [o.id, o]));
  const analysis = analyseHowtoText(chosen.lines, { lossy: src.format === "side-by-side" });
  const blocks = analysis.blocks.map((block): BlockCoverage => {
    const text = normalizeHowtoText(block.lines.join("\n"));
    const lines = HOWTO_LINE_IDS.filter((id) => has(text, id)).map(
      (id) => outcome.get(id) ?? { id, status: "not-exercised" as const, note: `no outcome for ${box}` },
    );
    const status =
      lines.length === 0 ? "unmapped" : ORDER[Math.max(...lines.map((l) => ORDER.indexOf(l.status)))]!;
    return { block, lines, status };
  });
  const inBlocks = new Set(blocks.flatMap((b) => b.lines.map((l) => l.id)));
  const whole = textOf(chosen.lines);
  const found = HOWTO_LINE_IDS.filter((id) => has(whole, id));
  const inProse = found
    .filter((id) => !inBlocks.has(id))
    .map((id) => ({
      where: whereIs(chosen.lines, id),
      outcome: outcome.get(id) ?? { id, status: "not-exercised" as const },
    }));
  const absent = HOWTO_LINE_IDS.filter(
    (id) => !found.includes(id) && (rev === undefined || howtoLine(id).revisions.includes(rev)),
  );
  return {
    source: src.source,
    format: src.format,
    ...(rev !== undefined ? { revision: rev } : {}),
    partial: src.format === "side-by-side",
    hunks: src.hunks,
    ambiguousRows: src.ambiguousRows,
    box,
    blocks,
    inProse,
    absent,
    mismatches: revisionMismatches(src),
  };
}

/**
 * A labelled text has a line the table says its revision lacks; or, given both revisions, only one of
 * them has a line the table says both carry.
 */
function revisionMismatches(src: HowtoSource): string[] {
  const labelled = src.texts.flatMap((t) =>
    t.revision ? [{ revision: t.revision, text: textOf(t.lines) }] : [],
  );
  const out: string[] = [];
  for (const id of HOWTO_LINE_IDS) {
    const claimed = howtoLine(id).revisions;
    const holding = labelled.filter((t) => has(t.text, id)).map((t) => t.revision);
    for (const r of holding)
      if (!claimed.includes(r))
        out.push(`${id}: the ${r} revision has it; the table says ${claimed.join(" and ")}`);
    if (labelled.length > 1 && holding.length === 1 && claimed.length > 1)
      out.push(`${id}: only the ${holding[0]} revision has it; the table says ${claimed.join(" and ")}`);
  }
  return out;
}

/** Exit 1: a block no table line accounts for, or a revision the table has wrong. */
export function coverageFails(c: HowtoCoverage): boolean {
  return c.mismatches.length > 0 || c.blocks.some((b) => b.status === "unmapped");
}

function describe(o: HowtoOutcome): string {
  return `${o.id}: ${o.status}${o.step ? ` (step ${o.step})` : ""}${o.note ? `: ${o.note}` : ""}`;
}

/** The table lines the text has, in blocks or outside them. */
export function linesInText(c: HowtoCoverage): HowtoLineId[] {
  const ids = new Set([
    ...c.blocks.flatMap((b) => b.lines.map((l) => l.id)),
    ...c.inProse.map((p) => p.outcome.id),
  ]);
  return HOWTO_LINE_IDS.filter((id) => ids.has(id));
}

export function coverageSummary(c: HowtoCoverage): string {
  const count = (s: BlockStatus) => c.blocks.filter((b) => b.status === s).length;
  return (
    `summary: ${c.blocks.length} blocks (verified ${count("verified")}, deviation ${count("deviation")}, ` +
    `not-exercised ${count("not-exercised")}, failed ${count("failed")}, unmapped ${count("unmapped")}); ` +
    `table lines in the text ${linesInText(c).length}, not in it ${c.absent.length}; ` +
    `revision mismatches ${c.mismatches.length}`
  );
}

export function formatCoverage(c: HowtoCoverage): string {
  const head =
    `HOWTO coverage: ${c.source}` +
    (c.revision ? `, revision ${c.revision}` : "") +
    (c.format === "side-by-side"
      ? ` (side-by-side diff, ${c.hunks} hunks: only the changed parts)`
      : " (markdown)") +
    `, box ${c.box}`;
  const out = [head, "statuses from the box's step declarations (a run's: `nbxen howto table`)", ""];
  out.push(`command and configuration blocks: ${c.blocks.length}`);
  for (const b of c.blocks) {
    const first = b.block.lines.find((l) => l.trim()) ?? "";
    out.push(`  ${b.block.where} [${b.block.section}] ${first}${b.block.lines.length > 1 ? " ..." : ""}`);
    if (b.lines.length === 0)
      out.push("    UNMAPPED: no table line (harness/howto/lines.ts) is in this block");
    for (const l of b.lines) out.push(`    ${describe(l)}`);
  }
  out.push("", `table lines in the text outside blocks: ${c.inProse.length}`);
  for (const p of c.inProse) out.push(`  ${p.where} ${describe(p.outcome)}`);
  out.push(
    "",
    `table lines not in the text: ${c.absent.length}` +
      (c.partial ? " (outside the diff's hunks, which means in both revisions, or gone)" : ""),
  );
  if (c.absent.length) out.push(`  ${c.absent.join(", ")}`);
  out.push("", `revision mismatches: ${c.mismatches.length}`, ...c.mismatches.map((m) => `  ${m}`));
  if (c.ambiguousRows.length) out.push(`rows split by a guess: ${c.ambiguousRows.join(", ")}`);
  out.push("", coverageSummary(c));
  return out.join("\n") + "\n";
}
