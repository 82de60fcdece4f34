import { readdir, readFile, rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { runUuid } from "./qemu-args.ts";
import { isAlive, type MachineDir, processCmdline } from "./state-dir.ts";

export interface ReapResult {
  killed: { pid: number; what: string }[];
}

/**
 * Kills what a SIGKILLed harness may have left in this machine directory: a QEMU whose supervisor is gone
 * (recognised by its pidfile path and the run's UUID on its command line, so a reused pid is never hit),
 * and a supervisor whose owner died without detaching it (the supervisor normally does this itself).
 */
export async function reapStale(
  dir: MachineDir,
  log: (line: string) => void = () => {},
): Promise<ReapResult> {
  const killed: ReapResult["killed"] = [];
  const info = await dir.readRunInfo();
  const candidates = new Set<number>();
  if (info?.qemuPid) candidates.add(info.qemuPid);
  const pidFromFile = Number((await readFile(dir.qemuPidFile, "utf8").catch(() => "")).trim());
  if (pidFromFile) candidates.add(pidFromFile);
  for (const pid of await qemuPidsUsing(dir.qemuPidFile)) candidates.add(pid);

  const supervisorAlive = info ? isAlive(info.supervisorPid) : false;
  if (supervisorAlive) return { killed };
  for (const pid of candidates) {
    const cmdline = await processCmdline(pid);
    if (!cmdline) continue;
    const ours = cmdline.includes(dir.qemuPidFile) || (info ? cmdline.includes(runUuid(info.runId)) : false);
    if (!ours) continue;
    process.kill(pid, "SIGKILL");
    killed.push({ pid, what: `QEMU left by run ${info?.runId ?? "unknown"}` });
    log(`reaped QEMU pid ${pid} left behind by an earlier run (${info?.runId ?? "unknown run"})`);
  }
  for (const k of killed) {
    for (let i = 0; i < 50 && isAlive(k.pid); i++) await sleep(100);
  }
  if (killed.length) await rm(dir.qemuPidFile, { force: true });
  return { killed };
}

/** Pids of processes whose command line names this pidfile (a QEMU started for this machine dir). */
async function qemuPidsUsing(pidFile: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const cmdline = await processCmdline(pid);
    if (cmdline?.includes(`-pidfile ${pidFile}`)) pids.push(pid);
  }
  return pids;
}
