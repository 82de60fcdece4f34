/** A box's latest HOWTO outcomes (howto.json), from its newest recorded run or its report directory. */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { isHowtoLineId } from "../howto/lines.ts";
import type { HowtoOutcome } from "../howto/refs.ts";
import type { HowtoReportJson } from "../steps/report.ts";
import { UsageError } from "../../lib/errors.ts";
import { listRuns } from "./history.ts";

export async function readHowtoJson(file: string): Promise<HowtoReportJson> {
  const data = JSON.parse(await readFile(file, "utf8")) as Partial<HowtoReportJson>;
  if (typeof data.box !== "string" || !Array.isArray(data.lines))
    throw new UsageError(`${file}: not a HOWTO report (needs "box" and "lines")`);
  // A report written with an older table may name lines the table no longer has: those are left out.
  const lines = data.lines.filter((l): l is HowtoOutcome => typeof l?.id === "string" && isHowtoLineId(l.id));
  return { box: data.box, lines };
}

/** The newest run of `box` with a howto.json, else <state>/reports/<box>/howto.json; undefined if neither. */
export async function latestHowtoReport(
  stateDir: string,
  box: string,
): Promise<{ from: string; report: HowtoReportJson } | undefined> {
  const runs = (await listRuns(stateDir, box)).reverse();
  const candidates = [
    ...runs.map((r) => ({ from: `run ${r.id}`, file: path.join(r.dir, "howto.json") })),
    { from: `reports/${box}`, file: path.join(stateDir, "reports", box, "howto.json") },
  ];
  const found = candidates.find((c) => existsSync(c.file));
  return found ? { from: found.from, report: await readHowtoJson(found.file) } : undefined;
}
