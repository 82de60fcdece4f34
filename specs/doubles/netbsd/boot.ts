/**
 * TEST DOUBLE of booting an installed NetBSD disk (see README.md): the boot loader reads /boot.cfg from
 * the disk, boots /netbsd or, from a `multiboot` entry, Xen with the dom0 kernel `load` queued; the
 * kernel prints its messages and finds its root; then init runs /etc/rc and the console login.
 */
import type { ChildProcess } from "node:child_process";
import { gunzipSync } from "node:zlib";
import { SimBootLoader, type BootCfg, type BootChoice } from "../sysinst-sim/bootloader-sim.ts";
import type { SimHardware } from "../sysinst-sim/sysinst-common.ts";
import type { SimTty } from "../sysinst-sim/tty.ts";
import { DomUHost } from "./domu.ts";
import type { InstalledDisk, InstalledRecord } from "./installed.ts";

export type BootEnd = "reboot" | "poweroff";

/**
 * boot.cfg as the loader parses it (sys/arch/i386/stand/lib/bootmenu.c parsebootconf): one `key=value`
 * per line, a line starting with `#` is a comment; `menu=Label:cmd;cmd` (a menu line without `:` is
 * dropped); `default=` is 1-based; `timeout=` a number of seconds (non-numeric: wait for a key);
 * `banner=` lines; `consdev=` sets the console before the menu shows.
 */
export function parseBootCfgText(text: string): BootCfg & { consdev?: string } {
  const cfg: BootCfg & { consdev?: string } = { banner: [], menu: [], default: 1, timeout: 10 };
  for (const raw of text.split("\n")) {
    const line = raw.replace(/^[ \t]+/, "").replace(/\r$/, "");
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    switch (key) {
      case "menu": {
        const c = value.indexOf(":");
        if (c < 0) break;
        const label = value.slice(0, c);
        const command = value.slice(c + 1);
        cfg.menu.push({ label: label || command, command });
        break;
      }
      case "banner":
        cfg.banner.push(value);
        break;
      case "default":
        cfg.default = Number.parseInt(value, 10) || 1;
        break;
      case "timeout":
        cfg.timeout = /^\d/.test(value) ? Number.parseInt(value, 10) : -1;
        break;
      case "consdev":
        cfg.consdev = value;
        break;
      default:
        break;
    }
  }
  if (cfg.default < 1 || cfg.default > cfg.menu.length) cfg.default = 1;
  return cfg;
}

function identOf(image: Buffer | undefined): { kind: "xen" | "kernel"; ident: string } | undefined {
  if (!image) return undefined;
  let text: string;
  try {
    text = gunzipSync(image).toString("latin1");
  } catch {
    text = image.toString("latin1");
  }
  const x = /^NBXEN-DOUBLE-XEN version=(\S+)/.exec(text);
  if (x) return { kind: "xen", ident: x[1]! };
  const k = /^NBXEN-DOUBLE-KERNEL ident=(\S+)/.exec(text);
  return k ? { kind: "kernel", ident: k[1]! } : undefined;
}

export interface DiskBoot {
  tty: SimTty;
  sys: InstalledDisk;
  rec: InstalledRecord;
  hw: SimHardware;
  loaderRevision: string;
  memoryMiB: number;
  resume: boolean;
  log: (line: string) => void;
  /** The running userland, so a machine reset can end it. */
  setChild(child: ChildProcess | undefined): void;
  /** How the simulated sysinst of a domU's installer runs (the CD's settings). */
  installer: { flavor: "netbsd6" | "netbsd9plus"; extractMs: number; tickMs: number; repaintHoldMs: number };
}

const hang = async (tty: SimTty): Promise<never> => {
  for (;;) await tty.sleep(3_600_000);
};

export async function bootInstalled(b: DiskBoot): Promise<BootEnd> {
  const { tty, sys, rec } = b;
  const major = Number.parseInt(rec.version, 10);
  let underXen = false;
  if (b.resume) {
    b.log("disk boot: resuming a snapshot (its console was at a root shell)");
    underXen = /XEN3_DOM0/.test(sys.file("var/run/nbxen/boot.env")?.toString() ?? "");
  } else {
    const cfgText = sys.file("boot.cfg")?.toString("utf8");
    const cfg = cfgText !== undefined ? parseBootCfgText(cfgText) : undefined;
    const consdev = cfg?.consdev ?? rec.consdev;
    // The bootblocks' console (sysinst's choice, or boot.cfg's consdev): anything but com0 never reaches this line.
    tty.muted = consdev !== "com0" && consdev !== "unchanged" && consdev !== "auto";
    if (tty.muted) b.log(`disk boot: console is ${consdev}, the serial line stays silent`);
    const loader = new SimBootLoader(tty, {
      revision: b.loaderRevision,
      release: rec.version,
      device: "hd0a",
      ...(cfg ? { bootcfg: cfg } : {}),
      files: { exists: (p) => sys.file(p.replace(/^\/+/, "")) !== undefined },
    });
    const choice = await loader.run();
    b.log(
      `loader: ${choice.multiboot ? `multiboot ${choice.multiboot.path} ${choice.multiboot.args}` : `boot ${choice.kernel}`}`,
    );
    underXen = choice.multiboot !== undefined;
    if (choice.multiboot) await bootXen(b, choice, major);
    else await bootNative(b, choice, major);
  }
  // The userland owns the terminal (cooked mode) until it ends.
  tty.detach();
  const child = sys.startInit(b.resume ? "resume" : "boot", rec.terminal);
  b.setChild(child);
  // Under Xen the dom0 can create domUs: they run beside its userland (domu.ts).
  const domUs = underXen
    ? new DomUHost({ tty, sys, version: rec.version, ...b.installer, log: b.log })
    : undefined;
  const action = await new Promise<string | undefined>((resolve) => {
    const timer = setInterval(() => {
      domUs?.poll();
      const a = sys.powerRequest();
      if (a) {
        clearInterval(timer);
        resolve(a);
      }
    }, 100);
    child.once("exit", (code, signal) => {
      b.log(`userland: init exited (${signal ?? `status ${code}`})`);
      clearInterval(timer);
      resolve(sys.powerRequest());
    });
  });
  domUs?.stopAll();
  if (child.exitCode === null) child.kill("SIGKILL");
  b.setChild(undefined);
  if (tty.isDetached) tty.attach();
  b.log(`userland ended${action ? ` with ${action}` : ""}`);
  tty.muted = false;
  tty.line("");
  tty.line("syncing disks... done");
  sys.sync();
  if (action === "poweroff") {
    tty.line("unmounting done");
    tty.line(underXen ? "(XEN) Hardware Dom0 halted: halting machine" : "acpi0: entering state S5");
    return "poweroff";
  }
  if (action === "halt") {
    tty.line("");
    tty.line("The operating system has halted.");
    tty.line("Please press any key to reboot.");
    await tty.key();
    return "reboot";
  }
  tty.line("rebooting...");
  if (underXen) tty.line("(XEN) Hardware Dom0 shutdown: rebooting machine");
  return "reboot";
}

function diskLines(b: DiskBoot, dom0: boolean): string[] {
  const out: string[] = [];
  for (const d of b.hw.disks)
    out.push(`${d.name} at atabus0 drive 0`, `${d.name}: ${d.descr.replace(/^\S+ /, "")}`);
  const first = b.hw.disks[0]?.name ?? "wd0";
  if (b.rec.scheme === "gpt") {
    out.push(`dk0 at ${first}: "root", 16760832 blocks at 2048, type: ffs`);
    out.push(`dk1 at ${first}: "swap", 4194304 blocks at 16762880, type: swap`);
  }
  if (dom0) {
    // Xen hands the dom0 no boot device (no bootinfo from the BIOS loader): the kernel picks the first
    // disk, and on a disk with wedges (GPT) its first wedge.
    out.push("boot device: <unknown>");
  } else {
    out.push(`boot device: ${first}`);
  }
  out.push(b.rec.scheme === "gpt" ? "root on dk0 dumps on dk1" : `root on ${first}a dumps on ${first}b`);
  out.push("root file system type: ffs");
  return out;
}

async function printAll(tty: SimTty, lines: string[], delay = 15): Promise<void> {
  for (const l of lines) {
    tty.line(l);
    await tty.sleep(delay);
  }
}

async function bootNative(b: DiskBoot, choice: BootChoice, major: number): Promise<void> {
  const { tty, sys, rec } = b;
  const file = (choice.kernel.split(/\s+/)[0] ?? "netbsd").replace(/^\/+/, "");
  const id = identOf(sys.file(file));
  if (!id || id.kind !== "kernel") {
    tty.line(`open ${file}: ${id ? "Inappropriate file type or format" : "No such file or directory"}`);
    return hang(tty);
  }
  const banner = `NetBSD ${rec.version} (${id.ident}) #0: (nbxen installed-NetBSD test double)`;
  await printAll(tty, [
    `${7_000_000 + major * 123_457}+${600_000 + major * 101}+${500_000 + major * 99}=0x${(0xa00000 + major * 4096).toString(16)}`,
    "Copyright (c) 1996, 1997, 1998, 1999, 2000, 2001, 2002, 2003, 2004, 2005,",
    "    The NetBSD Foundation, Inc.  All rights reserved.",
    "",
    banner,
    `total memory = ${b.memoryMiB} MB`,
    "mainbus0 (root)",
    "com0 at isa0 port 0x3f8-0x3ff irq 4: ns16550a, working fifo",
    "com0: console",
    ...diskLines(b, false),
    ...b.hw.nics.map((n) => `${n}: Ethernet address 52:54:00:12:34:56`),
  ]);
  sys.coldBootRuntime(
    {
      RELEASE: rec.version,
      KERNEL_IDENT: id.ident,
      KERNEL_BANNER: banner,
      KERNEL_VERSION: `NetBSD ${rec.version} (${id.ident}) #0`,
      ROOT_DEV: rec.scheme === "gpt" ? "dk0" : "wd0a",
    },
    {},
  );
}

async function bootXen(b: DiskBoot, choice: BootChoice, major: number): Promise<void> {
  const { tty, sys, rec } = b;
  const mb = choice.multiboot!;
  const xen = identOf(sys.file(mb.path.replace(/^\/+/, "")));
  if (!xen || xen.kind !== "xen") {
    tty.line(`${mb.path}: not a Multiboot kernel`);
    return hang(tty);
  }
  const dom0mem = Number(/dom0_mem=(\d+)M/.exec(mb.args)?.[1] ?? b.memoryMiB - 64);
  // Xen's console= (xen-command-line: default com1,vga); its output reaches this UART only via com1.
  const xenSerial = !/\bconsole=/.test(mb.args) || /\bconsole=\S*com1/.test(mb.args);
  const xenLines = [
    ` Xen ${xen.ident}`,
    `(XEN) Xen version ${xen.ident} (nbxen test double) (gcc) debug=n`,
    `(XEN) Command line: ${mb.path} ${mb.args}`,
    "(XEN) Video information:",
    "(XEN) Disc information:",
    `(XEN) System RAM: ${b.memoryMiB}MB (${b.memoryMiB * 1024}kB)`,
    "(XEN) *** LOADING DOMAIN 0 ***",
  ];
  tty.muted = !xenSerial;
  await printAll(tty, xenLines);
  const mod = mb.modules[0];
  const dom0 = mod ? identOf(sys.file(mod.path.replace(/^\/+/, ""))) : undefined;
  if (!mod || !dom0 || dom0.kind !== "kernel" || !/XEN3_DOM0|XEN3PAE_DOM0/.test(dom0.ident)) {
    await printAll(tty, [
      mod
        ? `(XEN) Xen kernel: ${mod.path} is not a Xen dom0 kernel (no Xen ELF notes)`
        : "(XEN) No dom0 kernel (no module loaded)",
      "(XEN) ",
      "(XEN) ****************************************",
      "(XEN) Panic on CPU 0:",
      "(XEN) Could not set up DOM0 guest OS",
      "(XEN) ****************************************",
    ]);
    return hang(tty);
  }
  await printAll(tty, [
    `(XEN) Dom0 has maximum ${dom0mem}MB of memory`,
    "(XEN) Scrubbing Free RAM: done.",
    "(XEN) *** Serial input to DOM0 (type 'CTRL-a' three times to switch input)",
    "(XEN) Freed 628kB init memory",
  ]);
  // sys/arch/xen/x86/consinit.c: console=pc puts the dom0 on VGA; otherwise on the Xen console.
  tty.muted = !xenSerial || /\bconsole=pc\b/.test(mod.args);
  const banner = `NetBSD ${rec.version} (${dom0.ident}) #0: (nbxen installed-NetBSD test double)`;
  await printAll(tty, [
    "Copyright (c) 1996, 1997, 1998, 1999, 2000, 2001, 2002, 2003, 2004, 2005,",
    "    The NetBSD Foundation, Inc.  All rights reserved.",
    "",
    banner,
    `total memory = ${dom0mem} MB`,
    "mainbus0 (root)",
    `hypervisor0 at mainbus0: Xen version ${xen.ident}`,
    "vcpu0 at hypervisor0",
    "xenbus0 at hypervisor0: Xen Virtual Bus Interface",
    "xencons0 at hypervisor0: Xen Virtual Console Driver",
    "xenevt: Xen event channel interface",
    ...diskLines(b, true),
    ...b.hw.nics.map((n) => `${n}: Ethernet address 52:54:00:12:34:56`),
  ]);
  const virtCaps = major === 6 ? "" : "pv";
  sys.coldBootRuntime(
    {
      RELEASE: rec.version,
      KERNEL_IDENT: dom0.ident,
      KERNEL_BANNER: banner,
      KERNEL_VERSION: `NetBSD ${rec.version} (${dom0.ident}) #0`,
      ROOT_DEV: rec.scheme === "gpt" ? "dk0" : "wd0a",
      XEN_VERSION: xen.ident,
      XEN_CMDLINE: mb.args,
      DOM0_MEM: String(dom0mem),
      TOTAL_MEM: String(b.memoryMiB),
      VIRT_CAPS: virtCaps,
    },
    { "xen/privcmd": "", "xen/xenbus": "" },
    xenLines.slice(1).join("\n") + "\n",
  );
}
