import { StringDecoder } from "node:string_decoder";
import { setTimeout as sleep } from "node:timers/promises";
import { abortReason, anySignal } from "../../lib/abort.ts";
import { HarnessError } from "../../lib/errors.ts";
import { Screen } from "./screen.ts";
import { TextBuffer } from "./text-buffer.ts";
import type { Transcript } from "./transcript.ts";
import type { ConsoleStream } from "./types.ts";

/** What expect() looks for on the byte stream: a string is a literal, a RegExp a regular expression. */
export type Pattern = RegExp | string;

export interface ExpectOptions {
  timeoutMs: number;
  /** Output matching one of these (new since the last extension) restarts the timeout. */
  progress?: RegExp[];
  /** What is being waited for, in words (shown in errors and the transcript). */
  description?: string;
  /** Ends the wait at once with the signal's reason (Ctrl-C, a step's time bound). */
  signal?: AbortSignal;
}

export interface ExpectMatch {
  /** Index of the pattern that matched. */
  index: number;
  pattern: Pattern;
  match: RegExpExecArray;
  /** The unconsumed text before the match. */
  before: string;
  /** The matched text. */
  after: string;
  /** The rendered screen when the match was taken. */
  screen: string;
}

export interface ConsoleOptions {
  cols?: number;
  rows?: number;
  transcript?: Transcript;
  name?: string;
  /** Unconsumed output beyond this many characters is dropped from the front (down to 3/4 of it). Default 8 Mi. */
  maxBufferChars?: number;
  /** Every expect() and send() on this console ends with the signal's reason once it fires. */
  signal?: AbortSignal;
}

export function describePattern(p: Pattern): string {
  return typeof p === "string" ? JSON.stringify(p) : String(p);
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `  | ${l}`)
    .join("\n");
}

export class ExpectTimeoutError extends HarnessError {
  readonly patterns: string[];
  readonly timeoutMs: number;
  readonly elapsedMs: number;
  readonly lastScreen: string;
  readonly bufferTail: string;
  readonly description?: string;

  constructor(f: {
    console: string;
    patterns: string[];
    timeoutMs: number;
    elapsedMs: number;
    lastScreen: string;
    bufferTail: string;
    description?: string;
  }) {
    const what = f.description ? `${f.description} (${f.patterns.join(", ")})` : f.patterns.join(", ");
    super(
      `${f.console}: timed out after ${(f.elapsedMs / 1000).toFixed(1)}s ` +
        `(timeout ${(f.timeoutMs / 1000).toFixed(1)}s) waiting for ${what}\n` +
        `last screen:\n${indent(f.lastScreen)}\n` +
        `last output: ${JSON.stringify(f.bufferTail.slice(-300))}`,
    );
    this.patterns = f.patterns;
    this.timeoutMs = f.timeoutMs;
    this.elapsedMs = f.elapsedMs;
    this.lastScreen = f.lastScreen;
    this.bufferTail = f.bufferTail;
    if (f.description !== undefined) this.description = f.description;
  }
}

export class ConsoleClosedError extends HarnessError {
  readonly patterns: string[];
  readonly lastScreen: string;

  constructor(f: { console: string; patterns: string[]; lastScreen: string; description?: string }) {
    const what = f.patterns.length ? ` while waiting for ${f.description ?? f.patterns.join(", ")}` : "";
    super(`${f.console}: console closed${what}\nlast screen:\n${indent(f.lastScreen)}`);
    this.patterns = f.patterns;
    this.lastScreen = f.lastScreen;
  }
}

interface Compiled {
  re: RegExp;
  anchored: boolean;
}

/**
 * A stream pattern is searched again, as output arrives, only from this far before the end of the text
 * it was already searched in: a match can span at most this much output that had arrived before its
 * last chunk (like pexpect's searchwindowsize). Without it every chunk rescans the whole buffer.
 */
const SEARCH_WINDOW_CHARS = 64 * 1024;

interface Pending {
  patterns: Pattern[];
  compiled: Compiled[];
  opts: ExpectOptions;
  startedAt: number;
  progressFrom: number;
  progress: RegExp[];
  /** Absolute offset up to which the buffer was searched without a stream match. */
  scannedTo: number;
  /** Absolute offset up to which the buffer was searched without a progress match. */
  progressScannedTo: number;
  timer?: NodeJS.Timeout;
  /** Removes the abort listener. */
  unlisten?: () => void;
  resolve: (m: ExpectMatch) => void;
  reject: (e: Error) => void;
}

const RECENT_CHARS = 16384;

function withoutStatefulFlags(re: RegExp): RegExp {
  return re.global || re.sticky ? new RegExp(re.source, re.flags.replace(/[gy]/g, "")) : re;
}

/** A pattern that looks at where the text starts or behind its match (read crudely: `[^` counts too). */
function anchored(re: RegExp): boolean {
  return re.source.includes("^") || re.source.includes("(?<");
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Expect engine over a console byte stream, with a virtual screen for curses programs.
 * One expect() at a time; every byte goes to the transcript, the screen and the match buffer.
 */
export class Console {
  readonly name: string;
  private readonly stream: ConsoleStream;
  private readonly screen: Screen;
  private readonly transcript: Transcript | undefined;
  private readonly maxBufferChars: number;
  private readonly decoder = new StringDecoder("utf8");
  private readonly unsubscribe: Array<() => void>;
  /** Received text not yet consumed by a match. */
  private readonly buffer = new TextBuffer();
  private recent = "";
  private pending: Pending | undefined;
  private isClosed = false;
  private lastOutput = Date.now();
  private readonly signal: AbortSignal | undefined;

  constructor(stream: ConsoleStream, opts: ConsoleOptions = {}) {
    this.stream = stream;
    this.signal = opts.signal;
    this.name = opts.name ?? "console";
    this.transcript = opts.transcript;
    this.maxBufferChars = opts.maxBufferChars ?? 8 * 1024 * 1024;
    this.screen = new Screen(opts.cols ?? 80, opts.rows ?? 25);
    this.unsubscribe = [
      stream.onData((d) => this.onData(d)),
      stream.onClose(() => void this.onStreamClose()),
    ];
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** When output last arrived (ms since the epoch; the console's creation when none has). */
  get lastOutputAt(): number {
    return this.lastOutput;
  }

  /** The rendered screen: rows joined by "\n", right-trimmed. */
  screenText(): string {
    return this.screen.text();
  }

  /** The last `chars` characters received, consumed by a match or not. */
  bufferTail(chars = 2000): string {
    return this.recent.slice(-chars);
  }

  expect(patterns: Pattern | Pattern[], opts: ExpectOptions): Promise<ExpectMatch> {
    const list = Array.isArray(patterns) ? patterns : [patterns];
    if (this.pending) {
      return Promise.reject(new HarnessError(`${this.name}: expect() called while another is pending`));
    }
    const signal = anySignal(this.signal, opts.signal);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const compiled: Compiled[] = list.map((p) => {
      if (typeof p === "string") return { re: new RegExp(escapeRegExp(p)), anchored: false };
      const re = withoutStatefulFlags(p);
      return { re, anchored: anchored(re) };
    });
    this.transcript?.event("expect", {
      console: this.name,
      patterns: list.map(describePattern),
      timeoutMs: opts.timeoutMs,
      ...(opts.description ? { description: opts.description } : {}),
    });
    return new Promise<ExpectMatch>((resolve, reject) => {
      const p: Pending = {
        patterns: list,
        compiled,
        opts,
        startedAt: Date.now(),
        progressFrom: this.buffer.end,
        progress: (opts.progress ?? []).map(withoutStatefulFlags),
        scannedTo: this.buffer.start,
        progressScannedTo: this.buffer.end,
        resolve,
        reject,
      };
      this.pending = p;
      if (this.tryMatch(p)) return;
      if (this.isClosed) {
        this.failClosed(p);
        return;
      }
      if (signal) {
        const onAbort = () => this.onAbort(p, signal);
        signal.addEventListener("abort", onAbort, { once: true });
        p.unlisten = () => signal.removeEventListener("abort", onAbort);
      }
      this.armTimer(p);
    });
  }

  async send(
    text: string,
    opts: { keyDelayMs?: number; secret?: boolean; signal?: AbortSignal } = {},
  ): Promise<void> {
    const signal = anySignal(this.signal, opts.signal);
    if (signal?.aborted) throw abortReason(signal);
    if (this.isClosed) {
      throw new ConsoleClosedError({ console: this.name, patterns: [], lastScreen: this.screen.text() });
    }
    this.transcript?.send(text, opts.secret ?? false);
    const delay = opts.keyDelayMs ?? 0;
    if (delay <= 0) {
      this.stream.write(text);
      return;
    }
    let first = true;
    for (const ch of text) {
      if (!first) await sleep(delay);
      first = false;
      if (signal?.aborted) throw abortReason(signal);
      if (this.isClosed) {
        throw new ConsoleClosedError({ console: this.name, patterns: [], lastScreen: this.screen.text() });
      }
      this.stream.write(ch);
    }
  }

  /** Sends `text` followed by a carriage return (what the Enter key sends). */
  sendLine(
    text: string,
    opts: { keyDelayMs?: number; secret?: boolean; signal?: AbortSignal } = {},
  ): Promise<void> {
    if (opts.secret) this.transcript?.addSecret(text);
    return this.send(text + "\r", opts);
  }

  /** Detaches from the stream; the process behind it keeps running. A pending expect fails. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const u of this.unsubscribe) u();
    this.transcript?.note(`${this.name}: console detached`);
    if (this.pending) this.failClosed(this.pending);
  }

  private onData(data: Buffer): void {
    if (this.isClosed) return;
    this.lastOutput = Date.now();
    this.transcript?.recv(data);
    this.append(this.decoder.write(data));
    // Matched once the screen has drawn these bytes, so a match's `screen` shows what they drew.
    this.screen.feed(data, () => this.onParsed());
  }

  private append(text: string): void {
    if (!text) return;
    this.buffer.append(text);
    this.recent = (this.recent + text).slice(-RECENT_CHARS);
    // Trimmed to three quarters at once, not by a few characters per chunk received.
    if (this.buffer.length > this.maxBufferChars)
      this.buffer.drop(this.buffer.length - Math.floor((this.maxBufferChars / 4) * 3));
  }

  private onParsed(): void {
    const p = this.pending;
    if (!p || this.isClosed) return;
    this.checkProgress(p);
    this.tryMatch(p);
  }

  private async onStreamClose(): Promise<void> {
    if (this.isClosed) return;
    this.append(this.decoder.end());
    await this.screen.settle();
    if (this.isClosed) return;
    this.isClosed = true;
    for (const u of this.unsubscribe) u();
    this.transcript?.note(`${this.name}: stream closed`);
    const p = this.pending;
    if (p && !this.tryMatch(p)) this.failClosed(p);
  }

  private checkProgress(p: Pending): void {
    if (!p.progress.length) return;
    const from = Math.max(p.progressFrom, p.progressScannedTo - SEARCH_WINDOW_CHARS, this.buffer.start);
    const text = this.buffer.textFrom(from);
    let endAbs = -1;
    for (const re of p.progress) {
      const m = re.exec(text);
      if (m) endAbs = Math.max(endAbs, from + m.index + Math.max(m[0].length, 1));
    }
    p.progressScannedTo = this.buffer.end;
    if (endAbs < 0) return;
    p.progressFrom = endAbs;
    this.armTimer(p);
  }

  private armTimer(p: Pending): void {
    if (p.timer) clearTimeout(p.timer);
    p.timer = setTimeout(() => void this.onTimeout(p), p.opts.timeoutMs);
  }

  private async onTimeout(p: Pending): Promise<void> {
    // Let the screen catch up with bytes already received, then take a last look.
    await this.screen.settle();
    if (this.pending !== p || this.tryMatch(p)) return;
    this.pending = undefined;
    p.unlisten?.();
    const elapsedMs = Date.now() - p.startedAt;
    const patterns = p.patterns.map(describePattern);
    this.transcript?.event("timeout", {
      console: this.name,
      patterns,
      elapsedMs,
      ...(p.opts.description ? { description: p.opts.description } : {}),
    });
    p.reject(
      new ExpectTimeoutError({
        console: this.name,
        patterns,
        timeoutMs: p.opts.timeoutMs,
        elapsedMs,
        lastScreen: this.screen.text(),
        bufferTail: this.bufferTail(),
        ...(p.opts.description !== undefined ? { description: p.opts.description } : {}),
      }),
    );
  }

  private onAbort(p: Pending, signal: AbortSignal): void {
    if (this.pending !== p) return;
    this.pending = undefined;
    if (p.timer) clearTimeout(p.timer);
    const reason = abortReason(signal);
    this.transcript?.event("aborted", {
      console: this.name,
      patterns: p.patterns.map(describePattern),
      elapsedMs: Date.now() - p.startedAt,
      reason: reason.message.split("\n")[0] ?? "",
    });
    p.reject(reason);
  }

  private failClosed(p: Pending): void {
    if (this.pending !== p) return;
    this.pending = undefined;
    p.unlisten?.();
    if (p.timer) clearTimeout(p.timer);
    p.reject(
      new ConsoleClosedError({
        console: this.name,
        patterns: p.patterns.map(describePattern),
        lastScreen: this.screen.text(),
        ...(p.opts.description !== undefined ? { description: p.opts.description } : {}),
      }),
    );
  }

  /** Resolves `p` if a pattern matches now: the one matching earliest in the stream. */
  private tryMatch(p: Pending): boolean {
    if (this.pending !== p) return true;
    let best: { index: number; m: RegExpExecArray; at: number } | undefined;
    const windowFrom = Math.max(p.scannedTo - SEARCH_WINDOW_CHARS, this.buffer.start);
    p.compiled.forEach((c, index) => {
      // ^ and lookbehinds must see the text from the start of what is unconsumed, as they always did.
      const from = c.anchored ? this.buffer.start : windowFrom;
      const m = c.re.exec(this.buffer.textFrom(from));
      if (m && (!best || from + m.index < best.at)) best = { index, m, at: from + m.index };
    });
    p.scannedTo = this.buffer.end;
    if (best) {
      const { index, m, at } = best;
      const before = this.buffer.take(at - this.buffer.start);
      this.buffer.drop(m[0].length);
      this.resolve(p, {
        index,
        pattern: p.patterns[index]!,
        match: m,
        before,
        after: m[0],
        screen: this.screen.text(),
      });
      return true;
    }
    return false;
  }

  private resolve(p: Pending, result: ExpectMatch): void {
    this.pending = undefined;
    p.unlisten?.();
    if (p.timer) clearTimeout(p.timer);
    this.transcript?.event("match", {
      console: this.name,
      index: result.index,
      pattern: describePattern(result.pattern),
      text: result.after,
      elapsedMs: Date.now() - p.startedAt,
    });
    p.resolve(result);
  }
}
