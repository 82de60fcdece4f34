import cliProgress from "cli-progress";

/**
 * Where the harness says what it is doing. On a terminal, long work (downloads) gets a live progress bar;
 * elsewhere (CI, pipes, NBXEN_PLAIN=1) every update is a plain, timestamped line, throttled.
 */
export interface Reporter {
  info(line: string): void;
  warn(line: string): void;
  debug(line: string): void;
  /** Progress of one long transfer or task; call done() when it ends. */
  progress(label: string, total?: number): ProgressHandle;
}

export interface ProgressHandle {
  update(current: number, total?: number): void;
  done(summary?: string): void;
}

export interface ReporterOptions {
  stream?: NodeJS.WriteStream;
  interactive?: boolean;
  verbose?: boolean;
}

const PLAIN_INTERVAL_MS = 5000;

function mib(n: number): string {
  return (n / 1048576).toFixed(1) + " MiB";
}

export function createReporter(opts: ReporterOptions = {}): Reporter {
  const stream = opts.stream ?? process.stderr;
  const interactive =
    opts.interactive ?? (Boolean(stream.isTTY) && !process.env.CI && process.env.NBXEN_PLAIN !== "1");
  const stamp = () => new Date().toISOString().slice(11, 19);
  const line = (text: string) => stream.write(interactive ? `${text}\n` : `[${stamp()}] ${text}\n`);
  return {
    info: line,
    warn: (text) => line(`warning: ${text}`),
    debug: (text) => {
      if (opts.verbose) line(`debug: ${text}`);
    },
    progress(label, total) {
      if (interactive) {
        const bar = new cliProgress.SingleBar(
          { stream, format: `${label} [{bar}] {percentage}% {value_mib}/{total_mib}`, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total ?? 0, 0, { value_mib: mib(0), total_mib: total ? mib(total) : "?" });
        return {
          update(current, t) {
            if (t && t !== bar.getTotal()) bar.setTotal(t);
            bar.update(current, {
              value_mib: mib(current),
              total_mib: (t ?? total) ? mib((t ?? total)!) : "?",
            });
          },
          done(summary) {
            bar.stop();
            if (summary) line(summary);
          },
        };
      }
      let last = 0;
      line(`${label}: started`);
      return {
        update(current, t) {
          const now = Date.now();
          if (now - last < PLAIN_INTERVAL_MS) return;
          last = now;
          const of = t ?? total;
          line(
            `${label}: ${mib(current)}${of ? ` of ${mib(of)} (${Math.floor((100 * current) / of)}%)` : ""}`,
          );
        },
        done(summary) {
          line(`${label}: ${summary ?? "done"}`);
        },
      };
    },
  };
}

/** A reporter that keeps lines in memory: for tests and for library use without output. */
export function memoryReporter(): Reporter & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (l) => lines.push(l),
    warn: (l) => lines.push(`warning: ${l}`),
    debug: () => {},
    progress: (label) => ({ update: () => {}, done: (s) => lines.push(`${label}: ${s ?? "done"}`) }),
  };
}
