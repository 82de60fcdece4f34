/**
 * HOWTO steps: each has `run`, shares a typed state, and a passed step may end in a named snapshot so
 * later runs resume from it (openQA's milestones). There is no per-step cleanup: what a step starts lives
 * in the shared state and belongs to the run (HowtoSession), which stops the machine when the run ends,
 * fails or is interrupted, unless `nbxen up` hands it over to keep running.
 */

/** How a HOWTO line fared in a run: the report HOWTO maintainers read. */
export type HowtoStatus = "verified" | "deviation" | "not-exercised";

export interface HowtoLine {
  /** HOWTO section the line belongs to, e.g. "Installing Xen: boot.cfg". */
  section: string;
  /** A short quote of the command or config line. */
  quote: string;
}

export interface HowtoCheck extends HowtoLine {
  status: HowtoStatus;
  /** For a deviation: what the harness did instead and why. For not-exercised: why. */
  note?: string;
}

export interface Step<S> {
  /** Stable id, also the snapshot name: "install-os", "boot-loader", ... */
  readonly name: string;
  /** One-line description for progress and reports. */
  readonly title: string;
  /** The HOWTO lines this step exercises (traceability). */
  readonly howto: readonly HowtoLine[];
  /** End the step in a snapshot named after it (default true). */
  readonly snapshot?: boolean;
  /**
   * The most the step may take, all waits included. Past it the step fails with a StepTimeoutError that
   * shows the console's last screen, and every pending wait on the console ends at once.
   */
  readonly timeoutMs?: number;
  run(state: S): Promise<void>;
}
