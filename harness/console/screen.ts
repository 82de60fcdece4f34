import xterm from "@xterm/headless";

const { Terminal } = xterm;

/** A virtual terminal screen fed with the console's bytes (the rendered view curses programs draw). */
export class Screen {
  readonly cols: number;
  readonly rows: number;
  private readonly term: InstanceType<typeof Terminal>;
  private disposed = false;

  constructor(cols = 80, rows = 25) {
    this.cols = cols;
    this.rows = rows;
    this.term = new Terminal({ cols, rows, allowProposedApi: true, scrollback: 200, logLevel: "off" });
  }

  /** Parses `data`; `parsed` runs once the terminal has applied it (xterm parses asynchronously). */
  feed(data: Uint8Array, parsed?: () => void): void {
    if (this.disposed) return;
    this.term.write(data, parsed);
  }

  /** Resolves once every byte fed so far has been parsed. */
  settle(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    return new Promise((resolve) => this.term.write("", resolve));
  }

  /** The visible rows joined by "\n", each right-trimmed, trailing blank rows dropped. */
  text(): string {
    const buf = this.term.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < this.rows; y++) {
      lines.push(buf.getLine(buf.baseY + y)?.translateToString(true) ?? "");
    }
    return lines.join("\n").trimEnd();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.term.dispose();
  }
}
