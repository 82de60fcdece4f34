import { mkdir, open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { writeSync } from "node:fs";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";

const MASK = "***";
/** Received text without a newline is held back at most this long before it is written out. */
const MAX_PENDING = 4096;

/**
 * The record of one console session, in a directory:
 * - console.raw: every byte received, unaltered (secrets are NOT masked here: it is the wire);
 * - console.txt: the received text with escape sequences stripped and "[+12.345s] " at each line start;
 * - events.jsonl: one JSON object a line, {t, kind, ...}, kind one of send/recv/expect/match/timeout/note.
 * Secrets registered with addSecret() are replaced by "***" in console.txt and events.jsonl.
 */
export class Transcript {
  readonly dir: string;
  private readonly files: { raw: FileHandle; txt: FileHandle; events: FileHandle };
  private readonly startedAt = Date.now();
  private readonly secrets: string[] = [];
  private readonly decoder = new StringDecoder("utf8");
  private readonly stripper = new EscapeStripper();
  private pending = "";
  private pendingSince = 0;
  private atLineStart = true;
  private closed = false;

  private constructor(dir: string, files: { raw: FileHandle; txt: FileHandle; events: FileHandle }) {
    this.dir = dir;
    this.files = files;
  }

  static async open(dir: string): Promise<Transcript> {
    await mkdir(dir, { recursive: true });
    const raw = await open(join(dir, "console.raw"), "a");
    const txt = await open(join(dir, "console.txt"), "a");
    const events = await open(join(dir, "events.jsonl"), "a");
    const t = new Transcript(dir, { raw, txt, events });
    t.event("note", { text: "transcript opened", at: new Date(t.startedAt).toISOString() });
    return t;
  }

  addSecret(secret: string): void {
    if (secret.length > 0 && !this.secrets.includes(secret)) {
      this.secrets.push(secret);
      // Longest first, so a secret containing another is masked whole.
      this.secrets.sort((a, b) => b.length - a.length);
    }
  }

  recv(data: Buffer): void {
    if (this.closed) return;
    writeSync(this.files.raw.fd, data);
    const text = this.decoder.write(data);
    if (text.length === 0) return;
    if (this.pending.length === 0) this.pendingSince = this.now();
    this.pending += text;
    const nl = this.pending.lastIndexOf("\n");
    if (nl >= 0) {
      this.commitRecv(nl + 1);
    } else if (this.pending.length > MAX_PENDING) {
      // Keep a tail back so that a secret split across two chunks is still masked.
      this.commitRecv(this.pending.length - this.longestSecret());
    }
  }

  send(text: string, secret = false): void {
    if (secret) {
      this.addSecret(text);
      this.addSecret(text.replace(/[\r\n]+$/, ""));
    }
    this.event("send", { text, ...(secret ? { secret: true } : {}) });
  }

  event(kind: string, fields: Record<string, unknown>): void {
    if (this.closed) return;
    this.commitRecv(this.pending.length);
    this.writeEvent(kind, fields);
  }

  note(text: string): void {
    this.event("note", { text });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.pending += this.decoder.end();
    this.commitRecv(this.pending.length);
    if (!this.atLineStart) writeSync(this.files.txt.fd, "\n");
    this.closed = true;
    await Promise.all([this.files.raw.close(), this.files.txt.close(), this.files.events.close()]);
  }

  private now(): number {
    return (Date.now() - this.startedAt) / 1000;
  }

  private longestSecret(): number {
    return this.secrets[0]?.length ?? 0;
  }

  private commitRecv(upTo: number): void {
    if (upTo <= 0) return;
    const chunk = this.mask(this.pending.slice(0, upTo));
    this.pending = this.pending.slice(upTo);
    const since = this.pendingSince;
    this.pendingSince = this.now();
    this.writeEvent("recv", { text: chunk }, since);
    this.writeText(this.stripper.write(chunk), since);
  }

  private writeText(text: string, t: number): void {
    let out = "";
    for (const ch of text) {
      if (this.atLineStart) {
        out += `[+${t.toFixed(3)}s] `;
        this.atLineStart = false;
      }
      out += ch;
      if (ch === "\n") this.atLineStart = true;
    }
    if (out) writeSync(this.files.txt.fd, out);
  }

  private writeEvent(kind: string, fields: Record<string, unknown>, t = this.now()): void {
    const record = { t: Number(t.toFixed(3)), kind, ...(this.maskDeep(fields) as object) };
    writeSync(this.files.events.fd, JSON.stringify(record) + "\n");
  }

  private mask(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join(MASK);
    return out;
  }

  private maskDeep(value: unknown): unknown {
    if (typeof value === "string") return this.mask(value);
    if (Array.isArray(value)) return value.map((v) => this.maskDeep(v));
    if (value instanceof RegExp) return this.mask(String(value));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.maskDeep(v)]));
    }
    return value;
  }
}

type StripState = "text" | "esc" | "csi" | "string" | "stringEsc" | "charset";

/**
 * Removes terminal control sequences from text that arrives in pieces (a sequence may be split across
 * chunks). CR LF and lone CR become LF; a cursor-addressing sequence becomes a line break, so curses
 * screens stay readable. Other control characters are dropped, tabs are kept.
 */
export class EscapeStripper {
  private state: StripState = "text";
  private csi = "";
  private lastWasCr = false;
  private lineHasText = false;

  write(text: string): string {
    let out = "";
    const newline = (): void => {
      out += "\n";
      this.lineHasText = false;
    };
    for (const ch of text) {
      const c = ch.codePointAt(0) ?? 0;
      switch (this.state) {
        case "text":
          if (ch === "\x1b") {
            this.state = "esc";
          } else if (c === 0x9b) {
            this.state = "csi";
            this.csi = "";
          } else if (ch === "\r") {
            if (!this.lastWasCr) newline();
            this.lastWasCr = true;
            continue;
          } else if (ch === "\n") {
            if (!this.lastWasCr) newline();
          } else if (ch === "\t" || (c >= 0x20 && c !== 0x7f && !(c >= 0x80 && c < 0xa0))) {
            out += ch;
            this.lineHasText = true;
          }
          break;
        case "esc":
          if (ch === "[") {
            this.state = "csi";
            this.csi = "";
          } else if (ch === "]" || ch === "P" || ch === "X" || ch === "^" || ch === "_") {
            this.state = "string";
          } else if ("()*+-./#%".includes(ch)) {
            this.state = "charset";
          } else {
            this.state = "text";
          }
          break;
        case "csi":
          if (c >= 0x40 && c <= 0x7e) {
            this.state = "text";
            if ((ch === "H" || ch === "f") && this.lineHasText) newline();
          } else {
            this.csi += ch;
            if (this.csi.length > 64) this.state = "text";
          }
          break;
        case "string":
          if (ch === "\x07") this.state = "text";
          else if (ch === "\x1b") this.state = "stringEsc";
          break;
        case "stringEsc":
          this.state = ch === "\\" ? "text" : "string";
          break;
        case "charset":
          this.state = "text";
          break;
      }
      this.lastWasCr = false;
    }
    return out;
  }
}
