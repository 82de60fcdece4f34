/**
 * `make bench`: the harness's end-to-end figures on the debian-12 box side by side with a raw floor
 * measured in the same run (floor.ts: the box's own Xen and kernel, no GRUB, systemd or disk, an init
 * that only runs `xl create` of a PV domU), with the ratio of each figure to its floor, its target and
 * ok/MISS. Prints a table, writes .nbxen/bench.json and .nbxen/bench.md, exits 1 when a target is missed.
 *
 *   make bench               everything: 12-25 min under TCG on 2 cores (the cold HOWTO specs take 7-20)
 *   make bench BENCH=quick   the floor and the harness's parts only (also `--quick`): about 2 min
 *
 * The debian-12 box is built first when the cache has none (a few minutes, once); the floor is built from
 * it once per box (about 10 s) under <cache>/bench-floor/. Each command's output is kept in
 * .nbxen/bench-logs/.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ResolvedConfig } from "../harness/boxes/box.ts";
import { loadConfig } from "../harness/config/load.ts";
import { chooseAccelerator } from "../harness/machine/accel.ts";
import { BOX, destroy, endToEnd, fetchBox, type E2eContext, type Floors } from "./e2e.ts";
import { bootFloor, ensureFloor } from "./floor.ts";
import { consoleThroughput, storeThroughput, testGuest } from "./parts.ts";
import { markdownTable, Results, textTable } from "./results.ts";

const quick = process.env.BENCH === "quick" || process.argv.includes("--quick");
const repo = fileURLToPath(new URL("..", import.meta.url));
const outDir = path.join(repo, ".nbxen");
const started = performance.now();
const log = (line: string) =>
  process.stderr.write(`[bench +${((performance.now() - started) / 1000).toFixed(0)}s] ${line}\n`);

const results = new Results();
const work = await mkdtemp(path.join(os.tmpdir(), "nbxen-bench-"));
const { config: project } = await loadConfig({ cwd: repo });
// The project's settings (QEMU, memory, cache), the debian-12 box, a state dir of the bench's own.
const { xenPackage: _xen, ...rest } = project;
const config: ResolvedConfig = { ...rest, box: BOX, stateDir: path.join(work, "state") };
const configFile = path.join(work, "nbxen.config.json");
await writeFile(configFile, JSON.stringify(config, null, 2) + "\n");
const ctx: E2eContext = { repo, configFile, config, logDir: path.join(outDir, "bench-logs"), log };
await rm(ctx.logDir, { recursive: true, force: true });
await mkdir(ctx.logDir, { recursive: true });

async function floorBoot(): Promise<Floors["boot"]> {
  log("the floor: the box's files (built when missing), the floor built from them, one boot");
  const boxDir = await fetchBox(ctx);
  const floor = await ensureFloor(boxDir, config.cacheDir, log);
  const accel = await chooseAccelerator({
    qemuBinary: config.qemu.binary,
    override: config.qemu.accelerator,
    cpu: config.qemu.cpu,
  });
  log(`accelerator: ${accel.reason}; CPU model ${accel.cpu}`);
  const t = await bootFloor(floor, config, accel, path.join(work, "floor"));
  const group = `floor: Xen ${floor.meta.xenVersion.replace(/\+.*/, "")} + Linux ${floor.meta.kernelVersion}, ${accel.accelerator} -cpu ${accel.cpu}`;
  const at = (name: string, value: number) => results.add({ name, value, unit: "s", group });
  at("QEMU start to the Xen banner", t.xenBanner);
  at("QEMU start to the dom0's init", t.dom0Init);
  at("QEMU start to xenstored + xenconsoled up", t.toolsUp);
  at("QEMU start to the domU's marker (xl create -c)", t.domUMarker);
  at("QEMU start to the domU's end: the floor", t.domUGone);
  at("QEMU start to the machine's power-off", t.poweredOff);
  return { name: "QEMU start to the domU's end, raw boot of the box's Xen + kernel", seconds: t.domUGone };
}

const floors: Floors = {};
try {
  try {
    floors.boot = await floorBoot();
  } catch (error) {
    results.failed({ name: "the floor", unit: "s", group: "floor" }, why(error));
  }
  log("the harness's parts: store, console, test guest");
  await storeThroughput(results, work);
  await consoleThroughput(results);
  floors.guestRoundTripMs = await testGuest(results, work);
  if (quick) log("BENCH=quick: the HOWTO runs are skipped");
  else {
    try {
      await endToEnd(ctx, results, floors);
    } finally {
      await destroy(ctx);
    }
  }
  results.add({
    name: "harness: peak resident memory (the bench process)",
    value: process.resourceUsage().maxRSS / 1024,
    unit: "MiB",
    group: "parts",
    target: { op: "<=", value: 512 },
  });
} finally {
  await rm(work, { recursive: true, force: true });
}

function why(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}

const wall = (performance.now() - started) / 1000;
const heading = `nbxen bench (${quick ? "quick" : "full"}), ${new Date().toISOString()}, ${wall.toFixed(0)} s`;
process.stdout.write(`\n${heading}\n${textTable(results.list)}`);
await mkdir(outDir, { recursive: true });
await writeFile(
  path.join(outDir, "bench.json"),
  JSON.stringify(
    {
      at: new Date().toISOString(),
      mode: quick ? "quick" : "full",
      wallSeconds: wall,
      results: results.list,
    },
    null,
    2,
  ) + "\n",
);
await writeFile(path.join(outDir, "bench.md"), markdownTable(results.list, heading));
const missed = results.list.filter((r) => !r.ok).length;
process.stdout.write(
  `${missed ? `${missed} target(s) missed` : "every target met"}; .nbxen/bench.json, .nbxen/bench.md\n`,
);
process.exitCode = missed ? 1 : 0;
