/**
 * boot.cfg(5) reading and editing, faithful to the parser the x86 boot loader runs
 * (sys/lib/libsa/bootcfg.c; in NetBSD 6 the same loop lives in sys/arch/i386/stand/lib/bootmenu.c):
 * - a `#` anywhere ends the line, even inside a menu command;
 * - a line without `=` is ignored; the key is everything before the first `=`, unstripped;
 * - keywords match by prefix (`strncmp(key, "menu", 4)`), tested in the loader's order;
 * - `menu=Label:cmd;cmd`: split at the first `:`; no `:` drops the line; an empty label shows the command;
 * - `default` is 1-based, clamped into the menu; `timeout` starting with a non-digit means "wait";
 *   no timeout line means 10 (libsa's DEFAULT_TIMEOUT; NetBSD 6's loader used the timeout installboot
 *   stored in the boot blocks instead, 5 when sysinst installed them);
 * - nothing is ever reported: a broken file just boots something else. Hence `assertXenDefault`.
 */
import { howtoLine } from "../../howto/lines.ts";
import { HarnessError, UsageError } from "../../../lib/errors.ts";

/** bootcfg.h: BOOTCFG_MAXMENU. Lines past it are ignored. */
const MAX_MENU = 20;
const DEFAULT_TIMEOUT = 10;

export interface BootCfgEntry {
  label: string;
  /** The `;`-separated commands, trimmed as the loader trims them, empty ones dropped. */
  commands: string[];
  /** 0-based index of the source line. */
  line: number;
}

export interface BootCfg {
  entries: BootCfgEntry[];
  /** 1-based menu entry the loader boots on RETURN or timeout (0 when there is no menu). */
  default: number;
  /** Seconds; -1 waits for a key, 0 boots at once. */
  timeout: number;
  consdev?: string;
  /** How the menu is numbered on screen. */
  menuFormat: "number" | "letter";
  /** Every non-blank line the four fields above do not come from (comments, banner, clear, load...). */
  other: string[];
}

type Keyword =
  "menu" | "banner" | "timeout" | "default" | "consdev" | "root" | "load" | "format" | "clear" | "userconf";
// Order matters: the loader tests them in this order with strncmp on the keyword's length.
const KEYWORDS: readonly Keyword[] = [
  "menu",
  "banner",
  "timeout",
  "default",
  "consdev",
  "root",
  "load",
  "format",
  "clear",
  "userconf",
];

interface ParsedLine {
  index: number;
  keyword?: Keyword;
  key: string;
  value: string;
}

/** A line as the loader sees it: cut at `#`, split at the first `=`. Undefined when it has no `=`. */
function parseLine(raw: string, index: number): ParsedLine | undefined {
  const hash = raw.indexOf("#");
  const line = hash >= 0 ? raw.slice(0, hash) : raw;
  const eq = line.indexOf("=");
  if (eq < 0) return undefined;
  const key = line.slice(0, eq);
  const value = line.slice(eq + 1);
  const keyword = KEYWORDS.find((k) => key.startsWith(k));
  return keyword === undefined ? { index, key, value } : { index, keyword, key, value };
}

/** C atoi as libsa has it: optional '-', then leading digits. */
function atoi(s: string): number {
  const m = /^(-?)(\d*)/.exec(s)!;
  const n = Number(m[2] || "0");
  return m[1] ? -n : n;
}

/** `docommandchoice`: split at `;`, trim the ends, drop empty commands. */
function splitCommands(command: string): string[] {
  return command
    .split(";")
    .map((c) => c.trim())
    .filter((c) => c !== "");
}

function lines(text: string): string[] {
  return text.split("\n");
}

export function parseBootCfg(text: string): BootCfg {
  const all = lines(text);
  const entries: BootCfgEntry[] = [];
  const other: string[] = [];
  let timeout = DEFAULT_TIMEOUT;
  let def = 0;
  let consdev: string | undefined;
  let format = "auto" as "auto" | "number" | "letter";
  all.forEach((raw, index) => {
    const p = parseLine(raw, index);
    const keep = (): void => {
      if (raw.trim() !== "") other.push(raw);
    };
    if (p === undefined || p.keyword === undefined) return keep();
    switch (p.keyword) {
      case "menu": {
        if (entries.length >= MAX_MENU) return;
        const colon = p.value.indexOf(":");
        if (colon < 0) return; // the loader drops it silently
        const command = p.value.slice(colon + 1);
        const label = p.value.slice(0, colon) || command;
        entries.push({ label, commands: splitCommands(command), line: index });
        return;
      }
      case "timeout":
        timeout = /^\d/.test(p.value) ? atoi(p.value) : -1;
        return;
      case "default":
        def = atoi(p.value) - 1;
        return;
      case "consdev":
        consdev = p.value;
        return;
      case "format": {
        const c = p.value[0]?.toLowerCase();
        if (c === "a") format = "auto";
        else if (c === "n" || c === "d") format = "number";
        else if (c === "l") format = "letter";
        return keep();
      }
      default:
        return keep();
    }
  });
  let menuFormat: "number" | "letter";
  if (format === "auto") menuFormat = entries.length > 9 && timeout > 0 ? "letter" : "number";
  else menuFormat = format;
  // With explicit numbers and a countdown, only 9 entries can be chosen with one key.
  if (format === "number" && entries.length > 9 && timeout > 0) entries.length = 9;
  if (def < 0) def = 0;
  if (def >= entries.length) def = entries.length - 1;
  const cfg: BootCfg = { entries, default: def + 1, timeout, menuFormat, other };
  if (consdev !== undefined) cfg.consdev = consdev;
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// The Xen entry

export interface XenEntry {
  label: string;
  /** "/netbsd-XEN3_DOM0.gz" */
  dom0Kernel: string;
  dom0Args: string;
  /** "/xen.gz" */
  xenPath: string;
  xenArgs: string;
}

/** The HOWTO's boot.cfg line (Xen HOWTO, "Installation of Xen"). */
export const HOWTO_XEN_LINE = howtoLine("bootcfg-xen-menu").text;

export interface XenEntryOptions {
  dom0MemMiB: number;
  /** Put Xen's and the dom0's console on the first serial port (what a harness on a pty needs). */
  serial: boolean;
  singleUser?: boolean;
  /** Speed Xen programs the UART with (the harness's serial speed). Default 115200. */
  serialSpeed?: number;
  label?: string;
  dom0Kernel?: string;
  xenPath?: string;
}

/**
 * Build the Xen menu entry.
 *
 * Serial variant, and why: sys/arch/xen/x86/consinit.c attaches the dom0's console to VGA only when
 * its command line says `console=pc` (or `tty0`); any other value attaches it to the Xen console
 * (xencons). The Xen console reaches the first UART only when Xen itself is told `console=com1`
 * (Xen numbers UARTs from 1, NetBSD from 0: QEMU's first serial port is Xen's com1 and NetBSD's
 * com0). So the dom0 gets `console=com0`, the value boot.cfg(5)'s serial example uses, and Xen gets
 * `console=com1 com1=<speed>,8n1`. Xen never sees the boot loader's own console setting.
 */
export function xenEntry(opts: XenEntryOptions): XenEntry {
  if (!Number.isInteger(opts.dom0MemMiB) || opts.dom0MemMiB <= 0) {
    throw new UsageError(`dom0 memory must be a positive number of MiB, got ${opts.dom0MemMiB}`);
  }
  const speed = opts.serialSpeed ?? 115200;
  if (!Number.isInteger(speed) || speed <= 0) throw new UsageError(`bad serial speed ${speed}`);
  const dom0Args = [opts.serial ? "console=com0" : "console=pc", ...(opts.singleUser ? ["-s"] : [])].join(
    " ",
  );
  const xenArgs = [
    `dom0_mem=${opts.dom0MemMiB}M`,
    ...(opts.serial ? ["console=com1", `com1=${speed},8n1`] : []),
  ].join(" ");
  const entry: XenEntry = {
    label: opts.label ?? (opts.singleUser ? "Xen single user" : "Xen"),
    dom0Kernel: opts.dom0Kernel ?? "/netbsd-XEN3_DOM0.gz",
    dom0Args,
    xenPath: opts.xenPath ?? "/xen.gz",
    xenArgs,
  };
  validateEntry(entry);
  return entry;
}

/** Characters the loader would silently reinterpret. */
function validateEntry(entry: XenEntry): void {
  const bad: string[] = [];
  if (entry.label === "" || /[:#\n]/.test(entry.label))
    bad.push(`label ${JSON.stringify(entry.label)} (no ':', '#', newline; not empty)`);
  for (const [name, v] of Object.entries({
    dom0Kernel: entry.dom0Kernel,
    dom0Args: entry.dom0Args,
    xenPath: entry.xenPath,
    xenArgs: entry.xenArgs,
  })) {
    if (/[;#\n]/.test(v)) bad.push(`${name} ${JSON.stringify(v)} (no ';', '#', newline)`);
  }
  if (bad.length > 0)
    throw new UsageError(`Xen boot entry would be misparsed by the boot loader: ${bad.join("; ")}`);
}

export function xenCommands(entry: XenEntry): string[] {
  return [
    `load ${entry.dom0Kernel} ${entry.dom0Args}`.trim(),
    `multiboot ${entry.xenPath} ${entry.xenArgs}`.trim(),
  ];
}

export function xenMenuLine(entry: XenEntry): string {
  return `menu=${entry.label}:${xenCommands(entry).join(";")}`;
}

export interface WithXenOptions {
  /** Countdown in seconds; small but non-zero so the menu shows and boots by itself. Default 3. */
  timeoutSeconds?: number;
  /** Also set `consdev=` (e.g. "com0"), replacing an existing one. */
  consdev?: string;
}

/**
 * Make the Xen entry the default: replace a menu line with the same label or add one after the last
 * menu line, point `default=` at it, set a short timeout. Every other line and comment stays.
 * Applying it twice gives the same text as applying it once.
 */
export function withXenDefault(text: string, entry: XenEntry, opts: WithXenOptions = {}): string {
  validateEntry(entry);
  const timeout = opts.timeoutSeconds ?? 3;
  if (!Number.isInteger(timeout) || timeout <= 0)
    throw new UsageError(`boot menu timeout must be a positive integer, got ${timeout}`);
  const out = lines(text);
  // A file ending in "\n" splits into a trailing "": keep it as the end marker.
  const hadFinalNewline = out.length > 0 && out[out.length - 1] === "";
  if (hadFinalNewline) out.pop();
  const menuLine = xenMenuLine(entry);

  const parsed = (): ParsedLine[] =>
    out.map((l, i) => parseLine(l, i)).filter((p): p is ParsedLine => p !== undefined);
  const existing = parsed().filter((p) => p.keyword === "menu" && labelOf(p.value) === entry.label);
  if (existing.length > 0) {
    out[existing[0]!.index] = menuLine;
    // Duplicates with the same label would shift numbering and confuse the assertion: drop them.
    for (const dup of existing.slice(1).reverse()) out.splice(dup.index, 1);
  } else {
    const menus = parsed().filter((p) => p.keyword === "menu");
    const at = menus.length > 0 ? menus[menus.length - 1]!.index + 1 : out.length;
    out.splice(at, 0, menuLine);
  }

  const index = parseBootCfg(out.join("\n")).entries.findIndex((e) => e.label === entry.label);
  if (index < 0) {
    throw new BootCfgError("the Xen entry could not be placed in the menu (more than 20 entries?)", [
      "no Xen entry after edit",
    ]);
  }
  setLast(out, "default", `default=${index + 1}`);
  setLast(out, "timeout", `timeout=${timeout}`);
  if (opts.consdev !== undefined) setLast(out, "consdev", `consdev=${opts.consdev}`);

  const result = out.join("\n") + (hadFinalNewline || text === "" ? "\n" : "");
  assertXenDefault(result, entry);
  return result;
}

function labelOf(menuValue: string): string | undefined {
  const colon = menuValue.indexOf(":");
  if (colon < 0) return undefined;
  return menuValue.slice(0, colon) || menuValue.slice(colon + 1);
}

/** Replace the line the loader reads last for `keyword` (the last one wins), or append one. */
function setLast(out: string[], keyword: Keyword, replacement: string): void {
  let last = -1;
  out.forEach((l, i) => {
    if (parseLine(l, i)?.keyword === keyword) last = i;
  });
  if (last >= 0) out[last] = replacement;
  else out.push(replacement);
}

/** boot.cfg does not say what the harness needs; `problems` lists each mismatch. */
export class BootCfgError extends HarnessError {
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super(message);
  }
}

/** Parse `text` back as the loader would and check the Xen entry is there, well-formed, and the default. */
export function assertXenDefault(text: string, entry: XenEntry): void {
  const cfg = parseBootCfg(text);
  const problems: string[] = [];
  const matches = cfg.entries.map((e, i) => ({ e, n: i + 1 })).filter(({ e }) => e.label === entry.label);
  const want = xenCommands(entry);
  if (matches.length === 0) problems.push(`no menu entry labelled "${entry.label}"`);
  else if (matches.length > 1) problems.push(`${matches.length} menu entries labelled "${entry.label}"`);
  const found = matches[0];
  if (found !== undefined) {
    if (JSON.stringify(found.e.commands) !== JSON.stringify(want)) {
      problems.push(
        `entry ${found.n} runs ${JSON.stringify(found.e.commands)}, expected ${JSON.stringify(want)}`,
      );
    }
    if (cfg.default !== found.n)
      problems.push(`default is entry ${cfg.default}, the Xen entry is ${found.n}`);
  }
  if (cfg.timeout <= 0) {
    problems.push(
      cfg.timeout < 0 ? "timeout waits for a key forever" : "timeout=0 boots without showing the menu",
    );
  }
  if (problems.length > 0) {
    throw new BootCfgError(
      `boot.cfg does not boot the Xen entry by default: ${problems.join("; ")}`,
      problems,
    );
  }
}

/** How the entry differs from the HOWTO's literal line, for the report; undefined when it does not. */
export function deviationFromHowto(entry: XenEntry): string | undefined {
  const line = xenMenuLine(entry);
  if (line === HOWTO_XEN_LINE) return undefined;
  const notes: string[] = [];
  if (/\bconsole=com\d/.test(entry.dom0Args)) {
    notes.push(
      "the dom0 is loaded with console=com0 instead of console=pc, and Xen gets console=com1: with console=pc " +
        "the dom0's console goes to VGA (sys/arch/xen/x86/consinit.c), so nothing of the dom0 (kernel messages, login:) " +
        "would reach the serial line the harness reads; any other value puts the dom0 on the Xen console, which Xen " +
        "sends to the first UART only when told console=com1",
    );
  }
  const mem = /dom0_mem=(\S+)/.exec(entry.xenArgs)?.[1];
  if (mem !== undefined && mem !== "256M") notes.push(`dom0_mem=${mem} instead of the HOWTO's 256M`);
  if (/(^|\s)-s(\s|$)/.test(entry.dom0Args))
    notes.push("the dom0 boots single-user (-s), as in the HOWTO's later single-user variant");
  if (entry.label !== "Xen") notes.push(`menu label "${entry.label}" instead of "Xen"`);
  if (entry.dom0Kernel !== "/netbsd-XEN3_DOM0.gz" || entry.xenPath !== "/xen.gz")
    notes.push("different kernel paths");
  const why = notes.length > 0 ? notes.join("; ") : "different arguments";
  return `HOWTO line \`${HOWTO_XEN_LINE}\`; harness wrote \`${line}\`: ${why}.`;
}
