/**
 * HOWTO steps in the style of Packer's multistep: each step has `run` and an optional `cleanup`, shares a
 * typed state, and a failure unwinds the cleanups of the steps that ran (in reverse order, including the
 * step that failed). A step that passes may end in a named snapshot so later runs resume from it.
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
  run(state: S): Promise<void>;
  cleanup?(state: S): Promise<void>;
}
