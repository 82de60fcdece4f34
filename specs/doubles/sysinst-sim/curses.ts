/**
 * Curses-like drawing for the simulated sysinst: cursor addressing, clears, VT100 line drawing for
 * menu boxes, reverse video for the current item, partial repaints when the selection moves, and
 * labels written in two pieces (a cursor jump in between), as curses does when it optimises a redraw.
 * Keys work like sysinst's menus: a letter selects an item, Enter activates the current one.
 */
import type { SimTty } from "./tty.ts";

const ESC = "\x1b";
const CLEAR = `${ESC}[H${ESC}[2J`;
const EL = `${ESC}[K`;
const REV = `${ESC}[7m`;
const NORM = `${ESC}[m`;
const ACS = (s: string): string => `${ESC}(0${s}${ESC}(B`;
const cup = (row: number, col: number): string => `${ESC}[${row + 1};${col + 1}H`;

export interface UiItem {
  label: string;
  /** Value column (config menu: "YES", "password set", ...). */
  value?: string;
  /** On the simulated install path. Choosing an item without it ends in the off-path screen. */
  ok?: boolean;
}

/**
 * A message as msgc's catalogue holds it, one entry per source line (joined with newlines, auto-filled
 * like msg_display), or a `{ table }` line written as it is (msg_table_add: no auto-fill).
 */
export type MsgLine = string | { table: string };

export interface MenuSpec {
  id: string;
  msg?: MsgLine[];
  title?: string;
  items: UiItem[];
  /** The exit item; it gets the letter x. */
  exit?: UiItem;
  /** sysinst's "ok" menu: one letterless item. */
  noShortcut?: boolean;
  cursel?: number;
  /** Draw over what is on the screen (a submenu), without clearing. */
  overlay?: boolean;
  /** Label column width when items have values. */
  labelWidth?: number;
  /** Keep the shifted-letters scenario away from this menu. */
  fixedLetters?: boolean;
}

export interface Choice {
  /** Index in spec.items, or -1 for the exit item. */
  index: number;
  item: UiItem;
}

export interface UiOptions {
  scenarios: ReadonlySet<string>;
  log: (line: string) => void;
  /** How long a repainted menu stays before sysinst acts (repaints scenario), in real milliseconds. */
  repaintHoldMs: number;
}

interface Box {
  x: number;
  y: number;
  w: number;
  firstItemRow: number;
}

export class OffPathError extends Error {}

export class SysinstUi {
  private drawn = 0;

  constructor(
    readonly tty: SimTty,
    private readonly opts: UiOptions,
  ) {}

  has(scenario: string): boolean {
    return this.opts.scenarios.has(scenario);
  }

  log(line: string): void {
    this.opts.log(line);
  }

  /** Shows a menu and returns the activated item. Items off the simulated path never return. */
  async menu(spec: MenuSpec): Promise<Choice> {
    const shifted = this.has("shifted-letters") && !spec.noShortcut && !spec.fixedLetters;
    const items: UiItem[] = shifted
      ? [{ label: "Item inserted by the shifted-letters scenario" }, ...spec.items]
      : spec.items;
    const entries = [
      ...items.map((it, i) => ({ it, index: shifted ? i - 1 : i })),
      ...(spec.exit ? [{ it: spec.exit, index: -1 }] : []),
    ];
    const letters = this.letters(items.length, spec.exit !== undefined);
    let cur =
      spec.cursel === undefined ? 0 : spec.cursel < 0 ? entries.length - 1 : spec.cursel + (shifted ? 1 : 0);
    const text = (i: number): string => {
      const e = entries[i]!;
      const label =
        spec.labelWidth !== undefined && e.it.value !== undefined
          ? `${e.it.label.padEnd(spec.labelWidth)} ${e.it.value}`
          : e.it.label;
      return spec.noShortcut ? label : `${letters[i]}: ${label}`;
    };
    const box = this.drawMenu(spec, entries.length, text, cur);
    this.log(`screen ${spec.id}: ${entries.map((_, i) => text(i)).join(" | ")}`);
    await this.maybeRepaint(() => this.drawMenu(spec, entries.length, text, cur));
    for (;;) {
      const k = await this.tty.key();
      let next = cur;
      if (k === "\r" || k === "\n") {
        const e = entries[cur]!;
        this.log(`  ${spec.id}: activated "${e.it.label}"`);
        if (this.has("repaints")) {
          // sysinst redraws the menu before it acts; the screen looks the same for a moment.
          this.tty.write(CLEAR);
          this.drawMenu(spec, entries.length, text, cur);
          await this.tty.sleep(this.opts.repaintHoldMs, { unscaled: true });
        }
        if (!e.it.ok) return this.offPath(`${spec.id}: ${e.it.label}`);
        return { index: e.index, item: e.it };
      } else if (k === "\x0e" || k === `${ESC}[B` || k === `${ESC}OB`) {
        next = Math.min(cur + 1, entries.length - 1);
      } else if (k === "\x10" || k === `${ESC}[A` || k === `${ESC}OA`) {
        next = Math.max(cur - 1, 0);
      } else if (!spec.noShortcut && letters.includes(k)) {
        next = letters.indexOf(k);
      } else {
        this.tty.write("\x07");
        continue;
      }
      if (next !== cur) {
        // Partial repaint: only the two rows that change.
        this.drawRow(box, cur, text(cur), false);
        this.drawRow(box, next, text(next), true);
        cur = next;
      }
    }
  }

  async hitEnter(id: string, msg: MsgLine[]): Promise<void> {
    await this.menu({ id, msg, items: [{ label: "Hit enter to continue", ok: true }], noShortcut: true });
  }

  /** sysinst's yes/no questions: `noyes` lists No first (ask_noyes), `yesno` Yes first (ask_yesno). */
  async yes(id: string, msg: MsgLine[], order: "noyes" | "yesno", title = "Yes or no?"): Promise<void> {
    const yes = { label: "Yes", ok: true };
    const no = { label: "No" };
    await this.menu({ id, msg, title, items: order === "noyes" ? [no, yes] : [yes, no] });
  }

  /**
   * msg_display() then getchar(): the message alone, no menu, any key goes on (NetBSD 6's
   * install.c after newfs: disksetupdone).
   */
  async pressKey(id: string, msg: MsgLine[]): Promise<string> {
    const { rows, cols } = this.tty;
    let out = CLEAR;
    renderMessage(msg, cols - 2).forEach((l, i) => {
      if (i < rows - 1) out += cup(1 + i, 1) + l;
    });
    this.tty.write(out);
    this.log(`screen ${id}: (waits for a key)`);
    const k = await this.tty.key();
    this.log(`  ${id}: key ${JSON.stringify(k)}`);
    return k;
  }

  /** A line prompt in libmsg's style, "Label [default]: ". Returns the answer or the default. */
  async prompt(
    id: string,
    msg: string[],
    label: string,
    dflt: string,
    opts: { echo?: boolean } = {},
  ): Promise<string> {
    this.tty.write(CLEAR);
    msg.forEach((l, i) => this.tty.write(cup(1 + i, 1) + l));
    const row = msg.length + 2;
    this.tty.write(cup(row, 1) + (dflt ? `${label} [${dflt}]: ` : `${label}: `));
    this.log(`screen ${id}: ${label} [${dflt}]`);
    const answer = await this.tty.readLine({ echo: opts.echo ?? true });
    this.log(`  ${id}: ${opts.echo === false ? "(hidden)" : JSON.stringify(answer)}`);
    return answer === "" ? dflt : answer;
  }

  /**
   * run_program's display: " Status: Running", "Command: ...", a rule, then the command's output.
   * `body` draws the output and returns when the command is done.
   */
  async run(
    command: string,
    body: (out: OutputWindow) => Promise<void>,
    opts: { keepScreen?: MsgLine[] } = {},
  ): Promise<void> {
    this.tty.write(CLEAR);
    const kept = renderMessage(opts.keepScreen ?? [], this.tty.cols - 2);
    const top = kept.length;
    kept.forEach((l, i) => this.tty.write(cup(i, 1) + l));
    this.tty.write(cup(top, 0) + " Status: Running" + EL);
    this.tty.write(cup(top + 1, 0) + "Command: " + command + EL);
    this.tty.write(cup(top + 2, 0) + ACS("q".repeat(this.tty.cols)));
    this.log(`screen run: ${command}`);
    const out = new OutputWindow(this.tty, top + 3);
    await body(out);
    this.tty.write(cup(top, 0) + " Status: Finished" + EL);
    await this.tty.sleep(150);
  }

  /** The screen for a choice a real install with sensible answers would not make; waits forever. */
  async offPath(what: string): Promise<never> {
    this.log(`OFF PATH: ${what}`);
    this.tty.write(CLEAR);
    this.tty.write(
      cup(2, 2) + "nbxen sysinst simulator (a test double): this choice is off the simulated path:",
    );
    this.tty.write(cup(4, 4) + what);
    for (;;) await this.tty.key();
  }

  private letters(count: number, withExit: boolean): string[] {
    const out: string[] = [];
    for (let c = 97; out.length < count; c++) {
      const l = String.fromCharCode(c);
      if (withExit && l === "x") continue;
      out.push(l);
    }
    if (withExit) out.push("x");
    return out;
  }

  private async maybeRepaint(redraw: () => void): Promise<void> {
    this.drawn++;
    // Some screens arrive twice, as with a real curses program; in the repaints scenario all of them.
    if (!this.has("repaints") && this.drawn % 5 !== 0) return;
    await this.tty.sleep(60);
    if (this.tty.hasKey()) return;
    this.tty.write(CLEAR);
    redraw();
  }

  private drawMenu(spec: MenuSpec, count: number, text: (i: number) => string, cur: number): Box {
    const { rows, cols } = this.tty;
    let out = spec.overlay ? "" : CLEAR;
    // sysinst's message window: newwin(maxy - 2, maxx - 2, 1, 1) (usr.sbin/sysinst/main.c)
    const msg = spec.overlay ? [] : renderMessage(spec.msg ?? [], cols - 2);
    msg.forEach((l, i) => {
      if (i < rows - 1) out += cup(1 + i, 1) + l;
    });
    const widths = Array.from({ length: count }, (_, i) => text(i).length + 1);
    const inner = Math.min(cols - 4, Math.max(spec.title?.length ?? 0, ...widths) + 2);
    const w = inner + 2;
    const titleRows = spec.title ? 2 : 0;
    const h = count + titleRows + 2;
    const x = Math.max(0, Math.floor((cols - w) / 2));
    const y = Math.max(0, Math.min(msg.length + 2, rows - h - 1));
    out += cup(y, x) + ACS("l" + "q".repeat(w - 2) + "k");
    let r = y + 1;
    if (spec.title) {
      out += cup(r++, x) + ACS("x") + centre(spec.title, inner) + ACS("x");
      out += cup(r++, x) + ACS("x") + " ".repeat(inner) + ACS("x");
    }
    const box: Box = { x, y, w, firstItemRow: r };
    this.tty.write(out);
    for (let i = 0; i < count; i++) this.drawRow(box, i, text(i), i === cur, i === 1);
    this.tty.write(cup(box.firstItemRow + count, x) + ACS("m" + "q".repeat(w - 2) + "j"));
    this.tty.write(cup(box.firstItemRow + cur, x + 1));
    return box;
  }

  /** One menu row; `split` writes the label in two pieces with a cursor jump in between. */
  private drawRow(box: Box, i: number, label: string, selected: boolean, split = false): void {
    const inner = box.w - 2;
    const body = ((selected ? ">" : " ") + label).padEnd(inner).slice(0, inner);
    const row = box.firstItemRow + i;
    const on = selected ? REV : "";
    const off = selected ? NORM : "";
    if (split && body.trim().length > 8) {
      const cutAt = Math.floor(body.trimEnd().length / 2);
      this.tty.write(cup(row, box.x) + ACS("x") + on + body.slice(0, cutAt) + off);
      this.tty.write(cup(row, box.x + box.w - 1) + ACS("x"));
      this.tty.write(cup(row, box.x + 1 + cutAt) + on + body.slice(cutAt) + off);
      return;
    }
    this.tty.write(cup(row, box.x) + ACS("x") + on + body + off + ACS("x"));
  }
}

/** The output part of run_program's window. */
export class OutputWindow {
  private row: number;

  constructor(
    private readonly tty: SimTty,
    private readonly top: number,
  ) {
    this.row = top;
  }

  /** Appends a line of output (the last row is reused when the window is full). */
  line(text: string): void {
    if (this.row >= this.tty.rows) this.row = this.tty.rows - 1;
    this.tty.write(cup(this.row, 0) + text + EL);
    this.row++;
  }

  /** Text where the cursor is left (a prompt waiting for input). */
  prompt(text: string): void {
    if (this.row >= this.tty.rows) this.row = this.tty.rows - 1;
    this.tty.write(cup(this.row, 0) + text + EL);
    this.tty.write(cup(this.row, text.length));
    this.row++;
  }

  /** Rewrites the current last line (a progress bar). */
  rewrite(text: string): void {
    const r = Math.max(this.top, this.row - 1);
    this.tty.write(cup(r, 0) + text + EL);
  }
}

function centre(text: string, width: number): string {
  const left = Math.max(0, Math.floor((width - text.length) / 2));
  return (" ".repeat(left) + text).padEnd(width).slice(0, width);
}

/**
 * The message window's text as msgc's auto-fill draws it (usr.bin/msgc/msg_sys.def, _msg_vprintf with
 * auto_fill set): words are re-flowed; a newline after a word counts as a space; a newline after a
 * space (or after another newline) breaks the line, and a second newline in a row leaves a blank line;
 * a tab after a newline starts a new line indented to the next tab stop; two spaces follow a word
 * ending in '.', '?' or '!', one follows any other word, at most; a word moves to the next line when
 * column + spaces + length reaches the window width, unless it is a third of the width or longer.
 * `{ table }` lines are written as they are (msg_table_add: no auto-fill).
 */
export function renderMessage(parts: readonly MsgLine[], width: number): string[] {
  const lines: string[] = [""];
  const col = (): number => lines[lines.length - 1]!.length;
  const put = (text: string): void => {
    lines[lines.length - 1] += text;
  };
  const newline = (): void => {
    lines.push("");
  };
  // curses wraps a too-long word at the window's edge, character by character
  const putWrapped = (text: string): void => {
    for (const ch of text) {
      if (col() >= width) newline();
      put(ch);
    }
  };
  let iNl = false;
  let iSpace = false;
  let oPunct = false;
  let oSpace = true;
  const autofill = (text: string): void => {
    for (let i = 0; i < text.length;) {
      const c = text[i]!;
      if (c === "\n") {
        if (iNl || iSpace) {
          if (col() !== 0) newline();
          if (iNl) newline();
          oPunct = false;
          oSpace = true;
        }
        iSpace = true;
        iNl = true;
        i++;
        continue;
      }
      if (c === "\t") {
        if (iNl && col() !== 0) newline();
        put(" ".repeat(8 - (col() % 8)));
        iNl = false;
        iSpace = true;
        oPunct = false;
        oSpace = true;
        i++;
        continue;
      }
      iNl = false;
      if (/\s/.test(c)) {
        iSpace = true;
        i++;
        continue;
      }
      iSpace = false;
      let j = i;
      while (j < text.length && !/\s/.test(text[j]!)) j++;
      const word = text.slice(i, j);
      let spaces = oSpace ? 0 : oPunct ? 2 : 1;
      if (col() + spaces + word.length >= width && word.length < width / 3) {
        newline();
        spaces = 0;
      }
      putWrapped(" ".repeat(spaces) + word);
      oPunct = /[.?!]$/.test(word);
      oSpace = false;
      i = j;
    }
    if (iNl) {
      if (col() !== 0) newline();
      oPunct = false;
      oSpace = true;
    }
  };
  let pending: string[] = [];
  const flush = (): void => {
    if (pending.length > 0) autofill(pending.join("\n") + "\n");
    pending = [];
  };
  for (const p of parts) {
    if (typeof p === "string") {
      pending.push(p);
      continue;
    }
    flush();
    if (col() !== 0) newline();
    put(p.table);
    newline();
    iNl = iSpace = true;
    oPunct = false;
    oSpace = true;
  }
  flush();
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}
