/**
 * `make bench`: speed and memory targets of the harness, measured on real parts (no timed tests elsewhere).
 * Prints a table, writes .nbxen/bench.json, exits 1 when a target is missed.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { randomBytes, createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { Console } from "../harness/console/console.ts";
import { spawnPtyStream } from "../harness/console/pty-stream.ts";
import { GuestShell } from "../harness/console/shell.ts";
import { Machine } from "../harness/machine/machine.ts";
import { ArtifactStore, LocalArtifactServer } from "../images/store/index.ts";
import { buildTestGuest, testGuestMachine } from "../testkit/test-guest.ts";

interface Result {
  name: string;
  value: number;
  unit: string;
  target: string;
  ok: boolean;
}

const results: Result[] = [];
function record(name: string, value: number, unit: string, target: number, higherIsBetter: boolean): void {
  const ok = higherIsBetter ? value >= target : value <= target;
  results.push({ name, value, unit, target: `${higherIsBetter ? ">=" : "<="} ${target} ${unit}`, ok });
}

async function storeThroughput(work: string): Promise<void> {
  const data = randomBytes(128 * 1024 * 1024);
  await mkdir(path.join(work, "srv"));
  await writeFile(path.join(work, "srv", "big.bin"), data);
  await using server = await LocalArtifactServer.start();
  server.mount("/", path.join(work, "srv"));
  const store = new ArtifactStore({ cacheDir: path.join(work, "cache") });
  const t0 = performance.now();
  await store.fetch({
    name: "bench/big.bin",
    url: `${server.url}/big.bin`,
    checksum: { algorithm: "sha256", hex: createHash("sha256").update(data).digest("hex") },
  });
  record(
    "store: download + verify + place (loopback)",
    128 / ((performance.now() - t0) / 1000),
    "MiB/s",
    40,
    true,
  );
}

async function consoleThroughput(): Promise<void> {
  const mib = 32;
  const { stream, exited } = spawnPtyStream("/bin/sh", [
    "-c",
    // Stays alive until the console has read everything: node-pty drops unread output 200 ms after an exit.
    `head -c ${mib * 1048576} /dev/zero | tr '\\0' 'x' | fold -w 100; echo; echo BENCH-END; sleep 600`,
  ]);
  const c = new Console(stream);
  const t0 = performance.now();
  await c.expect("BENCH-END", { timeoutMs: 300_000 });
  record("console: expect over a pty stream", mib / ((performance.now() - t0) / 1000), "MiB/s", 4, true);
  c.close();
  stream.close();
  await exited;
}

async function guest(work: string): Promise<void> {
  const g = await buildTestGuest();
  const options = await testGuestMachine(g, "bench", work);
  const t0 = performance.now();
  await using m = await Machine.start(options);
  await m.console.expect(g.readyBanner, { timeoutMs: 180_000 });
  await m.console.expect(/# /, { timeoutMs: 30_000 });
  const shell = await GuestShell.attach(m.console);
  record(
    "guest: QEMU start to shell (TCG, Linux + busybox)",
    (performance.now() - t0) / 1000,
    "s",
    60,
    false,
  );
  const n = 20;
  const t1 = performance.now();
  for (let i = 0; i < n; i++) await shell.run(`echo ${i}`);
  record("guest shell: exec round trip", (performance.now() - t1) / n, "ms", 1000, false);
  const t2 = performance.now();
  await m.savevm("bench");
  record("machine: savevm (256 MiB guest)", (performance.now() - t2) / 1000, "s", 30, false);
  const t3 = performance.now();
  await m.loadvm("bench");
  record("machine: loadvm", (performance.now() - t3) / 1000, "s", 30, false);
  await m.powerdown({ timeoutMs: 60_000 });
}

const work = await mkdtemp(path.join(os.tmpdir(), "nbxen-bench-"));
try {
  await storeThroughput(work);
  await consoleThroughput();
  await guest(work);
  record("harness: peak resident memory", process.resourceUsage().maxRSS / 1024, "MiB", 512, false);
} finally {
  await rm(work, { recursive: true, force: true });
}

const w = Math.max(...results.map((r) => r.name.length));
for (const r of results)
  console.log(
    `${r.ok ? "ok  " : "MISS"}  ${r.name.padEnd(w)}  ${r.value.toFixed(1).padStart(8)} ${r.unit.padEnd(6)} (target ${r.target})`,
  );
await mkdir(".nbxen", { recursive: true });
await writeFile(
  ".nbxen/bench.json",
  JSON.stringify({ at: new Date().toISOString(), results }, null, 2) + "\n",
);
process.exitCode = results.every((r) => r.ok) ? 0 : 1;
