import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { HarnessError } from "../../lib/errors.ts";
import { ExpectTimeoutError, escapeRegExp } from "./console.ts";
import type { Console, ExpectOptions } from "./console.ts";

export interface ExecResult {
  exitCode: number;
  /** What the command printed, CRLF normalised to LF, exactly as it ended (no newline added). */
  output: string;
}

/** How text must be typed on a console so that none of it is lost. */
export interface Typing {
  /** Pause between typed characters. */
  keyDelayMs?: number;
  /** Most bytes typed before waiting for the shell to have read them (default 400, at least 110). */
  maxTypedBytes?: number;
}

export interface GuestShellOptions extends Typing {
  /** Default for every wait. Default 60s. */
  timeoutMs?: number;
}

export interface ExecOptions {
  /** How long to wait for each sign of life: the command starting, its end (restarted by progress), the prompt. Default 60s. */
  timeoutMs?: number;
  progress?: RegExp[];
  /** Typed on the console once the command has started, for a command that reads the terminal. Its echo is part of the output. */
  input?: string;
  /** Ends the wait at once with the signal's reason (Ctrl-C); the command may still run in the guest. */
  signal?: AbortSignal;
}

/** A command run through GuestShell.run() exited non-zero: `exitCode` is its status in the guest. */
export class CommandFailedError extends HarnessError {
  readonly command: string;
  readonly exitCode: number;
  readonly output: string;

  constructor(command: string, exitCode: number, output: string) {
    super(`command exited with status ${exitCode}: ${command}\n${output.slice(-1000)}`);
    this.command = command;
    this.exitCode = exitCode;
    this.output = output;
  }
}

/**
 * The shell came back to its prompt without printing the end marker: the line it ran was not the line
 * typed. A console that drops input (a full buffer on the way to the shell) does this; lower
 * maxTypedBytes or raise keyDelayMs. What the command did is unknown, so it is not retried.
 */
export class GarbledCommandError extends HarnessError {
  readonly command: string;
  readonly lastScreen: string;

  constructor(command: string, lastScreen: string) {
    super(
      `the shell returned to its prompt without the end marker: the console lost or changed typed characters ` +
        `of: ${short(command)}\nlast screen:\n${lastScreen}`,
    );
    this.command = command;
    this.lastScreen = lastScreen;
  }
}

function nonce(): string {
  return randomBytes(6).toString("hex");
}

function short(command: string): string {
  const one = command.replace(/\s+/g, " ");
  return one.length > 80 ? one.slice(0, 77) + "..." : one;
}

const DEFAULT_TIMEOUT_MS = 60_000;
/** Text longer than this is typed in pieces (tty line limits: NetBSD ~1024, busybox 1024). */
const DEFAULT_MAX_TYPED = 400;
const STAGE_VAR = "_nbx_cmd";
/** The prompt followed by this long a silence, before the end marker, is the shell waiting for input. */
const PROMPT_IDLE_MS = 2000;
const RUN_STAGED = `eval "$${STAGE_VAR}"`;

/**
 * The line typed for one command: the start marker, the command in a brace group (the shell reads the
 * whole text before running anything, so a command that reads the terminal cannot swallow the end
 * marker), and the end marker with the exit status.
 */
function wrapCommand(id: string, body: string): string {
  return `printf '%s\\n' 'NBXB''${id}'; { ${body}\n}; printf '\\n%s=%d=\\n' 'NBXE''${id}' "$?"`;
}

/** A staged command is run by a wrapped eval, typed as one piece: a smaller limit could never be met. */
const MIN_MAX_TYPED = Buffer.byteLength(wrapCommand(nonce(), RUN_STAGED)) + 1;

function shQuote(s: string): string {
  return "'" + s.replace(/'/g, "'\\''") + "'";
}

/** Cuts `text` into pieces whose single-quoted form stays within `budget` bytes. */
function quotedChunks(text: string, budget: number): string[] {
  const chunks: string[] = [];
  let cur = "";
  for (const ch of text) {
    if (cur && Buffer.byteLength(shQuote(cur + ch)) > budget) {
      chunks.push(shQuote(cur));
      cur = "";
    }
    cur += ch;
  }
  if (cur || chunks.length === 0) chunks.push(shQuote(cur));
  return chunks;
}

/**
 * A POSIX shell driven over a console. Markers are split-quoted in the typed text ('NBXE''<nonce>'), so
 * the terminal's echo of a command line can never look like the marker the command prints.
 */
export class GuestShell {
  readonly prompt: string;
  private readonly console: Console;
  private readonly keyDelayMs: number;
  private readonly timeoutMs: number;
  private readonly maxTypedBytes: number;
  private needsResync = false;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    console: Console,
    prompt: string,
    opts: { timeoutMs: number; keyDelayMs: number; maxTypedBytes: number },
  ) {
    this.console = console;
    this.prompt = prompt;
    this.timeoutMs = opts.timeoutMs;
    this.keyDelayMs = opts.keyDelayMs;
    this.maxTypedBytes = opts.maxTypedBytes;
  }

  /**
   * Takes over a shell that is already at a prompt: sets a unique split-quoted PS1 and waits for it.
   * A command longer than maxTypedBytes is first assigned to a shell variable in pieces, each typed once
   * the prompt shows the previous one was read, and then run with eval. A console that drops input when
   * its buffer is full needs the limit below that buffer: Xen's serial input ring for the dom0 holds 128
   * bytes (SERIAL_RX_SIZE in xen/drivers/char/console.c) and drops what does not fit.
   */
  static async attach(
    console: Console,
    opts: GuestShellOptions & { signal?: AbortSignal } = {},
  ): Promise<GuestShell> {
    const id = nonce();
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const shell = new GuestShell(console, `nbx-${id}# `, {
      timeoutMs,
      keyDelayMs: opts.keyDelayMs ?? 0,
      maxTypedBytes: Math.max(opts.maxTypedBytes ?? DEFAULT_MAX_TYPED, MIN_MAX_TYPED),
    });
    const signal = opts.signal;
    await console.sendLine(`PS1='nbx''-${id}# '`, { keyDelayMs: shell.keyDelayMs, signal });
    await console.expect(shell.prompt, { timeoutMs, description: "shell prompt after setting PS1", signal });
    return shell;
  }

  /** Runs `command` (one or more lines of shell) and returns its exit status and output. */
  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const next = this.queue.then(
      () => this.execNow(command, opts),
      () => this.execNow(command, opts),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Like exec, but throws CommandFailedError when the exit status is not 0; returns the output. */
  async run(command: string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(command, opts);
    if (r.exitCode !== 0) throw new CommandFailedError(command, r.exitCode, r.output);
    return r.output;
  }

  private async execNow(command: string, opts: ExecOptions): Promise<ExecResult> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const signal = opts.signal;
    if (this.needsResync) await this.resync(timeoutMs, signal);
    const id = nonce();
    const description = `exec: ${short(command)}`;
    let text = wrapCommand(id, command.trim() === "" ? ":" : command);
    try {
      if (Buffer.byteLength(text) > this.maxTypedBytes) {
        await this.stage(command, timeoutMs, description, signal);
        text = wrapCommand(id, RUN_STAGED);
      }
      await this.console.sendLine(text.replace(/\r?\n/g, "\r"), { keyDelayMs: this.keyDelayMs, signal });
      // The marker's own line end shows what this terminal makes of "\n" ("\r\n" on a tty, "\r\r\n" on
      // Xen's hvc0): that exact sequence is turned back into "\n" below, and nothing else.
      const start = await this.console.expect(new RegExp(`NBXB${id}(\\r*)\\n`), {
        timeoutMs,
        description: `${description} (start marker)`,
        signal,
      });
      const eol = `${start.match[1] ?? ""}\n`;
      if (opts.input !== undefined)
        await this.console.send(opts.input, { keyDelayMs: this.keyDelayMs, signal });
      const { before, exitCode } = await this.awaitEnd(id, command, {
        timeoutMs,
        ...(opts.progress ? { progress: opts.progress } : {}),
        description: `${description} (end marker)`,
        signal,
      });
      await this.console.expect(this.prompt, { timeoutMs, description: `${description} (prompt)`, signal });
      let output = before.split(eol).join("\n");
      if (output.endsWith("\n")) output = output.slice(0, -1);
      return { exitCode, output };
    } catch (err) {
      // The command may still run (or the shell be mid-line): the next exec interrupts it first.
      if (err instanceof ExpectTimeoutError || signal?.aborted) this.needsResync = true;
      throw err;
    }
  }

  /**
   * Waits for the end marker. The prompt showing up first, with nothing after it for a while, means the
   * shell is waiting for the next command: the line it ran was not the one typed.
   */
  private async awaitEnd(
    id: string,
    command: string,
    opts: ExpectOptions,
  ): Promise<{ before: string; exitCode: number }> {
    const endMarker = new RegExp(`NBXE${id}=(\\d+)=`);
    const idlePrompt = new RegExp(`${escapeRegExp(this.prompt)}$`);
    let before = "";
    for (;;) {
      const m = await this.console.expect([endMarker, idlePrompt], opts);
      before += m.before;
      if (m.index === 0) return { before, exitCode: Number.parseInt(m.match[1] ?? "", 10) };
      // The command may just have printed the prompt's text (echo "$PS1"): more output clears it.
      before += m.match[0];
      try {
        await this.console.expect(/(?=[^])/, {
          timeoutMs: PROMPT_IDLE_MS,
          description: "output after a prompt",
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } catch (err) {
        if (err instanceof ExpectTimeoutError)
          throw new GarbledCommandError(command, this.console.screenText());
        throw err;
      }
    }
  }

  /** Assigns `command` to STAGE_VAR in pieces short enough for the tty's line limit. */
  private async stage(
    command: string,
    timeoutMs: number,
    description: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const chunks = quotedChunks(command, this.maxTypedBytes - STAGE_VAR.length * 2 - 4);
    for (const [i, chunk] of chunks.entries()) {
      const line = i === 0 ? `${STAGE_VAR}=${chunk}` : `${STAGE_VAR}=$${STAGE_VAR}${chunk}`;
      await this.console.sendLine(line.replace(/\r?\n/g, "\r"), { keyDelayMs: this.keyDelayMs, signal });
      await this.console.expect(this.prompt, {
        timeoutMs,
        description: `${description} (staging part ${i + 1}/${chunks.length})`,
        signal,
      });
    }
  }

  /** Interrupts whatever runs (^C) until a fresh marker and the prompt come back. */
  private async resync(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    const waitMs = Math.min(timeoutMs, 10_000);
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      await this.console.send("\x03", { signal });
      await sleep(200);
      const id = nonce();
      await this.console.sendLine(`printf '%s\\n' 'NBXS''${id}'`, { keyDelayMs: this.keyDelayMs, signal });
      try {
        await this.console.expect(new RegExp(`NBXS${id}\\r*\\n`), {
          timeoutMs: waitMs,
          description: "shell resync marker",
          signal,
        });
        await this.console.expect(this.prompt, {
          timeoutMs: waitMs,
          description: "prompt after resync",
          signal,
        });
        this.needsResync = false;
        return;
      } catch (err) {
        if (!(err instanceof ExpectTimeoutError)) throw err;
        lastError = err;
      }
    }
    throw lastError;
  }
}
