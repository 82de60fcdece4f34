import { randomBytes } from "node:crypto";
import { unlinkSync } from "node:fs";
import { open, readFile, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { HarnessError } from "../../lib/errors.ts";
import { isAlive } from "../../lib/process.ts";

/**
 * A lock file created with O_EXCL holding "pid\nhostname\ntoken\n". A lock whose pid is dead on this host
 * is stale and gets broken. Breaking is itself guarded by a short-lived "<lock>.break" file so that two
 * waiters cannot both break the lock and then delete each other's fresh one.
 */
export interface FileLock extends AsyncDisposable {
  readonly path: string;
  release(): Promise<void>;
}

export interface AcquireOptions {
  /** Give up after this long (default: wait as long as a live process holds the lock). */
  timeoutMs?: number;
  pollMs?: number;
  log?: (line: string) => void;
}

export class LockTimeoutError extends HarnessError {
  readonly lockPath: string;
  readonly holderPid?: number;
  constructor(lockPath: string, holderPid: number | undefined, waitedMs: number) {
    super(
      `Gave up after ${waitedMs} ms waiting for lock ${lockPath}` +
        (holderPid !== undefined ? ` held by pid ${holderPid}` : "") +
        `; if no such process is running, delete the lock file.`,
    );
    this.lockPath = lockPath;
    if (holderPid !== undefined) this.holderPid = holderPid;
  }
}

/** A lock file with no readable holder (being written, or left empty by a crash) is stale after this. */
const UNREADABLE_GRACE_MS = 10_000;
const BREAK_GRACE_MS = 10_000;

const held = new Map<string, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Best effort: leave no lock behind on process.exit(). A hard kill leaves one, which waiters treat as stale.
  process.once("exit", () => {
    for (const path of held.keys()) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
  });
}

interface Holder {
  pid: number;
  host: string;
  token: string;
}

function parseHolder(text: string): Holder | undefined {
  const [pid, host, token] = text.split("\n");
  if (!pid || !/^\d+$/.test(pid) || host === undefined || !token) return undefined;
  return { pid: Number(pid), host, token };
}

async function tryCreate(path: string, content: string): Promise<boolean> {
  try {
    const handle = await open(path, "wx");
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

async function readHolder(path: string): Promise<{ holder?: Holder; ageMs: number } | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(path, "utf8"), stat(path)]);
    const holder = parseHolder(text);
    return { ...(holder ? { holder } : {}), ageMs: Date.now() - info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

function isStale(state: { holder?: Holder; ageMs: number }): boolean {
  if (!state.holder) return state.ageMs > UNREADABLE_GRACE_MS;
  // A pid on another host (shared cache directory) cannot be probed: wait for it.
  if (state.holder.host !== hostname()) return false;
  return !isAlive(state.holder.pid);
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

/** Remove `path` if it still holds the same stale holder, under the break guard. */
async function breakStaleLock(path: string, staleToken: string | undefined, log?: (line: string) => void) {
  const guard = `${path}.break`;
  const guardState = await readHolder(guard);
  if (guardState && guardState.ageMs > BREAK_GRACE_MS) await unlinkIfPresent(guard);
  if (!(await tryCreate(guard, `${process.pid}\n${hostname()}\nbreak\n`))) return;
  try {
    const again = await readHolder(path);
    if (again && isStale(again) && again.holder?.token === staleToken) {
      log?.(`breaking stale lock ${path} (pid ${again.holder?.pid ?? "unknown"} is gone)`);
      await unlinkIfPresent(path);
    }
  } finally {
    await unlinkIfPresent(guard);
  }
}

export async function acquireLock(path: string, options: AcquireOptions = {}): Promise<FileLock> {
  const pollMs = options.pollMs ?? 150;
  const token = randomBytes(8).toString("hex");
  const content = `${process.pid}\n${hostname()}\n${token}\n`;
  const startedAt = Date.now();
  let announcedPid: number | undefined | null = null;

  for (;;) {
    if (await tryCreate(path, content)) break;
    const state = await readHolder(path);
    if (!state) continue; // released between our attempt and the read
    if (isStale(state)) {
      await breakStaleLock(path, state.holder?.token, options.log);
      continue;
    }
    if (announcedPid !== (state.holder?.pid ?? undefined)) {
      announcedPid = state.holder?.pid;
      options.log?.(`waiting for lock ${path} held by pid ${announcedPid ?? "unknown"}`);
    }
    const waited = Date.now() - startedAt;
    if (options.timeoutMs !== undefined && waited >= options.timeoutMs) {
      throw new LockTimeoutError(path, state.holder?.pid, waited);
    }
    await sleep(pollMs);
  }

  installExitHook();
  held.set(path, token);
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    held.delete(path);
    const state = await readHolder(path);
    if (state?.holder?.token === token) await unlinkIfPresent(path);
  };
  return { path, release, [Symbol.asyncDispose]: release };
}
