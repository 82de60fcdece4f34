import { createHash } from "node:crypto";
import { chmod, mkdir, readFile, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
export { isAlive, processCmdline } from "../../lib/process.ts";
import os from "node:os";
import path from "node:path";

/** sockaddr_un holds 108 bytes; keep a margin for the file names. */
const MAX_SOCKET_DIR = 90;

/** Information the supervisor writes about a running machine: enough for `status`, `attach` and the reaper. */
export interface RunInfo {
  runId: string;
  name: string;
  supervisorPid: number;
  qemuPid?: number;
  ownerPid: number;
  startedAt: string;
  exitCode?: number | null;
  /** The signal that ended QEMU ("SIGKILL"), when one did. */
  exitSignal?: string;
  exitedAt?: string;
}

/**
 * The private directory of one machine (mode 0700): QMP and console sockets, pidfiles, run info, disks,
 * transcripts. Two projects in different directories have different state dirs, so they never share
 * sockets or disks.
 */
export class MachineDir {
  constructor(readonly root: string) {}

  get socketDir(): string {
    return path.join(this.root, "sock");
  }
  get qmpSocket(): string {
    return path.join(this.socketDir, "qmp.sock");
  }
  get consoleSocket(): string {
    return path.join(this.socketDir, "console.sock");
  }
  get runFile(): string {
    return path.join(this.root, "run.json");
  }
  get qemuPidFile(): string {
    return path.join(this.root, "qemu.pid");
  }
  get detachedFile(): string {
    return path.join(this.root, "detached");
  }
  get supervisorLog(): string {
    return path.join(this.root, "supervisor.log");
  }
  get supervisorSpec(): string {
    return path.join(this.root, "supervisor.json");
  }
  get disksDir(): string {
    return path.join(this.root, "disks");
  }
  runDir(runId: string): string {
    return path.join(this.root, "runs", runId);
  }

  /** Creates the directory tree with private modes; the socket dir moves to the temp dir when the path is too long. */
  async prepare(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await chmod(this.root, 0o700);
    await mkdir(this.disksDir, { recursive: true, mode: 0o700 });
    if (path.join(this.root, "sock").length <= MAX_SOCKET_DIR) {
      await mkdir(this.socketDir, { recursive: true, mode: 0o700 });
      return;
    }
    const short = path.join(
      os.tmpdir(),
      "nbxen-" + createHash("sha256").update(this.root).digest("hex").slice(0, 16),
    );
    await mkdir(short, { recursive: true, mode: 0o700 });
    await chmod(short, 0o700);
    const existing = await readlink(this.socketDir).catch(() => undefined);
    if (existing !== short) {
      await rm(this.socketDir, { force: true, recursive: true });
      await symlink(short, this.socketDir);
    }
  }

  async readRunInfo(): Promise<RunInfo | undefined> {
    try {
      return JSON.parse(await readFile(this.runFile, "utf8")) as RunInfo;
    } catch {
      return undefined;
    }
  }

  async writeRunInfo(info: RunInfo): Promise<void> {
    const tmp = this.runFile + ".tmp";
    await writeFile(tmp, JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
    await rename(tmp, this.runFile);
  }
}
