import { HarnessError } from "../../../../lib/errors.ts";

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `  | ${l}`)
    .join("\n");
}

/** The console shows a screen none of the known sysinst screens matches, and it has stopped changing. */
export class UnknownScreenError extends HarnessError {
  readonly screen: string;
  /** The last screen that was recognised (its id), if any. */
  readonly lastKnown?: string;
  /** How long the unknown screen stayed unchanged before giving up. */
  readonly stableMs: number;

  constructor(f: { screen: string; lastKnown?: string; stableMs: number }) {
    super(
      `sysinst: unknown screen, unchanged for ${(f.stableMs / 1000).toFixed(1)}s` +
        (f.lastKnown ? ` (after "${f.lastKnown}")` : "") +
        `:\n${indent(f.screen)}`,
    );
    this.screen = f.screen;
    if (f.lastKnown !== undefined) this.lastKnown = f.lastKnown;
    this.stableMs = f.stableMs;
  }
}

/** sysinst reported a failure (or offers nothing the answers can use); `screen` shows what it said. */
export class SysinstFailedError extends HarnessError {
  readonly screen: string;
  readonly reason: string;

  constructor(reason: string, screen: string) {
    super(`sysinst failed: ${reason}\n${indent(screen)}`);
    this.reason = reason;
    this.screen = screen;
  }
}

/** Nothing happened on the console for too long (no new screen, no progress). */
export class SysinstTimeoutError extends HarnessError {
  readonly screen: string;
  readonly lastKnown?: string;
  readonly timeoutMs: number;

  constructor(f: { screen: string; lastKnown?: string; timeoutMs: number; what: string }) {
    super(
      `sysinst: ${f.what} within ${(f.timeoutMs / 1000).toFixed(1)}s` +
        (f.lastKnown ? ` (last screen "${f.lastKnown}")` : "") +
        `:\n${indent(f.screen)}`,
    );
    this.screen = f.screen;
    if (f.lastKnown !== undefined) this.lastKnown = f.lastKnown;
    this.timeoutMs = f.timeoutMs;
  }
}
