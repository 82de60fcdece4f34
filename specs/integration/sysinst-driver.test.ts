/**
 * The sysinst driver and the boot-loader driver against the sysinst simulator (a TEST DOUBLE of the
 * NetBSD console, specs/doubles/sysinst-sim), run under a real pty: NetBSD's mirrors are out of reach
 * here, so the real installer cannot run. What this proves is the driver's screen handling (letters
 * read from the screen, repaints, progress, unknown screens), not that NetBSD installs.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Console, GuestShell, spawnPtyStream } from "../../harness/console/index.ts";
import { BootLoaderError, bootFromMenu } from "../../harness/boxes/netbsd/bootloader.ts";
import {
  runSysinst,
  SysinstFailedError,
  SysinstTimeoutError,
  UnknownScreenError,
  type SysinstAnswers,
} from "../../harness/boxes/netbsd/sysinst.ts";
import { QmpClient } from "../../harness/machine/qmp.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const SIM = path.resolve(here, "../doubles/sysinst-sim/fake-qemu.ts");

interface Sim {
  console: Console;
  exited: Promise<number>;
  pid: number;
  dir: string;
  qmpSocket: string;
  driverLog: string[];
  kill(): void;
}

interface SimOptions {
  version: string;
  boot: "install" | "disk";
  scenario?: string;
  env?: Record<string, string>;
  rng?: boolean;
  paused?: boolean;
}

/** A fake qcow2 header: enough for the simulator to read the disk's virtual size (8 GiB). */
function makeDisk(file: string): void {
  const h = Buffer.alloc(512);
  h.write("QFI\xfb", 0, "latin1");
  h.writeUInt32BE(3, 4);
  h.writeBigUInt64BE(8n * 1024n ** 3n, 24);
  writeFileSync(file, h);
}

function startSim(dir: string, o: SimOptions): Sim {
  const disk = path.join(dir, "disk.qcow2");
  if (!existsSync(disk)) makeDisk(disk);
  const qmpSocket = path.join(dir, "qmp.sock");
  const args = [
    "-name",
    "nbxen-test",
    "-accel",
    "tcg",
    "-machine",
    "pc",
    "-m",
    "1024",
    "-nodefaults",
    "-display",
    "none",
    "-vga",
    "none",
    "-chardev",
    "stdio,id=con0,signal=off",
    "-serial",
    "chardev:con0",
    "-monitor",
    "none",
    "-qmp",
    `unix:${qmpSocket},server=on,wait=off`,
    "-pidfile",
    path.join(dir, "qemu.pid"),
    "-drive",
    `file=${disk},format=qcow2,if=virtio,index=0,cache=writeback`,
    "-netdev",
    "user,id=net0,ipv6=off",
    "-device",
    "virtio-net-pci,netdev=net0",
  ];
  if (o.paused) args.push("-S");
  if (o.boot === "install") {
    const cdDir = path.join(dir, `NetBSD-${o.version}`, "amd64", "installation", "cdrom");
    mkdirSync(cdDir, { recursive: true });
    const bootIso = path.join(cdDir, "boot-com.iso");
    const setsIso = path.join(dir, "sets.iso");
    writeFileSync(bootIso, "");
    writeFileSync(setsIso, "");
    args.push(
      "-drive",
      `file=${bootIso},format=raw,media=cdrom,if=ide,index=2,readonly=on`,
      "-drive",
      `file=${setsIso},format=raw,media=cdrom,if=ide,index=3,readonly=on`,
      "-boot",
      "once=d",
    );
  } else {
    args.push("-boot", "order=c");
  }
  if (o.rng)
    args.push("-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0");
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    NBXEN_SIM_SPEED: "0.1",
    NBXEN_SIM_SCENARIO: o.scenario ?? "normal",
    NBXEN_SIM_REPAINT_HOLD_MS: "500",
    ...o.env,
  };
  const p = spawnPtyStream(process.execPath, ["--import", "tsx", SIM, ...args], { env, cols: 80, rows: 25 });
  const console = new Console(p.stream, { cols: 80, rows: 25, name: "sim" });
  return {
    console,
    exited: p.exited,
    pid: p.pid,
    dir,
    qmpSocket,
    driverLog: [],
    kill() {
      // SIGTERM lets the simulator clean up (its shell's home); SIGKILL if it does not go.
      try {
        process.kill(p.pid, "SIGTERM");
      } catch {
        /* gone */
      }
      const t = setTimeout(() => {
        try {
          process.kill(p.pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }, 3000);
      void p.exited.then(() => clearTimeout(t));
      console.close();
    },
  };
}

function answers(over: Partial<SysinstAnswers> & Pick<SysinstAnswers, "flavor" | "version">): SysinstAnswers {
  return {
    // startSim attaches one virtio disk: NetBSD's ld0
    targetDisk: "ld0",
    terminalType: "vt100",
    rootPassword: "Nbxen-test1",
    sets: "minimal",
    serialBaud: 115200,
    network: "dhcp",
    sshd: true,
    ...over,
  };
}

/** Driver timings for the simulator's fast clock. */
const FAST = { settleMs: 250, unknownScreenMs: 2000, keyDelayMs: 5, screenTimeoutMs: 20_000 };

function installRecord(dir: string): Record<string, unknown> {
  const state = JSON.parse(readFileSync(path.join(dir, "disk.qcow2.nbxen-sim.json"), "utf8")) as {
    install: Record<string, unknown> | null;
  };
  assert.ok(state.install, "the simulator recorded no completed install");
  return state.install;
}

function simLog(dir: string): string {
  try {
    return readFileSync(path.join(dir, "disk.qcow2.nbxen-sim.log"), "utf8");
  } catch {
    return "";
  }
}

/** Runs `body`; on failure adds the driver's and the simulator's logs to the error. */
async function diagnosed(sim: Sim, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof Error) {
      err.message +=
        `\n--- driver log (tail) ---\n${sim.driverLog.slice(-25).join("\n")}` +
        `\n--- simulator log (tail) ---\n${simLog(sim.dir).split("\n").slice(-25).join("\n")}`;
    }
    throw err;
  }
}

async function login(sim: Sim, password: string): Promise<GuestShell> {
  await sim.console.expect(/login: $/, { timeoutMs: 20_000, description: "login prompt" });
  await sim.console.sendLine("root");
  await sim.console.expect(/Password:/, { timeoutMs: 5000 });
  await sim.console.sendLine(password, { secret: true });
  await sim.console.expect(/# $/, { timeoutMs: 10_000, description: "root prompt" });
  return GuestShell.attach(sim.console, { timeoutMs: 10_000 });
}

describe("sysinst driver against the sysinst simulator (test double)", function () {
  this.timeout(90_000);
  const dirs: string[] = [];
  const sims: Sim[] = [];
  const newDir = (): string => {
    const d = mkdtempSync(path.join(os.tmpdir(), "nbxen-sysinst-"));
    dirs.push(d);
    return d;
  };
  const start = (dir: string, o: SimOptions): Sim => {
    const s = startSim(dir, o);
    sims.push(s);
    return s;
  };
  afterEach(() => {
    for (const s of sims.splice(0)) s.kill();
  });
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("10.x: installs over serial, reboots into the disk, logs in and runs a command; then boots that disk again", async () => {
    const dir = newDir();
    const sim = start(dir, { version: "10.1", boot: "install", paused: true });
    const log = (l: string) => sim.driverLog.push(l);
    await diagnosed(sim, async () => {
      const qmp = await QmpClient.connect(sim.qmpSocket, { timeoutMs: 15_000 });
      assert.equal((await qmp.execute<{ status: string }>("query-status")).status, "prelaunch");
      await qmp.execute("cont");
      await bootFromMenu(sim.console, { timeoutMs: 20_000, log, keyDelayMs: 5 });
      // An all-lower-case password: passwd(1) asks for it twice before "Retype".
      await runSysinst(
        sim.console,
        answers({ flavor: "netbsd9plus", version: "10.1", rootPassword: "nbxensecret" }),
        {
          ...FAST,
          log,
        },
      );
      assert.ok(
        sim.driverLog.some((l) => l.includes("screen entropy")),
        "10.x without a random source shows the entropy menu",
      );
      assert.equal(sim.driverLog.filter((l) => l.includes("screen new-password")).length, 2);
      // fspart, re-flowed by the double as msgc does, was still recognised
      assert.ok(sim.driverLog.includes("screen partitions-last-chance"), sim.driverLog.join("\n"));
      const rec = installRecord(dir);
      assert.equal(rec.version, "10.1");
      assert.equal(rec.terminal, "vt100");
      assert.equal(rec.disk, "ld0");
      assert.equal(rec.scheme, "gpt");
      assert.equal(rec.sets, "minimal");
      assert.equal(rec.consdev, "com0");
      assert.equal(rec.baud, 115200);
      assert.equal(rec.network, "dhcp");
      assert.equal(rec.sshd, true);

      await bootFromMenu(sim.console, {
        entryLabel: /^Boot normally$/,
        timeoutMs: 20_000,
        log,
        keyDelayMs: 5,
      });
      const shell = await login(sim, "nbxensecret");
      assert.deepEqual(await shell.exec("echo ok"), { exitCode: 0, output: "ok\n" });
      assert.equal((await shell.exec("(exit 3)")).exitCode, 3);

      await qmp.hmp("savevm installed");
      assert.match(await qmp.hmp("info snapshots"), /installed/);
      qmp.close();
      await sim.console.sendLine("halt -p");
      assert.equal(await sim.exited, 0);
      assert.match(sim.console.bufferTail(), /entering state S5/);
    });

    // The same disk, booted again: straight to its boot loader; this time through the boot prompt.
    const again = start(dir, { version: "10.1", boot: "disk" });
    await diagnosed(again, async () => {
      const log2 = (l: string) => again.driverLog.push(l);
      await bootFromMenu(again.console, {
        consdev: "com0",
        entryLabel: /^Boot normally$/,
        timeoutMs: 20_000,
        log: log2,
        keyDelayMs: 5,
      });
      assert.ok(again.driverLog.some((l) => l.includes("consdev com0")));
      const shell = await login(again, "nbxensecret");
      assert.equal((await shell.exec("echo again")).output, "again\n");
    });
  });

  it("6.1.5: installs through the no-menu boot loader, the keyboard menu and 6.x's order of screens", async () => {
    const dir = newDir();
    const sim = start(dir, { version: "6.1.5", boot: "install" });
    const log = (l: string) => sim.driverLog.push(l);
    await diagnosed(sim, async () => {
      await bootFromMenu(sim.console, { timeoutMs: 20_000, log, keyDelayMs: 5 });
      await runSysinst(sim.console, answers({ flavor: "netbsd6", version: "6.1.5", serialBaud: 9600 }), {
        ...FAST,
        log,
      });
      const rec = installRecord(dir);
      assert.equal(rec.flavor, "netbsd6");
      assert.equal(rec.scheme, "mbr");
      assert.equal(rec.baud, 9600);
      assert.equal(rec.network, "dhcp");
      assert.ok(sim.driverLog.some((l) => l.includes("screen keyboard-type")));
      assert.ok(sim.driverLog.some((l) => l.includes("screen one-disk")));
      await bootFromMenu(sim.console, { timeoutMs: 20_000, log, keyDelayMs: 5 });
      const shell = await login(sim, "Nbxen-test1");
      assert.equal((await shell.exec("echo ok")).output, "ok\n");
    });
  });

  it("picks the right items when every menu gains an extra item and screens are repainted", async () => {
    const dir = newDir();
    const sim = start(dir, {
      version: "9.3",
      boot: "install",
      scenario: "repaints,shifted-letters",
      rng: true,
    });
    const log = (l: string) => sim.driverLog.push(l);
    await diagnosed(sim, async () => {
      await bootFromMenu(sim.console, { timeoutMs: 20_000, log, keyDelayMs: 5 });
      await runSysinst(
        sim.console,
        answers({ flavor: "netbsd9plus", version: "9.3", partitionScheme: "mbr", sets: "full", sshd: false }),
        { ...FAST, log },
      );
      const rec = installRecord(dir);
      assert.equal(rec.scheme, "mbr");
      assert.equal(rec.sets, "full");
      assert.equal(rec.sshd, false);
      assert.equal(rec.baud, 115200);
      // The menus really were shifted: the main menu's install item was "b", not "a".
      assert.ok(
        sim.driverLog.some((l) => /main menu: install: b \(/.test(l)),
        sim.driverLog.join("\n"),
      );
      assert.ok(!simLog(dir).includes("OFF PATH"));
      // Repainted screens were seen again and not answered twice.
      assert.ok(
        sim.driverLog.some((l) => / again: already answered$/.test(l)),
        "no repaint was seen",
      );
      assert.equal(sim.driverLog.filter((l) => l === "screen main-menu").length, 2);
    });
  });

  it("survives a set extraction longer than its per-screen timeout because progress extends it", async () => {
    const dir = newDir();
    const sim = start(dir, {
      version: "6.1.5",
      boot: "install",
      env: { NBXEN_SIM_EXTRACT_MS: "4500", NBXEN_SIM_TICK_MS: "150" },
    });
    const log = (l: string) => sim.driverLog.push(l);
    await diagnosed(sim, async () => {
      await bootFromMenu(sim.console, { timeoutMs: 20_000, log, keyDelayMs: 5 });
      await runSysinst(sim.console, answers({ flavor: "netbsd6", version: "6.1.5" }), {
        ...FAST,
        screenTimeoutMs: 1500,
        log,
      });
      // The simulator's extraction (3 sets) lasted 4.5 s by construction, three times the timeout.
      assert.equal(installRecord(dir).sets, "minimal");
    });
  });

  it("stops with UnknownScreenError, showing the screen, when sysinst shows something unknown", async () => {
    const dir = newDir();
    const sim = start(dir, { version: "10.1", boot: "install", scenario: "unknown-screen" });
    const log = (l: string) => sim.driverLog.push(l);
    await bootFromMenu(sim.console, { timeoutMs: 20_000, log, keyDelayMs: 5 });
    const began = Date.now();
    const err = await runSysinst(sim.console, answers({ flavor: "netbsd9plus", version: "10.1" }), {
      ...FAST,
      screenTimeoutMs: 60_000,
      log,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof UnknownScreenError, `expected UnknownScreenError, got ${String(err)}`);
    assert.match(err.screen, /An unheard-of question/);
    assert.match(err.message, /Only on Tuesdays/);
    assert.equal(err.lastKnown, "language");
    // Fails fast: long before the 60 s screen timeout.
    assert.ok(Date.now() - began < 30_000);
  });

  it("10.x: installs on the harness's disk when the disk menu lists a USB stick first", async () => {
    const dir = newDir();
    const sim = start(dir, { version: "10.1", boot: "install", scenario: "usb-disk-first", rng: true });
    const log = (l: string) => sim.driverLog.push(l);
    await diagnosed(sim, async () => {
      await bootFromMenu(sim.console, { timeoutMs: 20_000, log, keyDelayMs: 5 });
      await runSysinst(sim.console, answers({ flavor: "netbsd9plus", version: "10.1" }), { ...FAST, log });
      // sd0 was item a; ld0, the disk the simulator was given, item b
      assert.ok(
        sim.driverLog.some((l) => /disk ld0: b \(ld0 \(/.test(l)),
        sim.driverLog.join("\n"),
      );
      assert.equal(installRecord(dir).disk, "ld0");
    });
  });

  it("fails naming the disk menu's entries when the target disk is not listed", async () => {
    const dir = newDir();
    const sim = start(dir, { version: "9.3", boot: "install", scenario: "usb-disk-first", rng: true });
    const log = (l: string) => sim.driverLog.push(l);
    await bootFromMenu(sim.console, { timeoutMs: 20_000, log, keyDelayMs: 5 });
    const err = await runSysinst(
      sim.console,
      answers({ flavor: "netbsd9plus", version: "9.3", targetDisk: "wd0" }),
      { ...FAST, log },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof SysinstFailedError, String(err));
    assert.match(err.reason, /the target disk wd0 is not in the disk menu/);
    assert.match(err.reason, /a: sd0 \(7\.5G, SanDisk Cruzer Blade\) \| b: ld0 \(8\.6G\) \| c: Extended/);
    assert.match(err.screen, /Available disks/);
    // nothing was chosen in that menu
    assert.ok(!sim.driverLog.some((l) => /^ {2}disk \S+: [a-z] \(/.test(l)), sim.driverLog.join("\n"));
    assert.ok(!simLog(dir).includes("disk-menu: activated"), simLog(dir));
  });

  it("6.1.5: picks the target among several disks, answers disksetupdone, outlasts a silent newfs", async () => {
    const dir = newDir();
    const sim = start(dir, {
      version: "6.1.5",
      boot: "install",
      scenario: "usb-disk-first,disksetupdone-getchar",
      env: { NBXEN_SIM_SILENT_MS: "3000" },
    });
    const log = (l: string) => sim.driverLog.push(l);
    await diagnosed(sim, async () => {
      await bootFromMenu(sim.console, { timeoutMs: 20_000, log, keyDelayMs: 5 });
      await runSysinst(sim.console, answers({ flavor: "netbsd6", version: "6.1.5" }), {
        ...FAST,
        screenTimeoutMs: 1500, // newfs is silent for twice that
        log,
      });
      assert.equal(installRecord(dir).disk, "ld0");
      assert.ok(sim.driverLog.includes("screen disk-menu"));
      assert.ok(sim.driverLog.includes("screen disk-setup-done"), sim.driverLog.join("\n"));
      assert.ok(simLog(dir).includes("silent for 3000 ms"));
    });
  });

  it("stops a command silent for longer than its bound, showing the status window", async () => {
    const dir = newDir();
    const sim = start(dir, {
      version: "10.1",
      boot: "install",
      rng: true,
      env: { NBXEN_SIM_SILENT_MS: "600000" },
    });
    const log = (l: string) => sim.driverLog.push(l);
    await bootFromMenu(sim.console, { timeoutMs: 20_000, log, keyDelayMs: 5 });
    const err = await runSysinst(sim.console, answers({ flavor: "netbsd9plus", version: "10.1" }), {
      ...FAST,
      screenTimeoutMs: 1500,
      silenceTimeoutMs: 4000,
      log,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof SysinstTimeoutError, String(err));
    assert.equal(err.timeoutMs, 4000);
    assert.equal(err.lastKnown, "last-chance");
    assert.match(err.message, /\/sbin\/newfs .*showed no output and no progress within 4\.0s/);
    assert.match(err.screen, /Status: Running/);
  });

  it("reports a missing boot menu entry with the entries it saw", async () => {
    const dir = newDir();
    makeDisk(path.join(dir, "disk.qcow2"));
    writeFileSync(
      path.join(dir, "disk.qcow2.nbxen-sim.json"),
      JSON.stringify({
        install: {
          flavor: "netbsd9plus",
          version: "10.1",
          terminal: "vt100",
          disk: "ld0",
          scheme: "gpt",
          sets: "minimal",
          consdev: "com0",
          baud: 115200,
          rootPassword: "",
          network: "none",
          sshd: false,
          hostname: "netbsd",
        },
        snapshots: [],
      }),
    );
    const sim = start(dir, { version: "10.1", boot: "disk" });
    const err = await bootFromMenu(sim.console, {
      entryLabel: /^Xen$/,
      timeoutMs: 20_000,
      keyDelayMs: 5,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof BootLoaderError, String(err));
    assert.deepEqual(
      err.entries.map((e) => e.label),
      ["Boot normally", "Boot single user", "Disable ACPI", "Disable ACPI and SMP", "Drop to boot prompt"],
    );
  });
});
