/**
 * How a box relates to the HOWTO's lines: a step declares the lines it exercises (by id, with what it
 * does instead when that is known up front); a step that learns of a deviation while it runs records it;
 * the runner turns both into one outcome per table line.
 */
import type { HowtoLineId } from "./lines.ts";

/**
 * How a HOWTO line fared: verified (the step that exercises it passed), deviation (the box does
 * something else, and says what and why), not-exercised (and why), failed (its step failed).
 */
export type HowtoStatus = "verified" | "deviation" | "not-exercised" | "failed";

/** A step's declaration: a line it carries out as written, or instead of which it does something else. */
export type HowtoRef =
  HowtoLineId | { id: HowtoLineId; deviation: string } | { id: HowtoLineId; notExercised: string };

/** What a step records while it runs: only what differs from its declaration being carried out. */
export interface HowtoCheck {
  id: HowtoLineId;
  status: "deviation" | "not-exercised";
  /** What the box did instead and why, or why the line was not exercised. */
  note: string;
}

/** One table line's outcome for a box: a row of howto.md and howto.json. */
export interface HowtoOutcome {
  id: HowtoLineId;
  status: HowtoStatus;
  /** The step that exercises the line, when the box has one. */
  step?: string;
  note?: string;
}

export function refId(ref: HowtoRef): HowtoLineId {
  return typeof ref === "string" ? ref : ref.id;
}

/** What a declaration alone says: verified unless it names a deviation or says the line is not exercised. */
export function declaredStatus(ref: HowtoRef): { status: HowtoStatus; note?: string } {
  if (typeof ref === "string") return { status: "verified" };
  if ("deviation" in ref) return { status: "deviation", note: ref.deviation };
  return { status: "not-exercised", note: ref.notExercised };
}
