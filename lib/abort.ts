import { constants } from "node:os";
import { HarnessError } from "./errors.ts";

/**
 * The run was interrupted (Ctrl-C, SIGTERM): not a failure of the guest or of the harness. The CLI exits
 * with 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as a shell does.
 */
export class InterruptedError extends HarnessError {
  constructor(
    readonly signalName: string,
    message = `interrupted by ${signalName}`,
  ) {
    const n = (constants.signals as Record<string, number | undefined>)[signalName];
    super(message, { cliExitCode: n ? 128 + n : 130 });
  }
}

/** What an aborted signal means as an error: its reason when that is an Error, else an interruption. */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error && r.name !== "AbortError") return r;
  return new InterruptedError("abort", "interrupted");
}

/** Throws the abort reason when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/**
 * Settles like `work`, or rejects with the abort reason as soon as `signal` fires, whichever is first.
 * The work itself is not cancelled by this: it must watch the signal too, or be ended by its owner.
 */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => undefined);
      reject(abortReason(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** A signal that fires when any of the given ones does (undefined ones are ignored). */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const list = signals.filter((s): s is AbortSignal => s !== undefined);
  if (list.length <= 1) return list[0];
  return AbortSignal.any(list);
}

/** Name of a signal number (9 -> "SIGKILL"). */
export function signalName(n: number): string {
  const entry = Object.entries(constants.signals).find(([, v]) => v === n);
  return entry ? entry[0] : `signal ${n}`;
}
