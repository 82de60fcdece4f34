/**
 * /etc/rc.conf reading and editing. rc.conf is a sh script sourced by rc.subr: the last assignment
 * of a variable wins, a `#` starts a comment, one line may hold several assignments
 * (`sshd=NO		sshd_flags=""` in /etc/defaults/rc.conf). Only plain `name=value` words are
 * understood; anything needing a shell to evaluate (`$(...)`, `${x:-y}`) is returned verbatim.
 * Assignments inside `if` blocks count as active (the harness never writes any).
 */
import { UsageError } from "../../../lib/errors.ts";

export interface RcAssignment {
  name: string;
  /** The value after sh quote removal. */
  value: string;
  /** 0-based line index. */
  line: number;
  /** Character offsets of the whole `name=value` word in that line. */
  start: number;
  end: number;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Split a line into the assignment words sh would see before the first comment. */
function assignmentsInLine(line: string, lineIndex: number): RcAssignment[] {
  const out: RcAssignment[] = [];
  let i = 0;
  const n = line.length;
  let firstWord = true;
  while (i < n) {
    while (i < n && (line[i] === " " || line[i] === "\t")) i++;
    if (i >= n || line[i] === "#") break;
    const start = i;
    let value = "";
    let eq = -1;
    let name = "";
    // Read one word, honouring quotes and backslashes.
    while (i < n && line[i] !== " " && line[i] !== "\t" && line[i] !== ";") {
      const c = line[i]!;
      if (eq < 0 && c === "=") {
        eq = i;
        name = line.slice(start, i);
        i++;
        continue;
      }
      if (c === "'") {
        const close = line.indexOf("'", i + 1);
        const end = close < 0 ? n : close;
        if (eq >= 0) value += line.slice(i + 1, end);
        i = end + 1;
      } else if (c === '"') {
        i++;
        while (i < n && line[i] !== '"') {
          if (line[i] === "\\" && i + 1 < n && '"\\$`'.includes(line[i + 1]!)) {
            if (eq >= 0) value += line[i + 1];
            i += 2;
          } else {
            if (eq >= 0) value += line[i];
            i++;
          }
        }
        i++;
      } else if (c === "\\" && i + 1 < n) {
        if (eq >= 0) value += line[i + 1];
        i += 2;
      } else {
        if (eq >= 0) value += c;
        i++;
      }
    }
    const end = Math.min(i, n);
    if (eq >= 0 && NAME.test(name)) {
      out.push({ name, value, line: lineIndex, start, end });
    } else if (!firstWord || eq < 0) {
      // A command word ("if", ". /etc/defaults/rc.conf", "export"): the rest of the line is not
      // assignments, except after "export".
      if (line.slice(start, end) !== "export") break;
    }
    firstWord = false;
    if (line[i] === ";") {
      i++;
      firstWord = true;
    }
  }
  return out;
}

export function rcAssignments(text: string): RcAssignment[] {
  return text.split("\n").flatMap((l, i) => assignmentsInLine(l, i));
}

/** The value `name` has after sourcing `text` (last assignment wins), or undefined. */
export function getRcVar(text: string, name: string): string | undefined {
  checkName(name);
  const all = rcAssignments(text).filter((a) => a.name === name);
  return all.length > 0 ? all[all.length - 1]!.value : undefined;
}

/** How setRcVar writes a value: bare when sh-safe, otherwise double-quoted. */
export function formatRcValue(value: string): string {
  if (/^[A-Za-z0-9_.,:/+@%=-]+$/.test(value)) return value;
  return `"${value.replace(/["\\$`]/g, "\\$&")}"`;
}

/**
 * Set `name=value`: rewrite the active assignment that wins (the last), keeping the rest of its line
 * (other assignments, a trailing comment), or append a line when there is none. Commented-out
 * assignments and every other line are left alone. Idempotent.
 */
export function setRcVar(text: string, name: string, value: string): string {
  checkName(name);
  if (value.includes("\n")) throw new UsageError(`rc.conf value for ${name} must be one line`);
  const word = `${name}=${formatRcValue(value)}`;
  const all = rcAssignments(text).filter((a) => a.name === name);
  const lastOne = all[all.length - 1];
  const lines = text.split("\n");
  if (lastOne !== undefined) {
    if (lastOne.value === value) return text;
    const l = lines[lastOne.line]!;
    lines[lastOne.line] = l.slice(0, lastOne.start) + word + l.slice(lastOne.end);
    return lines.join("\n");
  }
  if (text === "") return `${word}\n`;
  return text.endsWith("\n") ? `${text}${word}\n` : `${text}\n${word}\n`;
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw new UsageError(`not an rc.conf variable name: ${JSON.stringify(name)}`);
}

/** Single-quote a word for sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The same edit as a sh command for the guest, for when the harness does not want a read-back round
 * trip: drop every active `name=` line, append `name=value`, write back in place (keeps owner and
 * mode). Idempotent; a line that assigns `name` together with something else is left alone (the
 * appended line still wins), and so are commented-out assignments. Uses only grep -E, printf and
 * cat, the same on NetBSD 6, 9 and 10 and on the Linux machine the tests run on.
 */
export function rcVarShellEdit(name: string, value: string, file = "/etc/rc.conf"): string {
  checkName(name);
  if (value.includes("\n")) throw new UsageError(`rc.conf value for ${name} must be one line`);
  const word = `${name}=${formatRcValue(value)}`;
  const f = shQuote(file);
  const tmp = shQuote(`${file}.nbxen.tmp`);
  const line = `^[[:space:]]*${name}=("[^"]*"|'[^']*'|[^[:space:];"'#]*)[[:space:]]*(#.*)?$`;
  return (
    `{ grep -Ev ${shQuote(line)} ${f} || true; printf '%s\\n' ${shQuote(word)}; } > ${tmp}` +
    ` && cat ${tmp} > ${f} && rm -f ${tmp}`
  );
}
