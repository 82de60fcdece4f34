import type { Console } from "../console/console.ts";
import { HarnessError } from "../../lib/errors.ts";
import type { AcceleratorChoice } from "./accel.ts";
import type { Machine } from "./machine.ts";

/**
 * A KVM boot whose console stayed silent past the watchdog's bound: the machine has been stopped. Under
 * `accelerator: auto` the runner redoes the run under TCG once; with `accelerator: kvm` this is the error.
 */
export class KvmBootStalledError extends HarnessError {
  constructor(
    readonly machine: string,
    /** What was booting ("boot", "reboot into Xen", ...). */
    readonly phase: string,
    readonly silentForMs: number,
    /** Whether the console printed anything at all since the boot began. */
    readonly printedAnything: boolean,
    readonly lastScreen: string,
    readonly lastOutput: string,
    readonly fallbackAllowed: boolean,
  ) {
    const seen = printedAnything
      ? `its console printed, then nothing for ${Math.round(silentForMs / 1000)}s`
      : `its console printed nothing for ${Math.round(silentForMs / 1000)}s`;
    const next = fallbackAllowed
      ? "redoing the run under TCG"
      : 'qemu.accelerator is "kvm", so there is no fallback: set it to "auto" (falls back by itself) or "tcg"';
    super(
      `${machine}: the ${phase} under KVM stalled: ${seen} (qemu.bootWatchdogSeconds); ${next}\n` +
        `last output: ${JSON.stringify(lastOutput.slice(-300))}\nlast screen:\n${lastScreen}`,
    );
  }

  /** One line for warnings, transcripts and run notes. */
  get summary(): string {
    return this.message.split("\n")[0]!;
  }
}

/** Finds a KvmBootStalledError in an error or its causes (steps wrap what they throw). */
export function findKvmStall(error: unknown): KvmBootStalledError | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 10; depth++) {
    if (e instanceof KvmBootStalledError) return e;
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}

interface Silence {
  promise: Promise<number>;
  cancel(): void;
}

/** Resolves with how long the console was silent once it has been silent for `silenceMs`. */
export function watchForSilence(console: Console, silenceMs: number, pollMs = 500): Silence {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<number>((resolve) => {
    timer = setInterval(
      () => {
        const silent = Date.now() - console.lastOutputAt;
        if (silent >= silenceMs) {
          clearInterval(timer);
          resolve(silent);
        }
      },
      Math.min(pollMs, silenceMs),
    );
  });
  return { promise, cancel: () => clearInterval(timer) };
}

/**
 * Runs `boot` (which waits for the booting guest, e.g. a login) under the boot watchdog when the machine
 * runs under KVM: if the console stays silent for `silenceMs` first, the machine is stopped and
 * KvmBootStalledError thrown, saying so in the machine's transcript. Under TCG, or with silenceMs 0, it
 * only runs `boot`: TCG is the fallback, and slow is not stalled.
 */
export async function withBootWatchdog<T>(
  machine: Machine,
  accel: AcceleratorChoice,
  silenceMs: number,
  phase: string,
  boot: () => Promise<T>,
): Promise<T> {
  if (accel.accelerator !== "kvm" || silenceMs <= 0) return boot();
  const startedAt = Date.now();
  const silence = watchForSilence(machine.console, silenceMs);
  const work = boot();
  try {
    const first = await Promise.race([
      work.then((value) => ({ done: true as const, value })),
      silence.promise.then((silentForMs) => ({ done: false as const, silentForMs })),
    ]);
    if (first.done) return first.value;
    const stall = new KvmBootStalledError(
      machine.name,
      phase,
      first.silentForMs,
      machine.console.lastOutputAt > startedAt,
      machine.console.screenText(),
      machine.console.bufferTail(2000),
      accel.fallbackAllowed,
    );
    machine.transcript.note(`boot watchdog: ${stall.summary}`);
    work.catch(() => undefined); // it fails once the machine is gone; the stall is the error
    await machine.stop();
    throw stall;
  } finally {
    silence.cancel();
  }
}
