/**
 * One outcome per HOWTO table line for a box, in table order: from the step that declares the line, how
 * that step fared, and what it recorded while it ran. A line no step declares is not exercised, with the
 * table's reason. Pure: the runner, the reports and `nbxen howto coverage` share it.
 */
import { HOWTO_LINE_IDS, howtoLine, type HowtoLineId } from "../howto/lines.ts";
import { declaredStatus, refId, type HowtoCheck, type HowtoOutcome, type HowtoRef } from "../howto/refs.ts";
import { HarnessError } from "../../lib/errors.ts";
import type { StepResult } from "./report.ts";

export interface StepHowto {
  name: string;
  howto: readonly HowtoRef[];
}

/** Each declared id with its step: an id declared by two steps of one box is a bug in the box. */
function declarations(
  box: string,
  steps: readonly StepHowto[],
): Map<HowtoLineId, { step: string; ref: HowtoRef }> {
  const byId = new Map<HowtoLineId, { step: string; ref: HowtoRef }>();
  for (const s of steps)
    for (const ref of s.howto) {
      const id = refId(ref);
      const earlier = byId.get(id);
      if (earlier)
        throw new HarnessError(
          `box ${box}: HOWTO line ${id} is declared by steps ${earlier.step} and ${s.name}`,
        );
      byId.set(id, { step: s.name, ref });
    }
  return byId;
}

function undeclared(box: string, id: HowtoLineId): HowtoOutcome {
  return { id, status: "not-exercised", note: howtoLine(id).unexercised ?? `no step of ${box} exercises it` };
}

/** What the box's declarations alone say of each line (what a passing run would report, bar runtime notes). */
export function declaredOutcomes(box: string, steps: readonly StepHowto[]): HowtoOutcome[] {
  const byId = declarations(box, steps);
  return HOWTO_LINE_IDS.map((id) => {
    const d = byId.get(id);
    return d ? { id, step: d.step, ...declaredStatus(d.ref) } : undeclared(box, id);
  });
}

/** A run's outcomes: `results` as the runner left them, `checks` what the steps recorded. */
export function howtoOutcomes(
  box: string,
  steps: readonly StepHowto[],
  results: readonly StepResult[],
  checks: readonly HowtoCheck[],
): HowtoOutcome[] {
  const byId = declarations(box, steps);
  const recorded = new Map(checks.map((c) => [c.id, c]));
  return HOWTO_LINE_IDS.map((id): HowtoOutcome => {
    const d = byId.get(id);
    if (!d) return undeclared(box, id);
    const declared = declaredStatus(d.ref);
    const step = d.step;
    const check = recorded.get(id);
    // What the step recorded says most; a line declared never exercised is not, whatever its step did.
    if (check) return { id, step, status: check.status, note: check.note };
    if (declared.status === "not-exercised") return { id, step, ...declared };
    const result = results.find((r) => r.step === step);
    switch (result?.status) {
      case "passed":
      case "resumed":
        return { id, step, ...declared };
      case "failed":
        return {
          id,
          step,
          status: "failed",
          note: `step ${step} failed: ${(result.error ?? "").split("\n")[0]}`,
        };
      case "interrupted":
        return { id, step, status: "not-exercised", note: `step ${step} was interrupted` };
      default:
        return { id, step, status: "not-exercised", note: `step ${step} did not run` };
    }
  });
}

/** A step recorded a line it does not declare: the record would be attributed to another step. */
export function checkNotDeclared(step: StepHowto, checks: readonly HowtoCheck[]): string | undefined {
  const ids = new Set(step.howto.map(refId));
  const stray = checks.filter((c) => !ids.has(c.id)).map((c) => c.id);
  return stray.length > 0
    ? `step ${step.name} recorded HOWTO line(s) ${stray.join(", ")} it does not declare (its howto: ${[...ids].join(", ") || "none"})`
    : undefined;
}
