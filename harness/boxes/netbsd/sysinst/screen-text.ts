/**
 * Reading sysinst's curses screens as rendered text (the virtual screen of the console, not the byte
 * stream): menu items with their letters, the last prompt line, a signature for "same screen again".
 */

/** One menu entry as drawn by sysinst's menu library: `a: Label` (the current one has a `>` before it). */
export interface MenuItem {
  letter: string;
  /** The label, without the value column some menus add after two or more spaces. */
  label: string;
  /** The value column ("YES", "password set", ...) of menus like the config menu; "" when there is none. */
  value: string;
  selected: boolean;
  /** Row on the screen (0-based). */
  row: number;
}

/** A rendered screen, parsed once per look. */
export interface ScreenView {
  text: string;
  lines: string[];
  /** The last non-blank line, trimmed (where a line prompt waits for input). */
  last: string;
  items: MenuItem[];
  /**
   * The text with box borders dropped and every run of whitespace made one space. sysinst draws its
   * messages with msgc's auto-fill (usr.bin/msgc/msg_sys.def): the source's line breaks are not
   * kept and text wraps at the message window's width, so a message is matched on this text.
   */
  flat: string;
}

// Box-drawing characters xterm renders for curses' line-drawing set, plus ASCII fallbacks.
const BORDER = /[\u2500-\u257f|]/g;
// A menu letter: not glued to a word before it ("bootblock: Serial" must not read as item "k").
const ITEM = /(?<![A-Za-z0-9_.\-/])(>?)([a-z]): (\S.*?)(?=\s*$)/;

/** Right-trimmed lines, trailing blank lines dropped. */
export function screenLines(text: string): string[] {
  const lines = text.split("\n").map((l) => l.replace(/\s+$/, ""));
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Every `x: Label` menu item on the screen, top to bottom. */
export function menuItems(text: string): MenuItem[] {
  const items: MenuItem[] = [];
  screenLines(text).forEach((raw, row) => {
    // A menu box may sit to the right of message text: look at each bordered segment.
    for (const segment of raw.split(BORDER)) {
      const m = ITEM.exec(segment);
      if (!m) continue;
      const rest = m[3] ?? "";
      const cut = /\s{2,}/.exec(rest);
      items.push({
        letter: m[2] ?? "",
        label: cut ? rest.slice(0, cut.index) : rest,
        value: cut ? rest.slice(cut.index).trim() : "",
        selected: m[1] === ">",
        row,
      });
    }
  });
  return items;
}

/** The letter of the first item whose label matches, or undefined. */
export function findItem(text: string | ScreenView, label: RegExp): MenuItem | undefined {
  const items = typeof text === "string" ? menuItems(text) : text.items;
  return items.find((i) => label.test(i.label));
}

/** The last non-blank line, trimmed. */
export function lastLine(text: string): string {
  const lines = screenLines(text);
  return (lines[lines.length - 1] ?? "").trim();
}

export function viewOf(text: string): ScreenView {
  const lines = screenLines(text);
  return {
    text: lines.join("\n"),
    lines,
    last: (lines[lines.length - 1] ?? "").trim(),
    items: menuItems(text),
    flat: flatten(lines.join("\n")),
  };
}

/** Box-drawing characters out, whitespace runs down to one space, trimmed. */
export function flatten(text: string): string {
  return text
    .replace(/[\u2500-\u257f]/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * What identifies a screen for "have I answered this one already": the text without the `>` marker
 * of the current menu item (it moves when a letter is typed, and a repaint may show it elsewhere).
 */
export function screenSignature(text: string): string {
  return screenLines(text)
    .map((l) => l.replace(/(^|[\s\u2500-\u257f|])>(?=[a-z]: )/g, "$1 "))
    .join("\n");
}

/** True when "Hit enter to continue" is shown as the (letterless) item of sysinst's OK menu. */
export function hasHitEnter(view: ScreenView): boolean {
  return view.lines.some((l) =>
    /(?:^|[\s\u2500-\u257f|>])Hit enter to continue(?:[\s\u2500-\u257f|]|$)/.test(l),
  );
}
