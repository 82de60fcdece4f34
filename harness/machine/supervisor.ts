/**
 * The machine supervisor: a small detached process that owns one QEMU. It runs QEMU on a pty from node-pty
 * (the serial console is QEMU's stdio), relays the console to any number of clients on a unix socket,
 * and makes sure QEMU never outlives its owner: while the machine is not detached (`nbxen up` detaches it
 * when it has finished), it kills QEMU as soon as the owner process is gone, even after a SIGKILL.
 *
 * Run as: node --import tsx supervisor.ts <supervisor.json>
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import pty from "node-pty";
import { signalName } from "../../lib/abort.ts";
import { isAlive, MachineDir, type RunInfo } from "./state-dir.ts";

export interface SupervisorSpec {
  runId: string;
  name: string;
  stateDir: string;
  qemuBinary: string;
  qemuArgs: string[];
  ownerPid: number;
  cols: number;
  rows: number;
}

const OWNER_POLL_MS = 500;
const KILL_GRACE_MS = 5000;

async function main(specPath: string): Promise<void> {
  const spec = JSON.parse(readFileSync(specPath, "utf8")) as SupervisorSpec;
  const dir = new MachineDir(spec.stateDir);
  const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);

  rmSync(dir.consoleSocket, { force: true });
  // The pty must pass bytes untouched in both directions (no CR insertion, no echo, no flow control):
  // set it raw before exec'ing QEMU, which keeps the pid and the command line QEMU's own.
  const qemu = pty.spawn(
    "/bin/sh",
    ["-c", 'stty raw -echo -ixon -ixoff && exec "$0" "$@"', spec.qemuBinary, ...spec.qemuArgs],
    {
      name: "vt100",
      cols: spec.cols,
      rows: spec.rows,
      cwd: spec.stateDir,
      env: process.env as Record<string, string>,
      encoding: null,
    },
  );
  log(`started ${spec.qemuBinary} pid ${qemu.pid} for run ${spec.runId}`);

  // What QEMU prints before the harness has connected (an error at start, say) is kept for the first
  // console client, and logged if none ever comes: QEMU can exit before anyone listens.
  const clients = new Set<net.Socket>();
  const beforeClients: Buffer[] = [];
  let beforeBytes = 0;
  let hadClient = false;
  qemu.onData((data: string | Buffer) => {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (!hadClient && beforeBytes < 256 * 1024) {
      beforeClients.push(buf);
      beforeBytes += buf.length;
    }
    for (const c of clients) c.write(buf);
  });

  const info: RunInfo = {
    runId: spec.runId,
    name: spec.name,
    supervisorPid: process.pid,
    qemuPid: qemu.pid,
    ownerPid: spec.ownerPid,
    startedAt: new Date().toISOString(),
  };

  const server = net.createServer((socket) => {
    if (!hadClient) {
      hadClient = true;
      for (const b of beforeClients.splice(0)) socket.write(b);
    }
    clients.add(socket);
    socket.on("data", (data: Buffer) => qemu.write(data));
    socket.on("close", () => clients.delete(socket));
    socket.on("error", () => clients.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(dir.consoleSocket, resolve));
  await dir.writeRunInfo(info);

  let stopping = false;
  const stopQemu = (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`stopping QEMU: ${why}`);
    try {
      process.kill(qemu.pid, "SIGTERM");
    } catch {
      /* already gone */
    }
    setTimeout(() => {
      if (isAlive(qemu.pid)) {
        log("QEMU did not exit after SIGTERM; sending SIGKILL");
        try {
          process.kill(qemu.pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }
    }, KILL_GRACE_MS).unref();
  };

  const ownerWatch = setInterval(() => {
    if (!existsSync(dir.detachedFile) && !isAlive(spec.ownerPid))
      stopQemu(`owner process ${spec.ownerPid} is gone`);
  }, OWNER_POLL_MS);

  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const)
    process.on(signal, () => stopQemu(`supervisor got ${signal}`));

  qemu.onExit(async ({ exitCode, signal }) => {
    clearInterval(ownerWatch);
    log(`QEMU exited with code ${exitCode}${signal ? ` (signal ${signal})` : ""}`);
    if (!hadClient && beforeClients.length)
      log(
        `QEMU's output (no console client had connected):\n${Buffer.concat(beforeClients).toString("utf8")}`,
      );
    // Recorded before the clients see their sockets close, so a client that asks why finds the answer.
    rmSync(dir.qemuPidFile, { force: true });
    rmSync(dir.detachedFile, { force: true });
    await dir.writeRunInfo({
      ...info,
      exitCode: signal ? null : exitCode,
      ...(signal ? { exitSignal: signalName(signal) } : {}),
      exitedAt: new Date().toISOString(),
    });
    // Let the last bytes reach the clients before closing their sockets.
    await new Promise((r) => setTimeout(r, 200));
    for (const c of clients) c.end();
    server.close();
    rmSync(dir.consoleSocket, { force: true });
    process.exit(0);
  });
}

const specPath = process.argv[2];
if (!specPath) {
  process.stderr.write("usage: supervisor.ts <supervisor.json>\n");
  process.exit(2);
}
main(specPath).catch((error: unknown) => {
  process.stderr.write(`supervisor failed: ${String(error instanceof Error ? error.stack : error)}\n`);
  process.exit(1);
});
