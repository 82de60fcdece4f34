/**
 * Pieces both simulated sysinst versions share: run_program's status window, passwd(1), the x86
 * bootblocks menu, set extraction with a progress bar, the config menu loop.
 */
import type { MsgLine, OutputWindow, SysinstUi, UiItem } from "./curses.ts";
import type { InstallRecord } from "./state.ts";
import type { SimTty } from "./tty.ts";

export interface SimHardware {
  /** NetBSD names and sysinst's descriptions: "ld0 (8.6G)", "wd0 (8.6G, QEMU HARDDISK)". */
  disks: { name: string; descr: string }[];
  cdroms: { name: string; descr: string }[];
  /** Network interfaces: vioif0 (virtio-net), wm0 (e1000). */
  nics: string[];
  /** A virtio-rng device is attached (10.x then has entropy and skips the entropy menu). */
  rng: boolean;
}

export interface FlowContext {
  ui: SysinstUi;
  hw: SimHardware;
  version: string;
  /** Real milliseconds the whole set extraction takes, and between two progress updates. */
  extractMs: number;
  tickMs: number;
  record: InstallRecord;
  /** Called when the installation is complete: the disk now boots. */
  installed(record: InstallRecord): void;
  /** The address DHCP leases this machine (slirp gives each new client the next one: .15, .16, ...). */
  leaseIp?: string;
  /**
   * Fetches a set over the network (get_via_ftp), true when the server has it. Only a machine with a
   * network path to a server has it (a domU on the dom0's bridge); without it, HTTP finds nothing.
   */
  fetchSet?: (url: string) => Promise<boolean>;
}

/** passwd(1) as sysinst runs it (local_passwd.c's prompts and its weak-password re-asks). */
export async function passwd(ctx: FlowContext, keepScreen: MsgLine[] = []): Promise<void> {
  await ctx.ui.run(
    "passwd -l root",
    async (out) => {
      out.line("Changing local password for root.");
      let tries = 0;
      for (;;) {
        out.prompt("New password:");
        const pw = await ctx.ui.tty.readLine({ echo: false });
        if (pw === "") {
          out.line("Password unchanged.");
          return;
        }
        if (pw.length <= 5 && ++tries < 2) {
          out.line("Please enter a longer password.");
          continue;
        }
        if (/^[a-z]+$/.test(pw) && ++tries < 2) {
          out.line("Please don't use an all-lower case password.");
          out.line("Unusual capitalization, control characters or digits are suggested.");
          continue;
        }
        out.prompt("Retype new password:");
        const again = await ctx.ui.tty.readLine({ echo: false });
        if (again === pw) {
          ctx.record.rootPassword = pw;
          ctx.ui.log("  passwd: root password set");
          return;
        }
        out.line("Mismatch; try again, EOF to quit.");
      }
    },
    { keepScreen },
  );
}

const GETBOOTTYPE: MsgLine[] = [
  "Would you like to install the normal set of bootblocks or serial bootblocks?",
  "",
  "Normal bootblocks use the BIOS console device as the console",
  "(usually the monitor and keyboard). Serial bootblocks use the first",
  "serial port as the console.",
  "",
];

/** arch/i386 menus.md: getboottype (stays open until exit) and its consolebaud submenu. */
export async function bootblocks(ctx: FlowContext, exitLabel: string): Promise<void> {
  // Booted from boot-com.iso: sysinst starts from the current console, com0 at 9600.
  let consdev = "com0";
  let baud = 9600;
  const describe = (): string =>
    consdev === "pc"
      ? "BIOS console"
      : consdev === "unchanged"
        ? "Unchanged"
        : `Serial port ${consdev} at ${baud} baud`;
  const items: UiItem[] = [
    { label: "Use BIOS console", ok: true },
    { label: "Use serial port com0", ok: true },
    { label: "Use serial port com1", ok: true },
    { label: "Use serial port com2", ok: true },
    { label: "Use serial port com3", ok: true },
    { label: "Set serial baud rate", ok: true },
    { label: "Use existing bootblocks", ok: true },
  ];
  for (;;) {
    const c = await ctx.ui.menu({
      id: "bootblocks",
      msg: [...GETBOOTTYPE, `Selected bootblock: ${describe()}`],
      title: "Bootblocks selection",
      items,
      exit: { label: exitLabel, ok: true },
      cursel: consdev === "pc" ? 0 : Number(consdev.slice(3)) + 1,
    });
    if (c.index === -1) break;
    if (c.index === 0) {
      consdev = "pc";
      break; // this one leaves the menu
    }
    if (c.index === 6) {
      consdev = "unchanged";
      break;
    }
    if (c.index >= 1 && c.index <= 4) consdev = `com${c.index - 1}`;
    if (c.index === 5) {
      const speeds = ["9600", "19200", "38400", "57600", "115200", "BIOS"];
      const s = await ctx.ui.menu({
        id: "serial-baud",
        title: "Set serial baud rate",
        items: speeds.map((label) => ({ label, ok: true })),
        overlay: true,
        cursel: Math.max(0, speeds.indexOf(String(baud))),
      });
      baud = s.item.label === "BIOS" ? 0 : Number(s.item.label);
    }
  }
  ctx.record.consdev = consdev;
  ctx.record.baud = baud;
  ctx.ui.log(`  bootblocks: ${describe()}`);
}

export function setsFor(version: string, choice: InstallRecord["sets"]): string[] {
  const major = Number.parseInt(version, 10);
  const minimal = ["kern-GENERIC", "base", "etc"];
  if (choice === "minimal" || choice === "custom") return minimal;
  const nox = ["kern-GENERIC", "modules", "base", "etc", "comp", "games", "man", "misc", "tests", "text"];
  if (major >= 9) nox.splice(4, 0, "rescue");
  if (major >= 10) nox.push("gpufw", "manhtml");
  return choice === "nox" ? nox : [...nox, "xbase", "xcomp", "xetc", "xfont", "xserver"];
}

/** Set extraction: one run_program window per set, its progress bar moving. */
export async function extractSets(ctx: FlowContext, sets: string[], suffix: string): Promise<void> {
  const perSet = ctx.extractMs / sets.length;
  for (const set of sets) {
    const path = `/mnt2/amd64/binary/sets/${set}${suffix}`;
    await ctx.ui.run(`progress -zf ${path} tar --chroot -xpf -`, async (out: OutputWindow) => {
      const size = 20_000 + set.length * 7_919;
      out.line("");
      const start = Date.now();
      for (;;) {
        const frac = Math.min(1, (Date.now() - start) / Math.max(1, perSet));
        const stars = Math.round(frac * 40);
        const eta = Math.max(0, Math.round((perSet - (Date.now() - start)) / 1000));
        out.rewrite(
          `${String(Math.round(frac * 100)).padStart(3)}% |${"*".repeat(stars)}${" ".repeat(40 - stars)}| ` +
            `${String(Math.round(frac * size)).padStart(7)} KB  ${(size / 1024 / Math.max(perSet / 1000, 0.01)).toFixed(2)} MB/s    ` +
            `00:${String(eta).padStart(2, "0")} ETA`,
        );
        if (frac >= 1) break;
        await ctx.ui.tty.sleep(Math.min(ctx.tickMs, perSet), { unscaled: true });
      }
    });
  }
}

export interface ConfigItem extends UiItem {
  key: "network" | "rootpw" | "sshd" | "other";
}

/** The post-install config menu (configmenu.c): values in a column, loop until "Finished configuring". */
export async function configMenu(
  ctx: FlowContext,
  items: ConfigItem[],
  handlers: { network(): Promise<void>; rootPassword(): Promise<void> },
): Promise<void> {
  const value = (it: ConfigItem): string => {
    if (it.key === "rootpw") return ctx.record.rootPassword ? "password set" : "***EMPTY***";
    if (it.key === "sshd") return ctx.record.sshd ? "YES" : "NO";
    return it.value ?? "";
  };
  for (;;) {
    const c = await ctx.ui.menu({
      id: "config-menu",
      msg: ["Configure the additional items as needed."],
      items: items.map((it) => ({ ...it, value: value(it) })),
      exit: { label: "Finished configuring", ok: true },
      labelWidth: 50,
    });
    if (c.index === -1) return;
    const it = items[c.index]!;
    if (it.key === "network") await handlers.network();
    else if (it.key === "rootpw") await handlers.rootPassword();
    else if (it.key === "sshd") ctx.record.sshd = !ctx.record.sshd;
  }
}

/** The unknown-screen scenario: something the driver has never seen; nothing answers it. */
export async function unknownScreen(ui: SysinstUi): Promise<never> {
  ui.log("scenario unknown-screen: showing a screen no driver knows");
  await ui.menu({
    id: "unknown-screen",
    msg: [
      "Would you like the simulator to ask a question no sysinst ever asked?",
      "(unknown-screen scenario)",
    ],
    title: "An unheard-of question",
    items: [{ label: "Perhaps" }, { label: "Only on Tuesdays" }],
  });
  return ui.offPath("unknown-screen scenario");
}

/**
 * The disks sysinst's disk menu lists: the machine's, and with the `usb-disk-first` scenario a USB
 * stick before them (umass attaches through scsibus, so it is sd0; a USB stick enumerated before the
 * harness's disk is what a real machine may show).
 */
export function listedDisks(ctx: FlowContext): { name: string; descr: string }[] {
  const usb = { name: "sd0", descr: "sd0 (7.5G, SanDisk Cruzer Blade)" };
  return ctx.ui.has("usb-disk-first") ? [usb, ...ctx.hw.disks] : ctx.hw.disks;
}

/**
 * A long command that prints nothing for a while (newfs of a big partition, MAKEDEV all, a big set
 * under TCG): NBXEN_SIM_SILENT_MS real milliseconds of silence under "Status: Running".
 */
export async function silence(ui: SysinstUi): Promise<void> {
  const ms = Number(process.env.NBXEN_SIM_SILENT_MS ?? "0");
  if (ms > 0) {
    ui.log(`  silent for ${ms} ms`);
    await ui.tty.sleep(ms, { unscaled: true });
  }
}

/** humanize_number-like sizes as sysinst shows them ("8.6G"). */
export function humanSize(bytes: number): string {
  const units = ["B", "K", "M", "G", "T"];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 10 ? Math.round(v) : v.toFixed(1)}${units[u]}`;
}

/** The ftpsource menu's defaults (net.c: ftp.xfer_host, ftp.dir, set_dir_bin, xfer_dir). */
interface XferSource {
  host: string;
  dir: string;
  setDir: string;
  srcDir: string;
  user: string;
  password: string;
  proxy: string;
  xferDir: string;
}

/**
 * get_via_ftp(XFER_HTTP): the network is configured first when it is not up, then the ftpsource menu
 * (menus.mi: the src_legend lines "%-35s %.50s", each edited at a "Label [value]: " prompt; its exit
 * item "Get Distribution"), then each set is fetched from http://host/dir/setdir/. A set the server
 * does not have ends the install as a missing set does (notarfile). NetBSD 6's menu
 * (distrib/utils/sysinst/menus.mi) has one "Set directory" and no "Configure network" item;
 * 9.x/10.x's (usr.sbin/sysinst/menus.mi 1.24) a binary and a source set directory.
 */
export async function httpSource(
  ctx: FlowContext,
  sets: string[],
  suffix: string,
  network: () => Promise<void>,
  layout: "netbsd6" | "netbsd9plus",
): Promise<void> {
  const { ui, record, version } = ctx;
  if (record.network !== "dhcp") await network();
  const f: XferSource = {
    host: "ftp.NetBSD.org",
    dir: `pub/NetBSD/NetBSD-${version}`,
    setDir: "/amd64/binary/sets",
    srcDir: "/source/sets",
    user: "ftp",
    password: "",
    proxy: "",
    xferDir: "/usr/INSTALL",
  };
  const editable: readonly (readonly [string, "host" | "dir" | "setDir" | "srcDir"])[] =
    layout === "netbsd6"
      ? [
          ["Host", "host"],
          ["Base directory", "dir"],
          ["Set directory", "setDir"],
        ]
      : [
          ["Host", "host"],
          ["Base directory", "dir"],
          ["Binary set directory", "setDir"],
          ["Source set directory", "srcDir"],
        ];
  for (;;) {
    const c = await ui.menu({
      id: "http-source",
      msg: [
        "The following are the http site, directory, user, and password that",
        'will be used.  If "user" is "ftp", then the password is not needed.',
        "",
      ],
      labelWidth: 35,
      items: [
        ...editable.map(([label, key]) => ({ label, value: f[key], ok: true })),
        { label: "User", value: f.user },
        { label: "Password", value: f.password },
        { label: "Proxy", value: f.proxy },
        { label: "Transfer directory", value: f.xferDir },
        { label: "Delete after install", value: "No" },
        ...(layout === "netbsd6" ? [] : [{ label: "Configure network", ok: true }]),
      ],
      exit: { label: "Get Distribution", ok: true },
      fixedLetters: true,
    });
    if (c.index === -1) break;
    if (c.item.label === "Configure network") {
      await network();
      continue;
    }
    const [label, key] = editable[c.index]!;
    f[key] = await ui.prompt(`http-${key}`, [], label, f[key]);
  }
  const base = `http://${f.host}/${f.dir.replace(/^\/+|\/+$/g, "")}/${f.setDir.replace(/^\/+|\/+$/g, "")}`;
  ui.log(`  http source: ${base}`);
  for (const set of sets) {
    const url = `${base}/${set}${suffix}`;
    const ok = ctx.fetchSet ? await ctx.fetchSet(url) : false;
    ui.log(`  fetch ${url}: ${ok ? "ok" : "failed"}`);
    if (!ok) {
      await ui.run(`/usr/bin/ftp -a ${url}`, async (out) => {
        out.line(`Requesting ${url}`);
        out.line("ftp: Error retrieving file `404 Not Found'");
      });
      await ui.hitEnter("missing-set", [`Release set ${set} does not exist.`]);
      await ui.offPath(`set ${set} not on the HTTP server`);
    }
  }
}

const KNOWN_TERMS = new Set(["vt100", "vt102", "vt220", "xterm", "xterm-color", "ansi", "wsvt25", "screen"]);

/**
 * distrib/amd64/cdroms/install.sh on a serial console (the install ramdisks ask it too): the terminal
 * type, or undefined after the script's complaint when sysinst's curses would not know it.
 */
export async function terminalQuestion(tty: SimTty): Promise<string | undefined> {
  tty.line("");
  tty.line("You are using a serial console, we do not know your terminal emulation.");
  tty.line("Please select one, typical values are:");
  tty.line("");
  tty.line("\tvt100");
  tty.line("\tansi");
  tty.line("\txterm");
  tty.line("");
  tty.write("Terminal type (just hit ENTER for 'vt220'): ");
  const term = (await tty.readLine({ echo: true })).trim() || "vt220";
  if (KNOWN_TERMS.has(term)) return term;
  tty.line("Could not initialize menu system, please check your terminal type.");
  tty.line("Oops, something went wrong - we will try again");
  return undefined;
}

/** What an install has decided before sysinst asks anything. */
export function blankInstallRecord(
  flavor: InstallRecord["flavor"],
  version: string,
  terminal: string,
): InstallRecord {
  return {
    flavor,
    version,
    terminal,
    disk: "",
    scheme: "mbr",
    sets: "minimal",
    consdev: "com0",
    baud: 9600,
    rootPassword: "",
    network: "none",
    sshd: false,
    hostname: "netbsd",
  };
}

/** get_via_cdrom with the boot CD and the sets CD attached: sysinst asks which one holds the sets. */
export async function chooseSetsCd(ctx: FlowContext, noCdMessage: MsgLine[]): Promise<void> {
  const { ui, hw } = ctx;
  if (hw.cdroms.length < 2) {
    await ui.hitEnter("no-sets-cd", noCdMessage);
    await ui.offPath("no CD with the sets");
  }
  await ui.menu({
    id: "which-cd",
    msg: ["Multiple CDs found.  Please select the one containing the install CD."],
    title: "Available CDs ",
    items: hw.cdroms.map((c, i) => ({ label: c.descr, ok: i === hw.cdroms.length - 1 })),
  });
}
