/**
 * NetBSD's x86 BIOS boot loader (sys/arch/i386/stand/boot/boot2.c, stand/lib/bootmenu.c) over a serial
 * console. Its output is line by line, so this reads the byte stream:
 * - with a boot.cfg menu: the entries ("     1. Boot normally"), then
 *   "Choose an option; RETURN for default; SPACE to stop countdown." and "Option N will be chosen in ".
 *   A digit picks an entry at once; SPACE stops the countdown at "Option: [N]:" (type a number + RETURN).
 * - without one: "Press return to boot now, any other key for boot menu" and "booting hd0a:netbsd -
 *   starting in "; any other key gives the "> " prompt.
 * - at "> ": `consdev com0` (a bad name prints "invalid console device."), `menu`, `boot`.
 * Entry numbers are read from the screen, never assumed.
 */
import type { Console, ExpectMatch } from "../../console/index.ts";
import { HarnessError } from "../../../lib/errors.ts";

export interface BootMenuEntry {
  number: number;
  label: string;
}

export interface BootFromMenuOptions {
  /** Boot the menu entry whose label matches. Default: the loader's default entry. */
  entryLabel?: RegExp;
  /** Switch the loader's console first (at the `> ` prompt, reached through "Drop to boot prompt"). */
  consdev?: "com0";
  /** Whole budget, from now until the loader starts loading a kernel. */
  timeoutMs: number;
  keyDelayMs?: number;
  log?: (line: string) => void;
}

/** The loader did not do what was asked (no such entry, bad console, a file it could not load). */
export class BootLoaderError extends HarnessError {
  readonly screen: string;
  readonly entries: BootMenuEntry[];

  constructor(message: string, screen: string, entries: BootMenuEntry[] = []) {
    super(`boot loader: ${message}\n${screen.replace(/^/gm, "  | ")}`);
    this.screen = screen;
    this.entries = entries;
  }
}

const COUNTDOWN = /Option (\d+) will be chosen in /;
const OPTION_PROMPT = /Option: \[(\d+)\]:/;
const NO_MENU = /Press return to boot now, any other key for boot menu/;
const PROMPT = /(?:^|\n)> $/;
const BAD_CONSDEV = /invalid console device\./;
const LOAD_ERROR = /(?:^|\n)(?:boot|multiboot|load|rndseed): [^\r\n]*: [^\r\n]+\r?\n/;
// "15234784+664760+525376 [712848+705018]=0x11db798" while loading, or the kernel's first words.
const LOADING = /\b\d{4,}\+\d+|Copyright \(c\) \d{4}/;

/** Menu entries as boot.cfg's menu prints them: "    %s%d. %s" (one more space before 1-9). */
export function parseBootMenu(text: string): BootMenuEntry[] {
  const entries: BootMenuEntry[] = [];
  for (const m of text.matchAll(/^ {4} ?(\d+)\. (.+?)\s*$/gm)) {
    entries.push({ number: Number(m[1]), label: m[2] ?? "" });
  }
  // A menu printed twice (the `menu` command) lists the same numbers again: keep the latest.
  const latest = new Map<number, BootMenuEntry>();
  for (const e of entries) latest.set(e.number, e);
  return [...latest.values()].sort((a, b) => a.number - b.number);
}

type Phase = "start" | "option-prompt" | "boot-prompt" | "consdev" | "loading";

export async function bootFromMenu(console: Console, opts: BootFromMenuOptions): Promise<void> {
  const log = opts.log ?? (() => undefined);
  const keyDelayMs = opts.keyDelayMs ?? 20;
  const deadline = Date.now() + opts.timeoutMs;
  let consdevPending = opts.consdev !== undefined;
  let entries: BootMenuEntry[] = [];
  let target: number | undefined;
  let phase: Phase = "start";

  const type = (text: string) => console.send(text, { keyDelayMs });
  const line = (text: string) => console.sendLine(text, { keyDelayMs });
  const fail = (message: string): never => {
    throw new BootLoaderError(message, console.screenText(), entries);
  };

  /** The entry to boot: "Drop to boot prompt" while the console still has to be switched. */
  const pickTarget = (defaultNumber: number): number => {
    if (consdevPending) {
      const prompt = entries.find((e) => /Drop to boot prompt/i.test(e.label));
      if (!prompt) fail(`consdev ${opts.consdev} needs the "Drop to boot prompt" entry, the menu has none`);
      return prompt!.number;
    }
    if (!opts.entryLabel) return defaultNumber;
    const e = entries.find((x) => opts.entryLabel!.test(x.label));
    if (!e) fail(`no menu entry matches ${String(opts.entryLabel)}`);
    return e!.number;
  };
  const afterChoice = (n: number): Phase =>
    consdevPending && entries.find((e) => e.number === n && /Drop to boot prompt/i.test(e.label))
      ? "boot-prompt"
      : "loading";

  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) fail(`nothing was booted within ${opts.timeoutMs} ms`);
    const m: ExpectMatch = await console.expect(
      [COUNTDOWN, OPTION_PROMPT, NO_MENU, PROMPT, BAD_CONSDEV, LOAD_ERROR, LOADING],
      {
        timeoutMs: remaining,
        description: `boot loader (${phase})`,
      },
    );
    switch (m.index) {
      case 0: {
        // Menu with a countdown: the entries are just above it.
        const found = parseBootMenu(m.before.replace(/\r/g, ""));
        entries = found.length > 0 ? found : parseBootMenu(m.screen);
        const def = Number(m.match[1]);
        target = pickTarget(def);
        log(`boot menu: ${entries.map((e) => `${e.number}=${e.label}`).join(", ")}; choosing ${target}`);
        if (target === def && !consdevPending) {
          await type("\r");
          phase = "loading";
        } else if (target <= 9) {
          await type(String(target));
          phase = afterChoice(target);
        } else {
          await type(" ");
          phase = "option-prompt";
        }
        break;
      }
      case 1: {
        // "Option: [N]:" (countdown stopped, or timeout=-1 in boot.cfg)
        if (entries.length === 0) entries = parseBootMenu(m.screen);
        target ??= pickTarget(Number(m.match[1]));
        log(`boot menu: option ${target}`);
        await line(String(target));
        phase = afterChoice(target);
        break;
      }
      case 2: {
        if (opts.entryLabel)
          fail(`entry ${String(opts.entryLabel)} was asked for, but this loader has no menu`);
        if (consdevPending) {
          log("boot loader: no menu; a key for the boot prompt");
          await type(" ");
          phase = "boot-prompt";
        } else {
          log("boot loader: no menu; booting the default");
          await type("\r");
          phase = "loading";
        }
        break;
      }
      case 3: {
        if (consdevPending) {
          log(`boot loader: consdev ${opts.consdev}`);
          await line(`consdev ${opts.consdev}`);
          consdevPending = false;
          phase = "consdev";
        } else if (opts.entryLabel && entries.length > 0) {
          log("boot loader: back to the menu");
          await line("menu");
          phase = "start";
        } else {
          log("boot loader: boot");
          await line("boot");
          phase = "loading";
        }
        break;
      }
      case 4:
        fail(`the loader refused "consdev ${opts.consdev}"`);
        break;
      case 5:
        fail(`loading failed: ${m.after.trim()}`);
        break;
      case 6:
        if (phase === "loading") {
          log("boot loader: loading");
          return;
        }
        if (consdevPending || opts.entryLabel)
          fail("the loader booted before the requested choice could be made");
        log("boot loader: booted the default on its own");
        return;
    }
  }
}
