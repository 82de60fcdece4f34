/**
 * TEST DOUBLE of the NetBSD domUs a dom0 runs (see README.md): what Xen and xenconsoled do for them.
 * A domain is the record `xl create` writes in the dom0's /var/run/nbxen/xl/; while it exists, the
 * domain runs here, in the simulator, with a console of its own. `xl console NAME` (the xl double)
 * asks for that console with NAME.console and waits; the domain's console then owns the serial line
 * until ^] (Xen's tools/xl console escape), as xenconsoled's pty does. What a domain prints while no
 * console is attached is kept (the last 16 KiB) and shown to the next one, as xenconsoled buffers it.
 *
 * The domU boots its kernel: INSTALL_XEN3_DOMU runs the install ramdisk (the terminal question, then
 * the same simulated sysinst as the CD, on the disk xbd0, with the sets over HTTP through the dom0's
 * bridge); XEN3_DOMU boots the system sysinst left on xbd0 (a header on the domU's disk file), runs
 * dhcpcd on xennet0 and shows a login. Behind its `# ` runs the host's /bin/sh, fed through a line
 * discipline here, with the domU's own few commands (domu-bin/) first on its PATH.
 */
import { spawn, type ChildProcess } from "node:child_process";
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import { PassThrough, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { SysinstUi } from "../sysinst-sim/curses.ts";
import { consoleLogin } from "../sysinst-sim/login.ts";
import { sysinst6 } from "../sysinst-sim/screens-netbsd6.ts";
import { sysinst9plus } from "../sysinst-sim/screens-netbsd9plus.ts";
import { blankInstallRecord, terminalQuestion, type FlowContext } from "../sysinst-sim/sysinst-common.ts";
import type { InstallRecord } from "../sysinst-sim/state.ts";
import { ResetSignal, SimTty } from "../sysinst-sim/tty.ts";
import { guestIds, type InstalledDisk } from "./installed.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DISK_MAGIC = "NBXENDU1";
const ESCAPE = "\x1d";
/** How much of a domain's console output is kept for the next `xl console` (xenconsoled's buffer). */
const CONSOLE_BUFFER = 16384;

export interface DomUSimOptions {
  /** The dom0's main serial line. */
  tty: SimTty;
  sys: InstalledDisk;
  /** The dom0's release: its INSTALL_XEN3_DOMU and XEN3_DOMU kernels are of the same release. */
  version: string;
  flavor: "netbsd6" | "netbsd9plus";
  extractMs: number;
  tickMs: number;
  repaintHoldMs: number;
  log: (line: string) => void;
}

interface DomainRecord {
  name: string;
  domid: number;
  memory: string;
  ident: string;
  /** The disk file as the dom0 names it (/home/xen/dom1.img). */
  disk: string;
  bridge: string;
}

/** What sysinst left on a domU's disk, or undefined: the header the double writes at its start. */
export function readDomUInstall(file: string): InstallRecord | undefined {
  if (!existsSync(file)) return undefined;
  const fd = openSync(file, "r");
  try {
    const b = Buffer.alloc(4096);
    const n = readSync(fd, b, 0, b.length, 0);
    const text = b.subarray(0, n).toString("latin1");
    if (!text.startsWith(`${DISK_MAGIC} `)) return undefined;
    return JSON.parse(text.slice(DISK_MAGIC.length + 1, text.indexOf("\n"))) as InstallRecord;
  } finally {
    closeSync(fd);
  }
}

function writeDomUInstall(file: string, r: InstallRecord): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, Buffer.from(`${DISK_MAGIC} ${JSON.stringify(r)}\n`), 0, undefined, 0);
  } finally {
    closeSync(fd);
  }
}

/** The domains of one dom0 boot: polled from the dom0's userland loop (boot.ts). */
export class DomUHost {
  private readonly domains = new Map<string, DomU>();
  private attached: DomU | undefined;
  private first = true;

  constructor(private readonly o: DomUSimOptions) {}

  private get xlDir(): string {
    return path.join(this.o.sys.root, "var/run/nbxen/xl");
  }

  /** A path of the dom0's file system, as the simulator sees it. */
  guestPath(rel: string): string {
    return path.join(this.o.sys.root, rel.replace(/^\/+/, ""));
  }

  poll(): void {
    const records = this.records();
    for (const r of records) {
      const d = this.domains.get(r.name);
      if (d && d.domid === r.domid) continue;
      d?.stop();
      // A snapshot resumes with its domains already up (their lease kept in NAME.ip).
      const resumed = this.first && existsSync(path.join(this.xlDir, `${r.name}.ip`));
      const domain = new DomU(r, this, this.o, resumed);
      this.domains.set(r.name, domain);
      domain.start();
    }
    this.first = false;
    for (const [name, d] of this.domains)
      if (!records.some((r) => r.name === name && r.domid === d.domid)) {
        if (this.attached === d) this.detach();
        d.stop();
        this.domains.delete(name);
      }
    if (this.attached && !existsSync(path.join(this.xlDir, `${this.attached.name}.console`))) this.detach();
    if (!this.attached)
      for (const d of this.domains.values())
        if (existsSync(path.join(this.xlDir, `${d.name}.console`))) {
          this.attach(d);
          break;
        }
  }

  /** The dom0's userland ended (reboot, power-off): its domains end with it. */
  stopAll(): void {
    if (this.attached) this.detach();
    for (const d of this.domains.values()) d.stop();
    this.domains.clear();
  }

  /** The domain's address lease, where the dom0's ping and the harness find it. */
  setLease(name: string, ip: string | undefined): void {
    const f = path.join(this.xlDir, `${name}.ip`);
    if (ip === undefined) rmSync(f, { force: true });
    else if (existsSync(path.join(this.xlDir, name))) writeFileSync(f, `${ip}\n`);
  }

  /** The vif is on a bridge that has the dom0's wm0 on it: the domU reaches slirp's network. */
  onNetwork(bridge: string): boolean {
    if (!bridge) return false;
    const members = this.guestPath(`var/run/nbxen/if/${bridge}.members`);
    return existsSync(members) && readFileSync(members, "utf8").split("\n").includes("wm0");
  }

  /** Output of the attached domain reaches the serial line. */
  isAttached(d: DomU): boolean {
    return this.attached === d;
  }

  /** A domain ended by itself (halt, power-off): Xen destroys it, xl list no longer shows it. */
  ended(d: DomU): void {
    if (this.attached === d) this.detach();
    rmSync(path.join(this.xlDir, d.name), { force: true });
    this.setLease(d.name, undefined);
    this.domains.delete(d.name);
  }

  private attach(d: DomU): void {
    const { tty, log } = this.o;
    this.attached = d;
    log(`domU ${d.name}: console attached`);
    tty.attach();
    tty.divert = (data) => {
      const at = data.indexOf(ESCAPE);
      if (at < 0) {
        d.input.write(data, "latin1");
        return;
      }
      if (at > 0) d.input.write(data.slice(0, at), "latin1");
      // What follows ^] in the same read is dropped, not handed to the dom0's shell.
      this.detach();
    };
    d.attached();
  }

  private detach(): void {
    const d = this.attached;
    if (!d) return;
    const { tty, log } = this.o;
    this.attached = undefined;
    tty.divert = undefined;
    rmSync(path.join(this.xlDir, `${d.name}.console`), { force: true });
    tty.detach();
    log(`domU ${d.name}: console detached`);
  }

  private records(): DomainRecord[] {
    if (!existsSync(this.xlDir)) return [];
    const out: DomainRecord[] = [];
    for (const name of readdirSync(this.xlDir)) {
      if (name.startsWith(".") || name.includes(".")) continue;
      let text: string;
      try {
        text = readFileSync(path.join(this.xlDir, name), "utf8");
      } catch {
        continue;
      }
      const v = Object.fromEntries(
        text
          .split("\n")
          .map((l) => /^(\w+)=(.*)$/.exec(l))
          .filter((m): m is RegExpExecArray => m !== null)
          .map((m) => [m[1]!, m[2]!]),
      );
      const domid = Number(v["domid"]);
      if (!Number.isFinite(domid)) continue;
      out.push({
        name,
        domid,
        memory: v["memory"] ?? "",
        ident: v["ident"] ?? "",
        disk: v["disk"] ?? "",
        bridge: v["bridge"] ?? "",
      });
    }
    return out;
  }
}

class DomU {
  readonly input = new PassThrough();
  readonly name: string;
  readonly domid: number;
  private readonly tty: SimTty;
  private running = true;
  private shell: ChildProcess | undefined;
  private readonly ip: string;
  /** What the domain printed with no console attached, as xenconsoled keeps it for the next client. */
  private pending = "";

  constructor(
    private readonly rec: DomainRecord,
    private readonly host: DomUHost,
    private readonly o: DomUSimOptions,
    private readonly resumed: boolean,
  ) {
    this.name = rec.name;
    this.domid = rec.domid;
    // slirp's DHCP server gives each new client (a new MAC: xl gives each domain its own) the next address.
    this.ip = `10.0.2.${15 + rec.domid}`;
    const out = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        const text = chunk.toString("latin1");
        if (!this.running) return cb();
        if (host.isAttached(this)) o.tty.write(text);
        else this.pending = (this.pending + text).slice(-CONSOLE_BUFFER);
        cb();
      },
    });
    this.tty = new SimTty(
      this.input as unknown as NodeJS.ReadStream,
      out as unknown as NodeJS.WriteStream,
      o.tty.speed,
    );
  }

  start(): void {
    this.o.log(
      `domU ${this.name}: domid ${this.domid}, kernel ${this.rec.ident}${this.resumed ? " (resumed)" : ""}`,
    );
    void this.run().catch((error: unknown) => {
      if (error instanceof ResetSignal || !this.running) return;
      this.o.log(`domU ${this.name}: ${error instanceof Error ? error.stack : String(error)}`);
    });
  }

  stop(): void {
    this.running = false;
    this.shell?.kill("SIGKILL");
    this.shell = undefined;
    this.tty.reset();
  }

  /** A console was attached: it shows what the domain printed since the last one left. */
  attached(): void {
    const text = this.pending;
    this.pending = "";
    if (text) this.o.tty.write(text);
  }

  private get diskFile(): string {
    return this.host.guestPath(this.rec.disk);
  }

  private async run(): Promise<void> {
    const { tty } = this;
    if (this.resumed) {
      const install = readDomUInstall(this.diskFile);
      if (install) return this.loginLoop(install);
    }
    // sys/kern/init_main.c's version banner and the first attachments (xenbus, xbd, xennet).
    tty.line(`NetBSD ${this.o.version} (${this.rec.ident}) #0: (nbxen installed-NetBSD test double)`);
    tty.line(`total memory = ${this.rec.memory || "128"} MB`);
    tty.line("hypervisor0 at mainbus0: Xen version (nbxen double)");
    tty.line("xenbus0 at hypervisor0: Xen Virtual Bus Interface");
    tty.line(`xbd0 at xenbus0 id 0: Xen Virtual Block Device Interface`);
    tty.line("xennet0 at xenbus0 id 0: Xen Virtual Network Interface");
    await tty.sleep(200);
    if (this.rec.ident === "INSTALL_XEN3_DOMU") return this.installer();
    const install = readDomUInstall(this.diskFile);
    if (!install) {
      // No file system on xbd0a: the kernel cannot mount its root and asks for one.
      tty.line("xbd0: no disk label");
      tty.line("boot device: xbd0");
      tty.write("root device (default xbd0a): ");
      for (;;) await tty.readLine({ echo: true });
    }
    tty.line("root on xbd0a dumps on xbd0b");
    tty.line("Starting root file system check:");
    tty.line("/dev/rxbd0a: file system is clean; not checking");
    await tty.sleep(200);
    if (install.network === "dhcp") {
      tty.line("Starting dhcpcd.");
      if (this.host.onNetwork(this.rec.bridge)) {
        await tty.sleep(300);
        this.host.setLease(this.name, this.ip);
        this.o.log(`domU ${this.name}: xennet0 leased ${this.ip}`);
      } else this.o.log(`domU ${this.name}: xennet0 has no network (vif not on a bridge with wm0)`);
    }
    if (install.sshd) tty.line("Starting sshd.");
    tty.line("Starting cron.");
    return this.loginLoop(install);
  }

  /** The install ramdisk: distrib/amd64's install.sh question, then sysinst on xbd0; on reboot, again. */
  private async installer(): Promise<void> {
    const { tty, o } = this;
    tty.line("root on md0a dumps on md0b");
    for (;;) {
      const term = await terminalQuestion(tty);
      if (term === undefined) continue; // install.sh asks again
      const record = blankInstallRecord(o.flavor, o.version, term);
      const ui = new SysinstUi(tty, {
        scenarios: new Set(),
        log: (l) => o.log(`domU ${this.name}: ${l}`),
        repaintHoldMs: o.repaintHoldMs,
      });
      const flow: FlowContext = {
        ui,
        hw: {
          disks: [{ name: "xbd0", descr: `xbd0 (${this.diskSize()})` }],
          cdroms: [],
          nics: ["xennet0"],
          rng: false,
        },
        version: o.version,
        extractMs: o.extractMs,
        tickMs: o.tickMs,
        record,
        leaseIp: this.ip,
        fetchSet: (url) => this.fetchSet(url),
        installed: (r) => {
          writeDomUInstall(this.diskFile, r);
          o.log(
            `domU ${this.name}: installed on ${this.rec.disk}: ${JSON.stringify({ ...r, rootPassword: r.rootPassword ? "(set)" : "" })}`,
          );
        },
      };
      if (o.flavor === "netbsd6") await sysinst6(flow);
      else await sysinst9plus(flow);
      // "Reboot the computer": the domain restarts with the same configuration (on_reboot="restart").
      tty.write("\x1b[H\x1b[2J");
      tty.line("rebooting...");
      await tty.sleep(300);
      tty.line(`NetBSD ${o.version} (${this.rec.ident}) #0: (nbxen installed-NetBSD test double)`);
      tty.line("root on md0a dumps on md0b");
    }
  }

  private diskSize(): string {
    try {
      const mib = Math.round(statSync(this.diskFile).size / 1048576);
      return mib >= 1024 ? `${(mib / 1024).toFixed(1)}G` : `${mib}M`;
    } catch {
      return "0M";
    }
  }

  /** A set over HTTP from the domU: only through the bridge; 10.0.2.2 is slirp's way to the host. */
  private async fetchSet(url: string): Promise<boolean> {
    if (!this.host.onNetwork(this.rec.bridge)) return false;
    const hostUrl = url.replace(/^http:\/\/10\.0\.2\.2(?=[:/])/, "http://127.0.0.1");
    try {
      const res = await fetch(hostUrl);
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    }
  }

  private async loginLoop(install: InstallRecord): Promise<void> {
    for (;;) {
      await consoleLogin(this.tty, {
        hostname: install.hostname,
        rootPassword: install.rootPassword,
        version: install.version,
        kernel: "XEN3_DOMU",
        ttyName: "console",
      });
      if ((await this.runShell(install)) === "halt") {
        this.tty.line("syncing disks... done");
        this.running = false;
        this.host.ended(this);
        return;
      }
    }
  }

  /**
   * The host's /bin/sh behind the domU's prompt, its input through a line discipline here (echo, erase,
   * kill, CR to NL) since the serial line is the dom0's. Ends with the shell, or "halt" when the domU's
   * shutdown/halt asked for it.
   */
  private async runShell(install: InstallRecord): Promise<"halt" | undefined> {
    const ctl = this.host.guestPath(`var/run/nbxen/xl/.${this.name}.power`);
    rmSync(ctl, { force: true });
    // A session of its own and +m: the shell must never take the dom0's terminal (job control would
    // make it the terminal's foreground group, and the simulator's reads would fail with EIO).
    const sh = spawn("/bin/sh", ["+m", "-i"], {
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
      cwd: "/",
      env: {
        PATH: `${path.join(HERE, "domu-bin")}:/usr/bin:/bin`,
        PS1: "# ",
        ENV: "",
        HOME: "/",
        LANG: "C",
        TERM: install.terminal,
        NBXEN_DOMU_NAME: this.name,
        NBXEN_DOMU_IP: this.host.onNetwork(this.rec.bridge) && install.network === "dhcp" ? this.ip : "",
        NBXEN_DOMU_MAC: `00:16:3e:00:00:${this.domid.toString(16).padStart(2, "0")}`,
        NBXEN_DOMU_RELEASE: install.version,
        NBXEN_DOMU_HOSTNAME: install.hostname,
        NBXEN_DOMU_POWER: ctl,
      },
      ...guestIds(),
    });
    this.shell = sh;
    const print = (d: Buffer) => this.tty.write(d.toString("latin1").replace(/\r?\n/g, "\r\n"));
    sh.stdout.on("data", print);
    sh.stderr.on("data", print);
    const ended = new Promise<void>((resolve) => sh.once("exit", () => resolve()));
    let line = "";
    let done = false;
    void ended.then(() => {
      done = true;
      this.tty.reset();
    });
    try {
      while (!done) {
        const k = await this.tty.key();
        if (k === "\r" || k === "\n") {
          this.tty.write("\r\n");
          sh.stdin.write(`${line}\n`);
          line = "";
        } else if (k === "\x7f" || k === "\b") {
          if (line) {
            line = line.slice(0, -1);
            this.tty.write("\b \b");
          }
        } else if (k === "\x15") {
          this.tty.write("\b \b".repeat(line.length));
          line = "";
        } else if (k === "\x04" && line === "") {
          sh.stdin.end();
        } else if (k.length === 1 && k >= " ") {
          line += k;
          this.tty.write(k);
        }
      }
    } catch (error) {
      if (!(error instanceof ResetSignal) || (this.running && !done)) throw error;
    }
    this.shell = undefined;
    return existsSync(ctl) ? "halt" : undefined;
  }
}
