/**
 * TEST DOUBLE of a NetBSD guest on a serial console: boots the install CD (loader, kernel messages,
 * the CD's "Terminal type" question, sysinst) or the installed disk (loader, kernel, `login:`). Behind
 * the `# ` prompt runs the HOST's /bin/sh, as an unprivileged user, never NetBSD's shell.
 */
import { spawn, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { SimBootLoader, bootCdCfg, installedCfg } from "./bootloader-sim.ts";
import { SysinstUi } from "./curses.ts";
import { consoleLogin } from "./login.ts";
import { sysinst6 } from "./screens-netbsd6.ts";
import { sysinst9plus } from "./screens-netbsd9plus.ts";
import {
  blankInstallRecord,
  terminalQuestion,
  type FlowContext,
  type SimHardware,
} from "./sysinst-common.ts";
import type { InstallRecord, SimState } from "./state.ts";
import { ResetSignal, type SimTty } from "./tty.ts";
import { bootInstalled } from "../netbsd/boot.ts";
import { guestIds, InstalledDisk } from "../netbsd/installed.ts";

export interface GuestConfig {
  flavor: "netbsd6" | "netbsd9plus";
  version: string;
  scenarios: ReadonlySet<string>;
  hw: SimHardware;
  extractMs: number;
  tickMs: number;
  repaintHoldMs: number;
  /** The first disk image: the installed system lives on it (../netbsd/installed.ts). */
  disk?: string;
  memoryMiB?: number;
}

export type BootEnd = "reboot" | "poweroff";

export class SimGuest {
  private shell: ChildProcess | undefined;
  private home: string | undefined;
  /** The kernel is running (ACPI power button works); false in the BIOS and the boot loader. */
  kernelUp = false;
  /** Set by a machine reset; checked where no tty wait would notice it (the shell). */
  resetPending = false;
  /** Set by loadvm: the next boot resumes the snapshot's running system instead of booting. */
  resumeSnapshot = false;
  private userland: ChildProcess | undefined;

  get userlandRunning(): boolean {
    return this.userland !== undefined && this.userland.exitCode === null;
  }

  constructor(
    private readonly tty: SimTty,
    private readonly cfg: GuestConfig,
    private readonly state: SimState,
    private readonly log: (line: string) => void,
  ) {}

  private get major(): number {
    return Number.parseInt(this.cfg.version, 10);
  }

  /** One boot from `device` until the guest reboots or powers off. */
  async boot(device: "c" | "d", hasCd: boolean): Promise<BootEnd> {
    this.kernelUp = false;
    if (device === "d" && hasCd) return this.bootInstallCd();
    const install = this.state.data.install;
    if (!install) {
      this.tty.line("No bootable device.");
      for (;;) await this.tty.sleep(3_600_000);
    }
    if (this.cfg.disk) {
      const sys = new InstalledDisk(this.cfg.disk, this.log);
      const resume = this.resumeSnapshot;
      this.resumeSnapshot = false;
      if (resume || sys.tryLoad()) {
        const rec = sys.record();
        if (rec) {
          this.kernelUp = true;
          return bootInstalled({
            tty: this.tty,
            sys,
            rec,
            hw: this.cfg.hw,
            loaderRevision: this.loaderRevision(),
            memoryMiB: this.cfg.memoryMiB ?? 2048,
            resume,
            log: this.log,
            setChild: (c) => (this.userland = c),
            installer: {
              flavor: this.cfg.flavor,
              extractMs: this.cfg.extractMs,
              tickMs: this.cfg.tickMs,
              repaintHoldMs: this.cfg.repaintHoldMs,
            },
          });
        }
      }
    }
    return this.bootDisk(install);
  }

  /** A machine reset: whatever runs now is abandoned. */
  reset(): void {
    this.resetPending = true;
    this.stopShell();
    this.tty.reset();
  }

  /** Ends the shell child, if any (reset, power off, exit). */
  stopShell(): void {
    if (this.shell && this.shell.exitCode === null) this.shell.kill("SIGKILL");
    this.shell = undefined;
    if (this.userland && this.userland.exitCode === null) this.userland.kill("SIGKILL");
    this.userland = undefined;
    if (this.tty.isDetached) this.tty.attach();
  }

  cleanup(): void {
    this.stopShell();
    if (this.home) rmSync(this.home, { recursive: true, force: true });
  }

  private async bootInstallCd(): Promise<BootEnd> {
    const { tty, cfg } = this;
    const loader = new SimBootLoader(tty, {
      revision: this.loaderRevision(),
      release: cfg.version,
      device: "cd0a",
      // NetBSD 6's boot-com.iso is taken as having no boot.cfg menu (see README): the no-menu path.
      ...(cfg.flavor === "netbsd9plus" ? { bootcfg: bootCdCfg(cfg.version) } : {}),
    });
    const choice = await loader.run();
    this.log(`loader: booting ${choice.kernel} from the CD`);
    await this.kernel("INSTALL", choice.kernel);
    await tty.sleep(300);
    tty.line("");
    const term = await terminalQuestion(tty);
    this.log(`install.sh: TERM=${term ?? "(unknown)"}`);
    if (term === undefined) for (;;) await tty.sleep(3_600_000);
    const record = blankInstallRecord(cfg.flavor, cfg.version, term);
    const ui = new SysinstUi(tty, {
      scenarios: cfg.scenarios,
      log: this.log,
      repaintHoldMs: cfg.repaintHoldMs,
    });
    const flow: FlowContext = {
      ui,
      hw: cfg.hw,
      version: cfg.version,
      extractMs: cfg.extractMs,
      tickMs: cfg.tickMs,
      record,
      installed: (r) => {
        this.state.data.install = { ...r };
        this.state.save();
        if (cfg.disk) {
          try {
            new InstalledDisk(cfg.disk, this.log).create(r);
          } catch (error) {
            // Not an image qemu-io can write (a test's bare qcow2 header): the older host-shell path boots it.
            this.log(`installed system not written to ${cfg.disk}: ${String(error).split("\n")[0]}`);
          }
        }
        this.log(`installed: ${JSON.stringify({ ...r, rootPassword: r.rootPassword ? "(set)" : "" })}`);
      },
    };
    if (cfg.flavor === "netbsd6") await sysinst6(flow);
    else await sysinst9plus(flow);
    // menus.mi: "Reboot the computer" runs /sbin/reboot -q after endwin()
    tty.write("\x1b[H\x1b[2J");
    tty.line("rebooting...");
    this.log("sysinst: reboot");
    await tty.sleep(300);
    return "reboot";
  }

  private async bootDisk(install: InstallRecord): Promise<BootEnd> {
    const { tty } = this;
    // The installed bootblocks' console: anything but com0 never reaches this serial line.
    tty.muted = install.consdev !== "com0" && install.consdev !== "unchanged";
    if (tty.muted) this.log(`disk boot: console is ${install.consdev}, the serial line stays silent`);
    const loader = new SimBootLoader(tty, {
      revision: this.loaderRevision(),
      release: install.version,
      device: install.disk === "" ? "hd0a" : "hd0a",
      bootcfg: installedCfg(Number.parseInt(install.version, 10)),
    });
    const choice = await loader.run();
    this.log(`loader: booting ${choice.kernel} from the disk`);
    await this.kernel("GENERIC", choice.kernel);
    tty.line("Starting root file system check:");
    tty.line("/dev/rdk0: file system is clean; not checking");
    await tty.sleep(150);
    if (install.network === "dhcp") tty.line("Starting dhcpcd.");
    if (install.sshd) tty.line("Starting sshd.");
    tty.line("Starting cron.");
    tty.line(`${new Date().toUTCString()}`);
    return this.loginLoop(install);
  }

  private async loginLoop(install: InstallRecord): Promise<BootEnd> {
    const { tty } = this;
    for (;;) {
      await consoleLogin(tty, {
        hostname: install.hostname,
        rootPassword: install.rootPassword,
        version: install.version,
        kernel: "GENERIC",
        ttyName: "constty",
        log: this.log,
      });
      const end = await this.runShell(install);
      if (end) return end;
    }
  }

  /** The host's /bin/sh on this terminal, as an unprivileged user; halt/poweroff/reboot are stubs. */
  private async runShell(install: InstallRecord): Promise<BootEnd | undefined> {
    const home = this.prepareHome();
    const ctl = path.join(home, ".power");
    rmSync(ctl, { force: true });
    const ids = guestIds();
    this.tty.detach();
    // +m: no job control, so the shell never takes the terminal's foreground process group from us.
    const child = spawn("/bin/sh", ["+m", "-i"], {
      stdio: "inherit",
      cwd: home,
      env: {
        PATH: `${path.join(home, ".sim-bin")}:/usr/bin:/bin`,
        HOME: home,
        PS1: "# ",
        ENV: "",
        TERM: install.terminal,
        LANG: "C",
        NBXEN_SIM_POWER: ctl,
      },
      ...ids,
    });
    this.shell = child;
    this.log(`shell: host /bin/sh pid ${child.pid}${ids.uid !== undefined ? ` as uid ${ids.uid}` : ""}`);
    const action = await new Promise<string | undefined>((resolve) => {
      const timer = setInterval(() => {
        if (existsSync(ctl)) {
          clearInterval(timer);
          resolve(readFileSync(ctl, "utf8").trim());
        }
      }, 100);
      child.once("exit", () => {
        clearInterval(timer);
        resolve(existsSync(ctl) ? readFileSync(ctl, "utf8").trim() : undefined);
      });
    });
    this.stopShell();
    if (this.resetPending) throw new ResetSignal();
    this.log(`shell: ended${action ? ` with ${action}` : ""}`);
    if (!action) return undefined;
    this.tty.line("");
    this.tty.line("syncing disks... done");
    if (action === "reboot") {
      this.tty.line("rebooting...");
      return "reboot";
    }
    if (action === "poweroff") {
      this.tty.line("unmounting done");
      this.tty.line("acpi0: entering state S5");
      return "poweroff";
    }
    this.tty.line("");
    this.tty.line("The operating system has halted.");
    this.tty.line("Please press any key to reboot.");
    this.tty.line("");
    await this.tty.key();
    return "reboot";
  }

  /** Kernel and early userland messages (illustrative, not a transcript of a real boot). */
  private async kernel(config: string, how: string): Promise<void> {
    const { tty, cfg } = this;
    tty.line(
      `${7_000_000 + this.major * 123_457}+${600_000 + this.major * 101}+${500_000 + this.major * 99} [${700_000 + this.major}+${690_000}]=0x${(0xa00000 + this.major * 4096).toString(16)}`,
    );
    await tty.sleep(200);
    this.kernelUp = true;
    const year = this.major >= 10 ? 2024 : this.major >= 9 ? 2020 : 2014;
    const lines = [
      "Copyright (c) 1996, 1997, 1998, 1999, 2000, 2001, 2002, 2003, 2004, 2005,",
      `    2006, 2007, 2008, 2009, 2010, 2011, 2012, 2013, 2014, ... ${year}`,
      "    The NetBSD Foundation, Inc.  All rights reserved.",
      "Copyright (c) 1982, 1986, 1989, 1991, 1993",
      "    The Regents of the University of California.  All rights reserved.",
      "",
      `NetBSD ${cfg.version} (${config}) #0: (nbxen sysinst simulator)`,
      "total memory = 1023 MB",
      "avail memory = 980 MB",
      "mainbus0 (root)",
      "cpu0 at mainbus0 apid 0",
      "com0 at isa0 port 0x3f8-0x3ff irq 4: ns16550a, working fifo",
      "com0: console",
      ...cfg.hw.disks.map((d) => `${d.name}: ${d.descr.replace(/^\S+ /, "")}`),
      ...cfg.hw.cdroms.map(
        (c) => `${c.name} at atapibus0 drive ${c.name.slice(2)}: <QEMU DVD-ROM> cdrom removable`,
      ),
      ...cfg.hw.nics.map((n) => `${n}: Ethernet address 52:54:00:12:34:56`),
      `boot device: ${config === "INSTALL" ? "cd0" : (cfg.hw.disks[0]?.name ?? "wd0")}`,
      config === "INSTALL"
        ? "root on md0a dumps on md0b"
        : `root on ${cfg.hw.disks[0]?.name ?? "wd0"}a dumps on ${cfg.hw.disks[0]?.name ?? "wd0"}b`,
      "root file system type: ffs",
    ];
    if (/ -\S*s/.test(` ${how}`)) lines.push("(single user requested: ignored by the simulator)");
    for (const l of lines) {
      tty.line(l);
      await tty.sleep(25);
    }
  }

  private loaderRevision(): string {
    return this.major >= 9 ? "5.11" : "5.9";
  }

  private prepareHome(): string {
    if (this.home) return this.home;
    sweepStaleHomes();
    // In the system temp dir (readable by "nobody"); the pid in the name lets a later run remove it
    // should this process be killed before its cleanup.
    const home = mkdtempSync(path.join(os.tmpdir(), `${HOME_PREFIX}${process.pid}-`));
    const bin = path.join(home, ".sim-bin");
    mkdirSync(bin);
    // Power commands record what was asked and wait to be killed; they never reach the host.
    const stub = (action: string) =>
      `#!/bin/sh\n# nbxen sysinst simulator: ${action} stub\n` +
      `a=${action}\ncase "$a $*" in *" -p"*|poweroff*) a=poweroff ;; *" -r"*) a=reboot ;; esac\n` +
      `echo "$a" > "$NBXEN_SIM_POWER"\nsleep 30\n`;
    for (const [name, action] of [
      ["halt", "halt"],
      ["poweroff", "poweroff"],
      ["shutdown", "halt"],
      ["reboot", "reboot"],
    ] as const) {
      writeFileSync(path.join(bin, name), stub(action), { mode: 0o755 });
    }
    chmodSync(home, 0o777);
    this.home = home;
    return home;
  }
}

const HOME_PREFIX = "nbxen-sim-home-";

/** Removes shell homes left by simulators that were killed (their pid is gone). */
function sweepStaleHomes(): void {
  for (const name of readdirSync(os.tmpdir())) {
    const m = new RegExp(`^${HOME_PREFIX}(\\d+)-`).exec(name);
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export { ResetSignal };
