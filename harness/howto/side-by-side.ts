/**
 * Reads the side-by-side diff of two HOWTO revisions (docs/howto/*.side-by-side.txt: cvsweb's HTML diff
 * saved as text) back into each revision's lines.
 *
 * The format, as that file has it:
 * - A hunk starts with a header row `Line<NBSP>27<NBSP><NBSP>context...` for the left (older) revision,
 *   then ` Line<NBSP>27...` for the right (newer) one; the lines between hunks are not shown.
 * - Every other row is two cells joined by one space: `<NBSP>left <NBSP>right`. Each cell starts with a
 *   NBSP; inside a cell, HTML whitespace rendering made every space that starts the cell or follows a
 *   space a NBSP (four spaces of indentation are `NBSP sp NBSP sp`, a double space is `sp NBSP`).
 * - A line only one revision has leaves the other cell empty (`<NBSP> <NBSP>right`, `<NBSP>left <NBSP>`).
 * - Blank lines are not kept.
 *
 * A separator looks like a double space inside a cell, so a row can split in several places. Rules, in
 * order: a split whose two cells decode the same (an unchanged line); one whose cells share the longest
 * leading words (a changed line); one with an empty cell (a line one side lacks). Cells that the rendering
 * could not have produced (a space where a NBSP must be) are never taken. Rows the rules cannot decide
 * are counted in `ambiguousRows` and split at the first candidate.
 */
import type { HowtoRevision } from "./lines.ts";

const NBSP = "\u00a0";
const HEADER = /^Line\u00a0(\d+)/;

export interface SourceLine {
  text: string;
  /** Where it is in the source: "row 128" of the side-by-side text, "line 42" of a markdown file. */
  where: string;
}

export interface SideBySideText {
  /** Each revision's lines, in order; the gaps between hunks are not there. */
  revisions: Record<HowtoRevision, SourceLine[]>;
  /** The hunks' first line numbers in each revision, as the headers give them. */
  hunks: { old: number; new: number; row: number }[];
  /** Rows (1-based) the splitting rules could not decide. */
  ambiguousRows: number[];
}

/** Does `text` look like a side-by-side diff (a hunk header first)? */
export function isSideBySide(text: string): boolean {
  const first = text.split("\n").find((l) => l.trim() !== "");
  return first !== undefined && HEADER.test(first);
}

/** The text of a cell's content (after its leading NBSP) as the revision has it. */
function decode(content: string): string {
  return content.replaceAll(NBSP, " ");
}

/** Could HTML whitespace rendering have produced `content`? */
function wellRendered(content: string): boolean {
  let rendered = "";
  for (const ch of decode(content))
    rendered += ch === " " && (rendered === "" || rendered.endsWith(" ")) ? NBSP : ch;
  return rendered === content;
}

function commonWords(a: string, b: string): number {
  const x = a.split(/\s+/).filter(Boolean);
  const y = b.split(/\s+/).filter(Boolean);
  let n = 0;
  while (n < x.length && n < y.length && x[n] === y[n]) n++;
  return n;
}

interface Split {
  left: string;
  right: string;
}

/** The row's two cells, decoded; `ambiguous` when the rules did not decide between several splits. */
export function splitRow(row: string): { split: Split; ambiguous: boolean } | undefined {
  if (!row.startsWith(NBSP)) return undefined;
  const candidates: Split[] = [];
  for (let i = 1; i < row.length - 1; i++) {
    if (row[i] !== " " || row[i + 1] !== NBSP) continue;
    const l = row.slice(1, i);
    const r = row.slice(i + 2);
    if (wellRendered(l) && wellRendered(r)) candidates.push({ left: decode(l), right: decode(r) });
  }
  if (candidates.length === 0) return undefined;
  const same = candidates.find((c) => c.left === c.right);
  if (same) return { split: same, ambiguous: false };
  if (candidates.length === 1) return { split: candidates[0]!, ambiguous: false };
  const best = Math.max(...candidates.map((c) => commonWords(c.left, c.right)));
  const sharing = candidates.filter((c) => commonWords(c.left, c.right) === best);
  if (best > 0 && sharing.length === 1) return { split: sharing[0]!, ambiguous: false };
  const oneSided = candidates.filter((c) => c.left === "" || c.right === "");
  if (oneSided.length === 1) return { split: oneSided[0]!, ambiguous: false };
  return { split: candidates[0]!, ambiguous: true };
}

export function parseSideBySide(text: string): SideBySideText {
  const out: SideBySideText = { revisions: { old: [], new: [] }, hunks: [], ambiguousRows: [] };
  text.split("\n").forEach((row, i) => {
    const where = `row ${i + 1}`;
    if (row.trim() === "") return;
    const header = HEADER.exec(row);
    if (header) {
      const right = /\sLine\u00a0(\d+)/.exec(row);
      out.hunks.push({ old: Number(header[1]), new: Number(right?.[1] ?? header[1]), row: i + 1 });
      return;
    }
    const cells = splitRow(row);
    if (!cells) {
      // Not two cells: keep the whole row for both rather than lose it.
      out.revisions.old.push({ text: decode(row), where });
      out.revisions.new.push({ text: decode(row), where });
      out.ambiguousRows.push(i + 1);
      return;
    }
    if (cells.ambiguous) out.ambiguousRows.push(i + 1);
    const { left, right } = cells.split;
    if (left === right) {
      out.revisions.old.push({ text: left, where });
      out.revisions.new.push({ text: right, where });
      return;
    }
    if (left !== "") out.revisions.old.push({ text: left, where });
    if (right !== "") out.revisions.new.push({ text: right, where });
  });
  return out;
}
