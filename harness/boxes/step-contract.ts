import { HarnessError } from "../../lib/errors.ts";
import type { Box } from "./box.ts";

/**
 * The steps the HOWTO specs reach, in HOWTO order: every box has a step of each name, in this order
 * (a box may have more steps between them, e.g. the Debian boxes' boot-loader). A spec reaches only these.
 */
export const HOWTO_STEP_IDS = [
  "install-os",
  "install-xen",
  "boot-xen",
  "configure-xen",
  "network",
  "domu",
  "autostart",
  "hvm-domu",
] as const;

export type HowtoStepId = (typeof HOWTO_STEP_IDS)[number];

/** The step after the HOWTO's, in a run asked to update Xen in place (Box.updateXenStep). */
export const UPDATE_XEN_STEP = "update-xen";

/** Why `box` breaks the contract, or undefined when it fulfils it. */
export function stepContractViolation(box: Pick<Box, "name" | "steps">): string | undefined {
  const names = box.steps().map((s) => s.name);
  const missing = HOWTO_STEP_IDS.filter((id) => !names.includes(id));
  if (missing.length > 0)
    return `box ${box.name} has no step ${missing.join(", ")} (its steps: ${names.join(", ")})`;
  const order = HOWTO_STEP_IDS.map((id) => names.indexOf(id));
  for (let i = 1; i < order.length; i++)
    if (order[i]! < order[i - 1]!)
      return `box ${box.name} runs ${HOWTO_STEP_IDS[i]} before ${HOWTO_STEP_IDS[i - 1]} (its steps: ${names.join(", ")})`;
  return undefined;
}

export function assertHowtoStepId(step: string): asserts step is HowtoStepId | typeof UPDATE_XEN_STEP {
  if (step !== UPDATE_XEN_STEP && !(HOWTO_STEP_IDS as readonly string[]).includes(step))
    throw new HarnessError(
      `${JSON.stringify(step)} is not a HOWTO step every box has; the specs may reach: ${[...HOWTO_STEP_IDS, UPDATE_XEN_STEP].join(", ")}`,
    );
}
