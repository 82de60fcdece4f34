/**
 * TEST DOUBLE: a stand-in for qemu-system-x86_64 that plays a NetBSD install over its serial console
 * (its own stdin/stdout, a pty) and offers a minimal QMP socket. It emulates no CPU. See README.md.
 *
 *   node --import tsx specs/doubles/sysinst-sim/fake-qemu.ts <qemu args>
 *
 * Environment: NBXEN_SIM_FLAVOR (netbsd6 | netbsd9plus), NBXEN_SIM_VERSION, NBXEN_SIM_SCENARIO
 * (comma-separated: normal, repaints, shifted-letters, unknown-screen), NBXEN_SIM_SPEED (delay factor),
 * NBXEN_SIM_EXTRACT_MS, NBXEN_SIM_TICK_MS, NBXEN_SIM_REPAINT_HOLD_MS, NBXEN_SIM_LOG (log file).
 */
import {
  appendFileSync,
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { parseQemuArgs, type SimArgs } from "./args.ts";
import { SimGuest, type GuestConfig } from "./guest.ts";
import { SimQmpServer } from "./qmp-server.ts";
import { humanSize, type SimHardware } from "./sysinst-common.ts";
import { SimState, statePathFor } from "./state.ts";
import { InstalledDisk } from "../netbsd/installed.ts";
import { ResetSignal, SimTty } from "./tty.ts";

const VERSION_TEXT =
  "QEMU emulator version 7.2.0 (nbxen sysinst simulator — a test double)\n" +
  "Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n";

function fail(message: string): never {
  process.stderr.write(`qemu-system-x86_64: ${message}\n`);
  process.exit(1);
}

function envNumber(name: string, dflt: number): number {
  const v = process.env[name];
  const n = v === undefined || v === "" ? NaN : Number(v);
  return Number.isFinite(n) ? n : dflt;
}

/** The release: NBXEN_SIM_VERSION, else the boot CD's path (or the installed disk's record) (".../6.1.5/...", "NetBSD-10.1-..."), else a default. */
function releaseOf(args: SimArgs, state: SimState): { flavor: "netbsd6" | "netbsd9plus"; version: string } {
  const envFlavor = process.env.NBXEN_SIM_FLAVOR;
  const fromCd = args.cdroms
    .map((c) => /(?:^|[^\d.])(6\.\d+(?:\.\d+)?|9\.\d+|10\.\d+|11\.\d+)(?![\d])/.exec(c)?.[1])
    .find(Boolean);
  const installed = args.cdroms.length === 0 ? state.data.install?.version : undefined;
  let version = process.env.NBXEN_SIM_VERSION || fromCd || installed;
  let flavor: "netbsd6" | "netbsd9plus" | undefined =
    envFlavor === "netbsd6" || envFlavor === "netbsd9plus" ? envFlavor : undefined;
  if (!flavor && version) flavor = version.startsWith("6.") ? "netbsd6" : "netbsd9plus";
  flavor ??= "netbsd9plus";
  version ??= flavor === "netbsd6" ? "6.1.5" : "10.1";
  return { flavor, version };
}

/** Virtual size of a raw or qcow2 image. */
function imageSize(file: string): number {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(32);
    const n = readSync(fd, head, 0, 32, 0);
    if (n >= 32 && head.toString("latin1", 0, 4) === "QFI\xfb") return Number(head.readBigUInt64BE(24));
    return statSync(file).size;
  } finally {
    closeSync(fd);
  }
}

function hardware(args: SimArgs): SimHardware {
  let ld = 0;
  let wd = 0;
  const disks = args.disks.map((d) => {
    const size = humanSize(imageSize(d.file) || 8_589_934_592);
    if (d.iface === "virtio") {
      const name = `ld${ld++}`;
      return { name, descr: `${name} (${size})` };
    }
    const name = `wd${wd++}`;
    return { name, descr: `${name} (${size}, QEMU HARDDISK)` };
  });
  const cdroms = args.cdroms.map((_, i) => ({ name: `cd${i}`, descr: `cd${i} (QEMU DVD-ROM)` }));
  const nics: string[] = [];
  let vioif = 0;
  let wm = 0;
  for (const d of args.devices) {
    if (/^virtio-net/.test(d)) nics.push(`vioif${vioif++}`);
    else if (/^e1000/.test(d)) nics.push(`wm${wm++}`);
  }
  return { disks, cdroms, nics, rng: args.devices.some((d) => /^virtio-rng/.test(d)) };
}

/**
 * The harness's accelerator probe boots a 512-byte sector that prints a banner on COM1. This double
 * runs no x86 code: for such a tiny bootable image it prints the sector's text and halts.
 */
function probeSector(file: string): string | undefined {
  const st = statSync(file);
  if (st.size > 4096) return undefined;
  const b = readFileSync(file);
  if (b.length < 512 || b[510] !== 0x55 || b[511] !== 0xaa) return undefined;
  return /[ -~]{8,}\r?\n/.exec(b.subarray(0, 510).toString("latin1"))?.[0];
}

/** `-m 2048` or `-m size=2048M`: the guest's memory in MiB. */
function memoryArg(argv: string[]): number {
  const v = argv[argv.indexOf("-m") + 1];
  if (!argv.includes("-m") || !v) return 2048;
  const n = Number.parseInt(/(?:size=)?(\d+)/.exec(v)?.[1] ?? "", 10);
  return Number.isFinite(n) ? (/G/i.test(v) ? n * 1024 : n) : 2048;
}

async function main(): Promise<void> {
  const args = parseQemuArgs(process.argv.slice(2));
  if (args.version) {
    process.stdout.write(VERSION_TEXT);
    return;
  }
  const accel = process.argv[process.argv.indexOf("-accel") + 1];
  if (process.argv.includes("-accel") && accel !== "tcg") {
    // The double emulates no CPU: claiming KVM would make the harness report an accelerator that is not there.
    process.stderr.write(
      `fake-qemu: -accel ${accel}: this test double runs no guest code; only tcg is accepted\n`,
    );
    process.exit(1);
  }
  for (const f of [...args.disks.map((d) => d.file), ...args.cdroms]) {
    if (!existsSync(f)) fail(`-drive file=${f}: Could not open '${f}': No such file or directory`);
  }
  if (args.pidfile) writeFileSync(args.pidfile, `${process.pid}\n`);

  const firstDisk = args.disks[0]?.file;
  const statePath = firstDisk ? statePathFor(path.resolve(firstDisk)) : undefined;
  const logFile = process.env.NBXEN_SIM_LOG || (statePath ? statePath.replace(/\.json$/, ".log") : undefined);
  const log = (line: string): void => {
    if (logFile) appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`);
  };
  const state = new SimState(statePath);
  /** The installed system's disk work; a disk image qemu-img cannot handle is logged, not fatal. */
  const safely = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (error) {
      log(`installed system: ${String(error).split("\n")[0]}`);
      return undefined;
    }
  };
  const { flavor, version } = releaseOf(args, state);
  const speed = envNumber("NBXEN_SIM_SPEED", 1);
  const scenarios = new Set((process.env.NBXEN_SIM_SCENARIO || "normal").split(",").map((s) => s.trim()));
  const cfg: GuestConfig = {
    flavor,
    version,
    scenarios,
    hw: hardware(args),
    extractMs: envNumber("NBXEN_SIM_EXTRACT_MS", 8000 * speed),
    tickMs: envNumber("NBXEN_SIM_TICK_MS", Math.max(50, 250 * speed)),
    repaintHoldMs: envNumber("NBXEN_SIM_REPAINT_HOLD_MS", 700),
    ...(firstDisk ? { disk: path.resolve(firstDisk) } : {}),
    memoryMiB: memoryArg(process.argv),
  };
  log(
    `start: ${flavor} ${version}, scenarios ${[...scenarios].join(",")}, speed ${speed}, args ${process.argv.slice(2).join(" ")}`,
  );

  process.on("SIGINT", () => undefined); // ^C on the console belongs to the guest
  const tty = new SimTty(process.stdin, process.stdout, speed);
  const guest = new SimGuest(tty, cfg, state, log);
  let status: "prelaunch" | "paused" | "running" = args.paused ? "prelaunch" : "running";
  let resume: (() => void) | undefined;
  let resetRequested = false;

  const exit = (code: number): never => {
    // What the installed system wrote is on its disk, as a real disk's writes would be.
    const running = guest.userlandRunning;
    guest.cleanup();
    if (firstDisk) {
      const sys = new InstalledDisk(path.resolve(firstDisk), log);
      if (running) safely(() => sys.sync());
      // The working copy is a cache of what the disk holds: the next boot reads the disk again.
      safely(() => sys.removeWorkingCopy());
    }
    qmp?.close();
    log(`exit ${code}`);
    process.exit(code);
  };
  const qmp = args.qmp
    ? new SimQmpServer(
        args.qmp,
        state,
        {
          status: () => status,
          cont: () => {
            status = "running";
            resume?.();
          },
          stop: () => {
            if (status === "running") status = "paused";
          },
          powerdown: () => {
            // ACPI power button: a running kernel shuts down; the BIOS and the loader ignore it.
            if (!guest.kernelUp) return;
            // powerd(8) runs shutdown -p: the installed system's file system is written back first.
            if (guest.userlandRunning && firstDisk)
              safely(() => new InstalledDisk(path.resolve(firstDisk), log).sync());
            guest.stopShell();
            tty.line("");
            tty.line("powerdown: shutting down");
            tty.line("syncing disks... done");
            tty.line("acpi0: entering state S5");
            setTimeout(() => {
              qmp?.event("SHUTDOWN", { guest: true, reason: "guest-shutdown" });
              setTimeout(() => exit(0), 50);
            }, 50);
          },
          reset: () => {
            resetRequested = true;
            guest.reset();
          },
          quit: () => exit(0),
          savevm: (name) => {
            if (firstDisk && state.data.install)
              safely(() => new InstalledDisk(path.resolve(firstDisk), log).saveSnapshot(name));
          },
          loadvm: (name) => {
            if (!firstDisk || !state.data.install) return;
            const sys = new InstalledDisk(path.resolve(firstDisk), log);
            if (!safely(() => sys.loadSnapshot(name))) return;
            guest.resumeSnapshot = true;
            // A running machine drops what it runs and continues as the snapshot left it.
            if (status === "running") {
              resetRequested = true;
              guest.reset();
            }
          },
          delvm: (name) => {
            if (firstDisk) safely(() => new InstalledDisk(path.resolve(firstDisk), log).deleteSnapshot(name));
          },
        },
        log,
      )
    : undefined;
  process.on("SIGHUP", () => exit(0));
  process.on("SIGTERM", () => exit(0));

  if (status !== "running") {
    await new Promise<void>((r) => (resume = r));
  }
  if (firstDisk && args.firstBoot === "c") {
    const text = probeSector(firstDisk);
    if (text !== undefined) {
      tty.write(text);
      for (;;) await tty.sleep(3_600_000, { unscaled: true });
    }
  }

  let device = args.firstBoot;
  for (;;) {
    let end: "reboot" | "poweroff" = "reboot";
    try {
      end = await guest.boot(device, args.cdroms.length > 0);
    } catch (err) {
      if (!(err instanceof ResetSignal)) throw err;
      log("reset");
    }
    guest.resetPending = false;
    if (end === "poweroff") {
      qmp?.event("SHUTDOWN", { guest: true, reason: "guest-shutdown" });
      exit(0);
    }
    if (!resetRequested && args.noReboot) exit(0);
    resetRequested = false;
    device = args.laterBoots;
    tty.reset();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`nbxen sysinst simulator: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
