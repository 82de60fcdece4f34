/**
 * The harness's parts, measured on real parts (about a minute): the artifact store, the console's expect
 * engine against the raw pty stream it reads, and the busybox test guest (boot, shell round trip, savevm,
 * loadvm).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import { Console } from "../harness/console/console.ts";
import { spawnPtyStream } from "../harness/console/pty-stream.ts";
import { GuestShell } from "../harness/console/shell.ts";
import { Machine } from "../harness/machine/machine.ts";
import { ArtifactStore, LocalArtifactServer } from "../images/store/index.ts";
import { buildTestGuest, testGuestMachine } from "../testkit/test-guest.ts";
import type { Results } from "./results.ts";

const GROUP = "parts";

export async function storeThroughput(results: Results, work: string): Promise<void> {
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
  results.add({
    name: "store: download + verify + place (loopback)",
    value: 128 / ((performance.now() - t0) / 1000),
    unit: "MiB/s",
    group: GROUP,
    target: { op: ">=", value: 40 },
  });
}

const CONSOLE_MIB = 32;
// Stays alive until the reader has read everything: node-pty drops unread output 200 ms after an exit.
const FLOOD = `head -c ${CONSOLE_MIB * 1048576} /dev/zero | tr '\\0' 'x' | fold -w 100; echo; echo BENCH-END; sleep 600`;

/** MiB/s of the same flood read straight off the pty stream, with no expect engine: the console's floor. */
async function rawPtyThroughput(): Promise<number> {
  const { stream, exited } = spawnPtyStream("/bin/sh", ["-c", FLOOD]);
  const t0 = performance.now();
  let tail = "";
  await new Promise<void>((resolve) => {
    const off = stream.onData((d) => {
      tail = (tail + d.toString("latin1")).slice(-64);
      if (tail.includes("BENCH-END")) {
        off();
        resolve();
      }
    });
  });
  const mibs = CONSOLE_MIB / ((performance.now() - t0) / 1000);
  stream.close();
  await exited;
  return mibs;
}

export async function consoleThroughput(results: Results): Promise<void> {
  const raw = await rawPtyThroughput();
  const { stream, exited } = spawnPtyStream("/bin/sh", ["-c", FLOOD]);
  const c = new Console(stream);
  const t0 = performance.now();
  await c.expect("BENCH-END", { timeoutMs: 300_000 });
  results.add({
    name: "console: expect over a pty stream",
    value: CONSOLE_MIB / ((performance.now() - t0) / 1000),
    unit: "MiB/s",
    group: GROUP,
    target: { op: ">=", value: 4 },
    floor: { name: "the same flood read off the pty stream, no expect engine", value: raw, unit: "MiB/s" },
  });
  c.close();
  stream.close();
  await exited;
}

/** The test guest's shell round trip, in ms: the floor of the same figure on the dom0. */
export async function testGuest(results: Results, work: string): Promise<number> {
  const g = await buildTestGuest();
  const options = await testGuestMachine(g, "bench", work);
  const t0 = performance.now();
  await using m = await Machine.start(options);
  await m.console.expect(g.readyBanner, { timeoutMs: 180_000 });
  await m.console.expect(/# /, { timeoutMs: 30_000 });
  const shell = await GuestShell.attach(m.console);
  results.add({
    name: "guest: QEMU start to shell (TCG, Linux + busybox)",
    value: (performance.now() - t0) / 1000,
    unit: "s",
    group: GROUP,
    target: { op: "<=", value: 60 },
  });
  const n = 20;
  const t1 = performance.now();
  for (let i = 0; i < n; i++) await shell.run(`echo ${i}`);
  const roundTrip = (performance.now() - t1) / n;
  results.add({
    name: "guest shell: exec round trip",
    value: roundTrip,
    unit: "ms",
    group: GROUP,
    target: { op: "<=", value: 1000 },
    note: `mean of ${n}`,
  });
  const t2 = performance.now();
  await m.savevm("bench");
  results.add({
    name: "machine: savevm (256 MiB guest)",
    value: (performance.now() - t2) / 1000,
    unit: "s",
    group: GROUP,
    target: { op: "<=", value: 30 },
  });
  const t3 = performance.now();
  await m.loadvm("bench");
  results.add({
    name: "machine: loadvm",
    value: (performance.now() - t3) / 1000,
    unit: "s",
    group: GROUP,
    target: { op: "<=", value: 30 },
  });
  await m.powerdown({ timeoutMs: 60_000 });
  return roundTrip;
}
