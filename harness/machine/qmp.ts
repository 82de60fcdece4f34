import net from "node:net";
import { HarnessError } from "../../lib/errors.ts";

/** A QMP command failed, or the socket went away while one was pending. */
export class QmpError extends HarnessError {
  readonly command: string;
  readonly errorClass?: string;
  constructor(command: string, message: string, errorClass?: string) {
    super(`QMP ${command}: ${message}`);
    this.command = command;
    this.errorClass = errorClass;
  }
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** A QEMU Machine Protocol client on a unix socket: one command at a time; QMP's events are ignored. */
export class QmpClient {
  private buffer = "";
  private readonly pending: Pending[] = [];
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.onData(chunk));
    socket.on("close", () => this.onClose());
    socket.on("error", () => this.onClose());
  }

  /** Connects, reads the greeting and negotiates capabilities. Retries until the socket exists. */
  static async connect(
    path: string,
    opts: { timeoutMs?: number; giveUpIf?: () => boolean } = {},
  ): Promise<QmpClient> {
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (opts.giveUpIf?.()) break;
      try {
        const socket = await connectOnce(path);
        const client = new QmpClient(socket);
        await client.greeting();
        await client.execute("qmp_capabilities");
        return client;
      } catch (error) {
        lastError = error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new QmpError("connect", `cannot connect to ${path}: ${String(lastError)}`);
  }

  private greetingWaiter?: (ok: boolean) => void;
  private greeting(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.greetingWaiter = (ok) =>
        ok ? resolve() : reject(new Error("socket closed before the QMP greeting"));
    });
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closed) return Promise.reject(new QmpError(command, "the QMP connection is closed"));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ command, resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(
        JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + "\n",
      );
    });
  }

  /** Runs a human monitor command (savevm, loadvm, info snapshots) and returns its text output. */
  async hmp(commandLine: string): Promise<string> {
    const out = await this.execute<string>("human-monitor-command", { "command-line": commandLine });
    return out ?? "";
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
    this.onClose();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onMessage(JSON.parse(line) as Record<string, unknown>);
    }
  }

  private onMessage(msg: Record<string, unknown>): void {
    if ("QMP" in msg) {
      this.greetingWaiter?.(true);
      this.greetingWaiter = undefined;
    } else if ("return" in msg) {
      this.pending.shift()?.resolve(msg.return);
    } else if ("error" in msg) {
      const p = this.pending.shift();
      const err = msg.error as { class?: string; desc?: string };
      p?.reject(new QmpError(p.command, err.desc ?? "unknown error", err.class));
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.greetingWaiter?.(false);
    for (const p of this.pending.splice(0)) p.reject(new QmpError(p.command, "QEMU closed the QMP socket"));
  }
}

function connectOnce(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path);
    socket.once("connect", () => {
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", reject);
  });
}
