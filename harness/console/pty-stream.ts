import pty from "node-pty";
import type { IPty } from "node-pty";
import type { ConsoleStream } from "./types.ts";

/**
 * Adapts a node-pty process to a ConsoleStream. Output that arrives before the first onData
 * subscriber is kept and handed to it, so nothing is lost between spawning and attaching a console.
 * `close()` hangs up the process (SIGHUP).
 */
export function ptyStream(p: IPty): ConsoleStream {
  const listeners = new Set<(data: Buffer) => void>();
  let early: Buffer[] | undefined = [];
  let flushScheduled = false;
  let exited = false;
  // With `encoding: null` node-pty hands out Buffers although its typings say string.
  p.onData((d: string | Buffer) => {
    const buf = typeof d === "string" ? Buffer.from(d, "utf8") : d;
    if (early) early.push(buf);
    else for (const l of [...listeners]) l(buf);
  });
  p.onExit(() => {
    exited = true;
  });
  return {
    write(data: string | Buffer): void {
      if (!exited) p.write(data);
    },
    onData(listener: (data: Buffer) => void): () => void {
      listeners.add(listener);
      if (early && !flushScheduled) {
        flushScheduled = true;
        queueMicrotask(() => {
          const queued = early ?? [];
          early = undefined;
          for (const buf of queued) for (const l of [...listeners]) l(buf);
        });
      }
      return () => listeners.delete(listener);
    },
    onClose(listener: () => void): () => void {
      if (exited) {
        // After any queued output has been delivered (that happens in a microtask).
        const t = setImmediate(listener);
        return () => clearImmediate(t);
      }
      // node-pty emits exit once the pty's read side has closed, so no data follows it; but it closes that
      // side itself 200 ms after the process ended, dropping output a busy reader had not read by then.
      const sub = p.onExit(() => listener());
      return () => sub.dispose();
    },
    close(): void {
      if (exited) return;
      try {
        p.kill();
      } catch {
        // already gone
      }
    },
  };
}

/** Spawns `file` on a new pty that passes bytes through undecoded (binary output stays intact). */
export function spawnPtyStream(
  file: string,
  args: string[],
  opts: { cols?: number; rows?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): { stream: ConsoleStream; pid: number; exited: Promise<number> } {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env ?? process.env)) if (v !== undefined) env[k] = v;
  const p = pty.spawn(file, args, {
    name: env.TERM ?? "xterm",
    cols: opts.cols ?? 80,
    rows: opts.rows ?? 25,
    cwd: opts.cwd ?? process.cwd(),
    env,
    encoding: null,
  });
  const exited = new Promise<number>((resolve) => {
    p.onExit(({ exitCode, signal }) => resolve(signal ? 128 + signal : exitCode));
  });
  return { stream: ptyStream(p), pid: p.pid, exited };
}
