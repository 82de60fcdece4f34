/**
 * The simulator's serial line: its own stdin/stdout (a pty), in raw mode. Keys are queued as they
 * arrive (typeahead reaches whatever reads next, as on a real serial console); an escape sequence
 * (arrow keys) is one key. Every wait can be cut short by a machine reset.
 */
import { execFileSync } from "node:child_process";
import type { ReadStream, WriteStream } from "node:tty";

export class ResetSignal extends Error {
  constructor() {
    super("machine reset");
  }
}

export class SimTty {
  /** Output goes nowhere while the guest's console is elsewhere (e.g. `consdev pc`). */
  muted = false;
  readonly rows: number;
  readonly cols: number;
  private readonly keys: string[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly sleepers = new Set<() => void>();
  private generation = 0;
  private detached = false;

  constructor(
    private readonly input: ReadStream | NodeJS.ReadStream,
    private readonly output: WriteStream | NodeJS.WriteStream,
    /** Multiplies every delay (NBXEN_SIM_SPEED). */
    readonly speed: number,
  ) {
    this.rows = (output as WriteStream).rows || 25;
    this.cols = (output as WriteStream).columns || 80;
    this.rawMode();
    input.on("data", (d: Buffer) => this.onData(d.toString("latin1")));
    input.resume();
  }

  /** Cuts every pending wait (a reset): they throw ResetSignal. */
  reset(): void {
    this.generation++;
    this.keys.length = 0;
    this.muted = false;
    for (const s of [...this.sleepers]) s();
    this.wake();
  }

  write(text: string): void {
    if (!this.muted) this.output.write(text);
  }

  /** A line the way a kernel or the boot loader prints it. */
  line(text = ""): void {
    this.write(text.replace(/\n/g, "\r\n") + "\r\n");
  }

  /** Waits `ms` times the speed factor (or exactly `ms` with `unscaled`); a reset cuts it short. */
  async sleep(ms: number, opts: { unscaled?: boolean } = {}): Promise<void> {
    const gen = this.generation;
    const scaled = Math.max(0, Math.round(opts.unscaled ? ms : ms * this.speed));
    await new Promise<void>((resolve) => {
      // A reset wakes sleepers too.
      const done = (): void => {
        clearTimeout(t);
        this.sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, scaled);
      this.sleepers.add(done);
    });
    this.check(gen);
  }

  hasKey(): boolean {
    return this.keys.length > 0;
  }

  /** The next key; waits for one. */
  async key(): Promise<string> {
    const gen = this.generation;
    while (this.keys.length === 0) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.waiters.delete(done);
          resolve();
        };
        this.waiters.add(done);
      });
      this.check(gen);
    }
    return this.keys.shift()!;
  }

  /** The next key, or undefined after `ms` (scaled) without one. */
  async keyWithin(ms: number): Promise<string | undefined> {
    const gen = this.generation;
    const until = Date.now() + ms * this.speed;
    while (this.keys.length === 0 && Date.now() < until) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, Math.max(1, until - Date.now()));
        this.waiters.add(done);
      });
      this.check(gen);
    }
    return this.keys.shift();
  }

  /** A line of input, echoed (or not), with backspace; ends at CR or LF. */
  async readLine(opts: { echo: boolean; max?: number } = { echo: true }): Promise<string> {
    let text = "";
    for (;;) {
      const k = await this.key();
      if (k === "\r" || k === "\n") {
        this.write("\r\n");
        return text;
      }
      if (k === "\x7f" || k === "\b") {
        if (text.length > 0) {
          text = text.slice(0, -1);
          if (opts.echo) this.write("\b \b");
        }
        continue;
      }
      if (k === "\x15") {
        // ^U: kill the line
        if (opts.echo) this.write("\b \b".repeat(text.length));
        text = "";
        continue;
      }
      if (k.length !== 1 || k < " ") continue;
      if (opts.max !== undefined && text.length >= opts.max) continue;
      text += k;
      if (opts.echo) this.write(k);
    }
  }

  /** Hands the terminal to a child process (cooked mode, no reading here) until `attach()`. */
  detach(): void {
    this.detached = true;
    this.input.pause();
    if (!(this.input as ReadStream).isTTY) return;
    (this.input as ReadStream).setRawMode(false);
    // setRawMode(false) restores the mode found at start, which is raw when the harness's supervisor
    // started us: give the child the cooked line discipline a login on a real console has.
    try {
      execFileSync("stty", ["sane"], { stdio: ["inherit", "ignore", "ignore"] });
    } catch {
      // EIO: the line hung up
    }
  }

  attach(): void {
    this.detached = false;
    this.rawMode();
    this.input.resume();
  }

  /** Raw input, and output exactly as written (libuv's raw mode keeps ONLCR, which would turn \r\n into \r\r\n). */
  private rawMode(): void {
    if (!(this.input as ReadStream).isTTY) return;
    try {
      (this.input as ReadStream).setRawMode(true);
      execFileSync("stty", ["-onlcr"], { stdio: ["inherit", "ignore", "ignore"] });
    } catch {
      // without stty the output has \r\r\n line ends, harmless on a terminal; EIO: the line hung up
    }
  }

  get isDetached(): boolean {
    return this.detached;
  }

  private check(gen: number): void {
    if (gen !== this.generation) throw new ResetSignal();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /**
   * Where input goes instead of this line's key queue while set: the console of a domU the dom0's
   * `xl console` is attached to (../netbsd/domu.ts).
   */
  divert: ((data: string) => void) | undefined;

  private onData(data: string): void {
    if (this.divert) {
      this.divert(data);
      return;
    }
    let i = 0;
    while (i < data.length) {
      const c = data[i]!;
      if (c === "\x1b" && (data[i + 1] === "[" || data[i + 1] === "O")) {
        let j = i + 2;
        while (j < data.length && !/[A-Za-z~]/.test(data[j]!)) j++;
        this.keys.push(data.slice(i, j + 1));
        i = j + 1;
      } else {
        this.keys.push(c);
        i++;
      }
    }
    this.wake();
  }
}
