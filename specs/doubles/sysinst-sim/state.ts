/**
 * What the simulated disk "contains": a JSON file next to the first disk image. An install writes what
 * was chosen (so tests can check the answers, and a later boot from that disk goes to the installed
 * system); savevm/loadvm keep their snapshots in the same file.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

export interface InstallRecord {
  flavor: "netbsd6" | "netbsd9plus";
  version: string;
  terminal: string;
  disk: string;
  scheme: "gpt" | "mbr";
  sets: "full" | "nox" | "minimal" | "custom";
  /** Console of the installed bootblocks: "com0".."com3", "pc" (BIOS console), "unchanged". */
  consdev: string;
  baud: number;
  rootPassword: string;
  network: "dhcp" | "none";
  sshd: boolean;
  hostname: string;
}

export interface SnapshotRecord {
  name: string;
  date: string;
  install: InstallRecord | null;
}

export interface SimStateData {
  install: InstallRecord | null;
  snapshots: SnapshotRecord[];
}

export function statePathFor(disk: string): string {
  return `${disk}.nbxen-sim.json`;
}

export class SimState {
  data: SimStateData = { install: null, snapshots: [] };

  constructor(readonly path: string | undefined) {
    if (path && existsSync(path)) {
      this.data = { ...this.data, ...(JSON.parse(readFileSync(path, "utf8")) as Partial<SimStateData>) };
    }
  }

  save(): void {
    if (!this.path) return;
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.data, null, 2) + "\n");
    renameSync(tmp, this.path);
  }
}
