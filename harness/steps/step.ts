/**
 * HOWTO steps: each has `run`, shares a typed state, and a passed step may end in a named snapshot so
 * later runs resume from it (openQA's milestones). There is no per-step cleanup: what a step starts lives
 * in the shared state and belongs to the run (HowtoSession), which stops the machine when the run ends,
 * fails or is interrupted, unless `nbxen up` hands it over to keep running.
 */

import type { HowtoRef } from "../howto/refs.ts";

export interface Step<S> {
  /** Stable id, also the snapshot name: "install-os", "boot-loader", ... */
  readonly name: string;
  /** One-line description for progress and reports. */
  readonly title: string;
  /**
   * The HOWTO lines this step exercises, by id in harness/howto/lines.ts. When the step passes they are
   * verified, unless declared (or recorded in `state.checks` while it runs) as a deviation or not exercised.
   */
  readonly howto: readonly HowtoRef[];
  /** End the step in a snapshot named after it (default true). */
  readonly snapshot?: boolean;
  /**
   * The most the step may take, all waits included. Past it the step fails with a StepTimeoutError that
   * shows the console's last screen, and every pending wait on the console ends at once.
   */
  readonly timeoutMs?: number;
  run(state: S): Promise<void>;
}
