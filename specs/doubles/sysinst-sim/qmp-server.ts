/**
 * A minimal QMP server on a unix socket: the greeting, capabilities negotiation, and the few commands
 * the harness uses. savevm/loadvm/delvm/info snapshots (through human-monitor-command) are recorded in
 * the simulator's state file; they do not restore a running guest.
 */
import { rmSync } from "node:fs";
import net from "node:net";
import type { SimState } from "./state.ts";

export interface QmpHandlers {
  status(): "prelaunch" | "paused" | "running";
  cont(): void;
  stop(): void;
  powerdown(): void;
  reset(): void;
  quit(): void;
  /** Snapshot hooks for the installed system on the disk (../netbsd/installed.ts). */
  savevm?(name: string): void;
  loadvm?(name: string): void;
  delvm?(name: string): void;
}

type Reply = { return: unknown } | { error: { class: string; desc: string } };

export class SimQmpServer {
  private readonly clients = new Set<net.Socket>();
  private readonly server: net.Server;

  constructor(
    socketPath: string,
    private readonly state: SimState,
    private readonly h: QmpHandlers,
    private readonly log: (line: string) => void,
  ) {
    rmSync(socketPath, { force: true });
    this.server = net.createServer((s) => this.onClient(s));
    this.server.listen(socketPath);
  }

  event(name: string, data?: Record<string, unknown>): void {
    const now = Date.now();
    const msg = {
      event: name,
      ...(data ? { data } : {}),
      timestamp: { seconds: Math.floor(now / 1000), microseconds: (now % 1000) * 1000 },
    };
    for (const c of this.clients) c.write(JSON.stringify(msg) + "\r\n");
  }

  close(): void {
    for (const c of this.clients) c.destroy();
    this.server.close();
  }

  private onClient(sock: net.Socket): void {
    this.clients.add(sock);
    let negotiated = false;
    let buf = "";
    sock.on("close", () => this.clients.delete(sock));
    sock.on("error", () => this.clients.delete(sock));
    sock.write(
      JSON.stringify({
        QMP: {
          version: {
            qemu: { micro: 0, minor: 2, major: 7 },
            package: "nbxen sysinst simulator (a test double)",
          },
          capabilities: ["oob"],
        },
      }) + "\r\n",
    );
    sock.on("data", (d: Buffer) => {
      buf += d.toString("utf8");
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let req: { execute?: string; arguments?: Record<string, unknown>; id?: unknown };
        try {
          req = JSON.parse(line) as typeof req;
        } catch {
          sock.write(JSON.stringify({ error: { class: "GenericError", desc: "JSON parse error" } }) + "\r\n");
          continue;
        }
        const cmd = req.execute ?? "";
        let reply: Reply;
        if (cmd === "qmp_capabilities") {
          negotiated = true;
          reply = { return: {} };
        } else if (!negotiated) {
          reply = {
            error: {
              class: "CommandNotFound",
              desc: "Expecting capabilities negotiation with 'qmp_capabilities'",
            },
          };
        } else {
          reply = this.execute(cmd, req.arguments ?? {});
        }
        const out = req.id !== undefined ? { ...reply, id: req.id } : reply;
        sock.write(JSON.stringify(out) + "\r\n");
        if (cmd === "quit") setTimeout(() => this.h.quit(), 20);
      }
    });
  }

  private execute(cmd: string, args: Record<string, unknown>): Reply {
    this.log(`qmp: ${cmd}${cmd === "human-monitor-command" ? ` ${String(args["command-line"])}` : ""}`);
    switch (cmd) {
      case "query-status": {
        const status = this.h.status();
        return { return: { status, singlestep: false, running: status === "running" } };
      }
      case "cont":
        this.h.cont();
        this.event("RESUME");
        return { return: {} };
      case "stop":
        this.h.stop();
        this.event("STOP");
        return { return: {} };
      case "system_powerdown":
        this.event("POWERDOWN");
        this.h.powerdown();
        return { return: {} };
      case "system_reset":
        this.event("RESET", { guest: false, reason: "host-qmp-system-reset" });
        this.h.reset();
        return { return: {} };
      case "quit":
        this.event("SHUTDOWN", { guest: false, reason: "host-qmp-quit" });
        return { return: {} };
      case "human-monitor-command":
        return { return: this.hmp(String(args["command-line"] ?? "")) };
      default:
        return { error: { class: "CommandNotFound", desc: `The command ${cmd} has not been found` } };
    }
  }

  private hmp(line: string): string {
    const [cmd = "", name = ""] = line.trim().split(/\s+/);
    const snaps = this.state.data.snapshots;
    switch (cmd) {
      case "savevm": {
        const tag = name || `vm-${snaps.length + 1}`;
        const rest = snaps.filter((s) => s.name !== tag);
        rest.push({ name: tag, date: new Date().toISOString(), install: this.state.data.install });
        this.state.data.snapshots = rest;
        this.state.save();
        this.h.savevm?.(tag);
        return "";
      }
      case "loadvm": {
        const s = snaps.find((x) => x.name === name);
        if (!s) return `Error: Snapshot '${name}' does not exist in one or more devices\r\n`;
        this.state.data.install = s.install;
        this.state.save();
        this.h.loadvm?.(name);
        return "";
      }
      case "delvm":
        this.state.data.snapshots = snaps.filter((s) => s.name !== name);
        this.state.save();
        this.h.delvm?.(name);
        return "";
      case "info":
        if (name !== "snapshots") return `unknown command: 'info ${name}'\r\n`;
        if (snaps.length === 0) return "There is no snapshot available.\r\n";
        return (
          "List of snapshots present on all disks:\r\n" +
          "ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT\r\n" +
          snaps
            .map((s) => {
              const d = s.date.replace("T", " ").slice(0, 19);
              return `--        ${s.name.padEnd(17)} 1.23 MiB ${d} 00:00:10.000\r\n`;
            })
            .join("")
        );
      default:
        return `unknown command: '${cmd}'\r\n`;
    }
  }
}
