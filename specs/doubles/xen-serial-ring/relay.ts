/**
 * TEST DOUBLE of the way Xen hands serial console input to a dom0 (see README.md here): bytes typed on
 * this process's terminal go into a ring of NBXEN_RING_BYTES (default 128, Xen's SERIAL_RX_SIZE); a byte
 * that finds the ring full is dropped, as xen/drivers/char/console.c does. A slow reader takes
 * NBXEN_RING_READ_BYTES (16) every NBXEN_RING_READ_MS (40) ms from the ring and types them into the shell,
 * which runs on a pty of its own. The shell's output goes out the way Xen's "cooked" serial handle writes
 * it (serial_puts in xen/drivers/char/serial.c): a "\r" before every "\n", so the tty's "\r\n" arrives
 * as "\r\r\n", as on a dom0's hvc0.
 *
 *   node --import tsx specs/doubles/xen-serial-ring/relay.ts /bin/sh [args]
 */
import { execFileSync } from "node:child_process";
import pty from "node-pty";

function envInt(name: string, fallback: number): number {
  const v = Number.parseInt(process.env[name] ?? "", 10);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

const ringBytes = envInt("NBXEN_RING_BYTES", 128);
const readBytes = envInt("NBXEN_RING_READ_BYTES", 16);
const readMs = envInt("NBXEN_RING_READ_MS", 40);

const [file, ...args] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: relay.ts SHELL [ARGS...]\n");
  process.exit(2);
}

const env: Record<string, string> = {};
for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
const shell = pty.spawn(file, args, {
  name: env.TERM ?? "xterm",
  cols: process.stdout.columns || 80,
  rows: process.stdout.rows || 25,
  cwd: process.cwd(),
  env,
  encoding: null,
});

let ring = Buffer.alloc(0);
let dropped = 0;

// The line this double sits on passes bytes untouched, as QEMU's serial port does on the harness's raw pty.
if (process.stdin.isTTY) execFileSync("stty", ["raw", "-echo"], { stdio: ["inherit", "ignore", "inherit"] });
process.stdin.on("data", (d: Buffer) => {
  const room = ringBytes - ring.length;
  if (d.length > room) dropped += d.length - room;
  ring = Buffer.concat([ring, d.subarray(0, Math.max(0, room))]);
});

const reader = setInterval(() => {
  if (ring.length === 0) return;
  const take = ring.subarray(0, readBytes);
  ring = ring.subarray(take.length);
  shell.write(Buffer.from(take).toString("latin1"));
}, readMs);

const CR = 0x0d;
const LF = 0x0a;
function cooked(d: Buffer): Buffer {
  const out: number[] = [];
  for (const b of d) {
    if (b === LF) out.push(CR);
    out.push(b);
  }
  return Buffer.from(out);
}

shell.onData((d: Buffer | string) => process.stdout.write(cooked(Buffer.from(d))));
shell.onExit(({ exitCode }) => {
  clearInterval(reader);
  if (process.env.NBXEN_RING_REPORT) process.stderr.write(`xen-serial-ring: ${dropped} bytes dropped\n`);
  process.stdout.write("", () => process.exit(exitCode));
});
