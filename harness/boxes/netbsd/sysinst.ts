/**
 * Drives NetBSD's installer, sysinst, over a serial console: from the install CD's "Terminal type"
 * question to "Reboot the computer". Each turn waits for the rendered screen to settle, recognises it
 * among the known screens (sysinst/screens.ts), answers it once, and watches for the next one. Menu
 * letters are read from the screen, never assumed.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Console } from "../../console/index.ts";
import { SysinstFailedError, SysinstTimeoutError, UnknownScreenError } from "./sysinst/errors.ts";
import { findItem, screenSignature, viewOf, type ScreenView } from "./sysinst/screen-text.ts";
import { KNOWN_SCREENS } from "./sysinst/screens.ts";
import type { ActContext, KnownScreen, SysinstAnswers, SysinstState } from "./sysinst/types.ts";

export { SysinstFailedError, SysinstTimeoutError, UnknownScreenError } from "./sysinst/errors.ts";
export type { SysinstAnswers, SysinstFlavor } from "./sysinst/types.ts";

export interface RunSysinstOptions {
  log?: (line: string) => void;
  /** Longest time without any change on the console (after an answer, between two signs of progress). Default 120 s. */
  screenTimeoutMs?: number;
  /**
   * Longest silence of a command under run_program's "Status: Running" (newfs, MAKEDEV all, a big set
   * under TCG print nothing for minutes): it replaces screenTimeoutMs there. Default 30 min.
   */
  silenceTimeoutMs?: number;
  /** Cap on one stretch of progress screens (set extraction), however much it progresses. Default 3 h. */
  extractTimeoutMs?: number;
  /** How long the screen must stay unchanged before it is read. Default 600 ms. */
  settleMs?: number;
  /** How long an unrecognised screen may stay unchanged before UnknownScreenError. Default 5 s. */
  unknownScreenMs?: number;
  /** Delay between typed characters (old QEMU serial emulation dropped input). Default 20 ms. */
  keyDelayMs?: number;
}

const POLL_MS = 50;

/** Classifies a screen: the first known screen (for the flavor) that matches. */
export function recogniseScreen(
  view: ScreenView,
  answers: Pick<SysinstAnswers, "flavor">,
  state: SysinstState = newState(),
): KnownScreen | undefined {
  return KNOWN_SCREENS.find(
    (s) => (!s.flavors || s.flavors.includes(answers.flavor)) && s.matches(view, state),
  );
}

export function newState(): SysinstState {
  return { installDone: false, networkDone: false, rebootChosen: false, configAttempts: {} };
}

/**
 * Runs sysinst to the end: install, configure, and choose "Reboot the computer" in the main menu.
 * Returns once the reboot has been chosen (the caller then handles the boot loader of the new system).
 */
export async function runSysinst(
  console: Console,
  answers: SysinstAnswers,
  opts: RunSysinstOptions = {},
): Promise<void> {
  const log = opts.log ?? (() => undefined);
  const screenTimeoutMs = opts.screenTimeoutMs ?? 120_000;
  const silenceTimeoutMs = Math.max(opts.silenceTimeoutMs ?? 30 * 60_000, screenTimeoutMs);
  const extractTimeoutMs = opts.extractTimeoutMs ?? 3 * 3600_000;
  const settleMs = opts.settleMs ?? 600;
  const unknownScreenMs = Math.max(opts.unknownScreenMs ?? 5000, settleMs);
  const keyDelayMs = opts.keyDelayMs ?? 20;
  const state = newState();

  let raw = console.screenText();
  let current = viewOf(raw);
  let changedAt = Date.now();
  let progressSince: number | undefined;
  let answered: string | undefined;
  let answeredAt = Date.now();
  let repaintNoted = 0;
  let lastKnown: string | undefined;
  let lastLogged: string | undefined;

  const ctx: ActContext = {
    answers,
    state,
    log,
    async choose(view, label, what) {
      const it = findItem(view, label);
      if (!it) throw new SysinstFailedError(`${what}: no menu item ${String(label)}`, view.text);
      log(`  ${what}: ${it.letter} (${it.label})`);
      await console.send(it.letter, { keyDelayMs });
      await console.send("\r", { keyDelayMs });
    },
    async enter(what) {
      log(`  ${what}: <enter>`);
      await console.send("\r", { keyDelayMs });
    },
    async typeLine(text, what, o = {}) {
      log(`  ${what}: ${o.secret ? "********" : JSON.stringify(text)}`);
      await console.sendLine(text, { keyDelayMs, secret: o.secret ?? false });
    },
    fail(reason, view) {
      throw new SysinstFailedError(reason, view.text);
    },
  };

  for (;;) {
    await sleep(POLL_MS);
    if (console.closed) throw new SysinstFailedError("the console closed", current.text);
    const now = Date.now();
    const text = console.screenText();
    if (text !== raw) {
      raw = text;
      current = viewOf(text);
      changedAt = now;
    }
    const known = recogniseScreen(current, answers, state);

    if (known && (known.kind === "progress" || known.kind === "wait") && changedAt === now) {
      // Something moves: boot messages, a progress bar, the next set. That is progress, within a cap.
      progressSince ??= now;
      if (known.kind === "progress" && now - progressSince > extractTimeoutMs) {
        throw new SysinstTimeoutError({
          screen: current.text,
          lastKnown: known.id,
          timeoutMs: extractTimeoutMs,
          what: "progress screens did not end",
        });
      }
    } else if (known && known.kind === "act") {
      progressSince = undefined;
    }
    // Any change on the console, or an answer typed, restarts the clock; a command still running
    // may be silent for longer (its own bound).
    const running = known?.id === "running" && /Status:\s*Running\b/.test(current.flat);
    const limit = running ? silenceTimeoutMs : screenTimeoutMs;
    if (now - Math.max(changedAt, answeredAt) > limit) {
      const command = /Command:\s*(.*)$/m.exec(current.text)?.[1]?.trim();
      throw new SysinstTimeoutError({
        screen: current.text,
        ...(lastKnown !== undefined ? { lastKnown } : {}),
        timeoutMs: limit,
        what: running
          ? `the command sysinst runs (${command ?? "?"}) showed no output and no progress`
          : known
            ? `no change after "${known.id}"`
            : "no known screen appeared",
      });
    }
    if (now - changedAt < settleMs) continue;

    if (!known) {
      if (now - changedAt >= unknownScreenMs) {
        throw new UnknownScreenError({
          screen: current.text,
          ...(lastKnown !== undefined ? { lastKnown } : {}),
          stableMs: now - changedAt,
        });
      }
      continue;
    }
    if (known.kind === "error") {
      throw new SysinstFailedError(known.reason?.(current) ?? known.id, current.text);
    }
    if (known.kind !== "act") {
      if (lastLogged !== known.id) log(`screen ${known.id}`);
      lastLogged = known.id;
      continue;
    }
    const signature = screenSignature(current.text);
    if (signature === answered) {
      // The same screen again (a repaint, or sysinst still busy with the answer): answered already.
      if (repaintNoted !== changedAt && changedAt > answeredAt)
        log(`screen ${known.id} again: already answered`);
      repaintNoted = changedAt;
      continue;
    }
    log(`screen ${known.id}`);
    lastLogged = known.id;
    lastKnown = known.id;
    if (state.installDone && known.id === "main-menu") {
      // Drop sysinst's output from the stream buffer: the next boot's stream patterns must not see it.
      await console.expect(/[\s\S]+/, { timeoutMs: 50 }).catch(() => undefined);
    }
    await known.act!(ctx, current);
    answered = signature;
    answeredAt = Date.now();
    if (state.rebootChosen) {
      log("sysinst: reboot chosen");
      return;
    }
  }
}
