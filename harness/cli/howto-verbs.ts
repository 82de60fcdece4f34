/** `nbxen howto coverage` and `nbxen howto table`. */
import { writeFile } from "node:fs/promises";
import type { ResolvedConfig } from "../boxes/box.ts";
import { boxCatalog, getBox } from "../boxes/registry.ts";
import { coverageFails, formatCoverage, howtoCoverage } from "../howto/coverage.ts";
import type { HowtoRevision } from "../howto/lines.ts";
import { readHowtoSource } from "../howto/source.ts";
import { howtoTableMarkdown, type HowtoColumn } from "../howto/table-report.ts";
import { latestHowtoReport } from "../report/howto-read.ts";
import { declaredOutcomes } from "../steps/howto-outcomes.ts";
import { UsageError } from "../../lib/errors.ts";

const out = (text: string) => process.stdout.write(text);

export interface CoverageOptions {
  revision?: string;
}

function revisionOption(value: string | undefined): HowtoRevision | undefined {
  if (value === undefined || value === "old" || value === "new") return value;
  throw new UsageError(`--revision ${JSON.stringify(value)}: give old or new`);
}

/** Exit 0 when the text is accounted for, 1 when a block maps to no table line or a revision is wrong. */
export async function howtoCoverageVerb(
  config: ResolvedConfig,
  fileOrUrl: string,
  opts: CoverageOptions,
): Promise<number> {
  const revision = revisionOption(opts.revision);
  const box = await getBox(config.box, config.xenPackage);
  const src = await readHowtoSource(fileOrUrl, revision ? { revision } : {});
  const coverage = howtoCoverage(src, box.name, declaredOutcomes(box.name, box.steps()), revision);
  out(formatCoverage(coverage));
  return coverageFails(coverage) ? 1 : 0;
}

export interface TableOptions {
  output?: string;
}

/** Each box's latest recorded outcomes; a box without a run shows what its steps declare. */
export async function howtoTableVerb(
  config: ResolvedConfig,
  boxes: string[],
  opts: TableOptions,
): Promise<number> {
  const names = boxes.length > 0 ? boxes : boxCatalog().map((b) => b.name);
  const columns: HowtoColumn[] = [];
  for (const name of names) {
    const box = await getBox(name);
    const latest = await latestHowtoReport(config.stateDir, box.name);
    columns.push(
      latest
        ? { title: `${box.name} (${latest.from})`, outcomes: latest.report.lines }
        : { title: `${box.name} (no run: declared)`, outcomes: declaredOutcomes(box.name, box.steps()) },
    );
  }
  const md = howtoTableMarkdown(columns);
  if (opts.output !== undefined) await writeFile(opts.output, md);
  else out(md);
  return 0;
}
