import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { HarnessError } from "../util/errors.ts";
import { ExpectTimeoutError } from "./console.ts";
import type { Console } from "./console.ts";

export interface ExecResult {
  exitCode: number;
  /** What the command printed, CRLF normalised to LF, exactly as it ended (no newline added). */
  output: string;
}

export interface ExecOptions {
  /** How long to wait for each sign of life: the command starting, its end (restarted by progress), the prompt. Default 60s. */
  timeoutMs?: number;
  progress?: RegExp[];
  /** Typed on the console once the command has started, for a command that reads the terminal. Its echo is part of the output. */
  input?: string;
}

/**
 * A command run through GuestShell.run() exited non-zero. The command's status is `commandExitCode`:
 * the inherited `exitCode` is HarnessError's CLI exit code (always 1 here), so it cannot carry it.
 */
export class CommandFailedError extends HarnessError {
  readonly command: string;
  readonly commandExitCode: number;
  readonly output: string;

  constructor(command: string, commandExitCode: number, output: string) {
    super(`command exited with status ${commandExitCode}: ${command}\n${output.slice(-1000)}`);
    this.command = command;
    this.commandExitCode = commandExitCode;
    this.output = output;
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
/** Typed lines longer than this go through a shell variable (tty line limits: NetBSD ~1024, busybox 1024). */
const DEFAULT_MAX_LINE = 400;
const STAGE_VAR = "_nbx_cmd";

function shQuote(s: string): string {
  return "'" + s.replace(/'/g, "'\\''") + "'";
}

function longestLine(text: string): number {
  return Math.max(...text.split("\n").map((l) => Buffer.byteLength(l)));
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
  private readonly maxLineLength: number;
  private needsResync = false;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    console: Console,
    prompt: string,
    opts: { timeoutMs: number; keyDelayMs: number; maxLineLength: number },
  ) {
    this.console = console;
    this.prompt = prompt;
    this.timeoutMs = opts.timeoutMs;
    this.keyDelayMs = opts.keyDelayMs;
    this.maxLineLength = opts.maxLineLength;
  }

  /**
   * Takes over a shell that is already at a prompt: sets a unique split-quoted PS1 and waits for it.
   * timeoutMs: default for every wait (60s); keyDelayMs: pause between typed characters (slow serial
   * consoles drop input); maxLineLength: longest line typed as is (default 400 bytes), longer commands
   * are first assigned to a shell variable in pieces and then run with eval.
   */
  static async attach(
    console: Console,
    opts: { timeoutMs?: number; keyDelayMs?: number; maxLineLength?: number } = {},
  ): Promise<GuestShell> {
    const id = nonce();
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const shell = new GuestShell(console, `nbx-${id}# `, {
      timeoutMs,
      keyDelayMs: opts.keyDelayMs ?? 0,
      maxLineLength: Math.max(opts.maxLineLength ?? DEFAULT_MAX_LINE, 120),
    });
    await console.sendLine(`PS1='nbx''-${id}# '`, { keyDelayMs: shell.keyDelayMs });
    await console.expect(shell.prompt, { timeoutMs, description: "shell prompt after setting PS1" });
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
    if (this.needsResync) await this.resync(timeoutMs);
    const id = nonce();
    const description = `exec: ${short(command)}`;
    // The brace group makes the shell read the whole text before running anything, so a command that
    // reads the terminal cannot swallow the end marker.
    const wrap = (body: string): string =>
      `printf '%s\\n' 'NBXB''${id}'; { ${body}\n}; printf '\\n%s=%d=\\n' 'NBXE''${id}' "$?"`;
    let text = wrap(command.trim() === "" ? ":" : command);
    try {
      if (longestLine(text) > this.maxLineLength) {
        await this.stage(command, timeoutMs, description);
        text = wrap(`eval "$${STAGE_VAR}"`);
      }
      await this.console.sendLine(text.replace(/\r?\n/g, "\r"), { keyDelayMs: this.keyDelayMs });
      // The marker's own line end shows what this terminal makes of "\n" ("\r\n" on a tty, "\r\r\n" on
      // Xen's hvc0): that exact sequence is turned back into "\n" below, and nothing else.
      const start = await this.console.expect(new RegExp(`NBXB${id}(\\r*)\\n`), {
        timeoutMs,
        description: `${description} (start marker)`,
      });
      const eol = `${start.match[1] ?? ""}\n`;
      if (opts.input !== undefined) await this.console.send(opts.input, { keyDelayMs: this.keyDelayMs });
      const end = await this.console.expect(new RegExp(`NBXE${id}=(\\d+)=`), {
        timeoutMs,
        ...(opts.progress ? { progress: opts.progress } : {}),
        description: `${description} (end marker)`,
      });
      await this.console.expect(this.prompt, { timeoutMs, description: `${description} (prompt)` });
      let output = end.before.split(eol).join("\n");
      if (output.endsWith("\n")) output = output.slice(0, -1);
      return { exitCode: Number.parseInt(end.match[1] ?? "", 10), output };
    } catch (err) {
      if (err instanceof ExpectTimeoutError) this.needsResync = true;
      throw err;
    }
  }

  /** Assigns `command` to STAGE_VAR in pieces short enough for the tty's line limit. */
  private async stage(command: string, timeoutMs: number, description: string): Promise<void> {
    const chunks = quotedChunks(command, this.maxLineLength - STAGE_VAR.length * 2 - 4);
    for (const [i, chunk] of chunks.entries()) {
      const line = i === 0 ? `${STAGE_VAR}=${chunk}` : `${STAGE_VAR}=$${STAGE_VAR}${chunk}`;
      await this.console.sendLine(line.replace(/\r?\n/g, "\r"), { keyDelayMs: this.keyDelayMs });
      await this.console.expect(this.prompt, {
        timeoutMs,
        description: `${description} (staging part ${i + 1}/${chunks.length})`,
      });
    }
  }

  /** Interrupts whatever runs (^C) until a fresh marker and the prompt come back. */
  private async resync(timeoutMs: number): Promise<void> {
    const waitMs = Math.min(timeoutMs, 10_000);
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      await this.console.send("\x03");
      await sleep(200);
      const id = nonce();
      await this.console.sendLine(`printf '%s\\n' 'NBXS''${id}'`, { keyDelayMs: this.keyDelayMs });
      try {
        await this.console.expect(new RegExp(`NBXS${id}\\r*\\n`), {
          timeoutMs: waitMs,
          description: "shell resync marker",
        });
        await this.console.expect(this.prompt, { timeoutMs: waitMs, description: "prompt after resync" });
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
