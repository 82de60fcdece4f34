/**
 * Several boxes' HOWTO outcomes in one markdown table: a row per table line, a column per box, so the
 * reference box and the NetBSD boxes can be read side by side.
 */
import { HOWTO_LINE_IDS, howtoLine, sectionLabel } from "./lines.ts";
import type { HowtoOutcome } from "./refs.ts";
import { mdCell } from "../steps/report.ts";

export interface HowtoColumn {
  /** Column heading: the box, and where its outcomes come from. */
  title: string;
  outcomes: readonly HowtoOutcome[];
}

function cell(o: HowtoOutcome | undefined): string {
  if (!o) return "(not in this report)";
  return mdCell(`${o.status}${o.note ? `: ${o.note}` : ""}`);
}

export function howtoTableMarkdown(columns: readonly HowtoColumn[]): string {
  const lines = [
    `| id | section | HOWTO line | ${columns.map((c) => mdCell(c.title)).join(" | ")} |`,
    `|---|---|---|${columns.map(() => "---|").join("")}`,
  ];
  const byBox = columns.map((c) => new Map(c.outcomes.map((o) => [o.id, o])));
  for (const id of HOWTO_LINE_IDS) {
    const l = howtoLine(id);
    lines.push(
      `| ${id} | ${mdCell(sectionLabel(l))} | \`${mdCell(l.text)}\` | ${byBox.map((m) => cell(m.get(id))).join(" | ")} |`,
    );
  }
  return lines.join("\n") + "\n";
}
