/**
 * The table of screens the sysinst driver knows, first match wins (so the order matters: error screens
 * first, prompts before the progress screens they appear on, specific menus before generic ones).
 *
 * Texts are sysinst's own messages: usr.sbin/sysinst/msg.mi.en, menus.mi, configmenu.c, install.c,
 * arch/i386/msg.md.en + menus.md (9.x/10.x); distrib/utils/sysinst/msg.mi.en, menus.mi (NetBSD 6 era);
 * msg.entropy.en (10.x); usr.bin/passwd/local_passwd.c; distrib/amd64/cdroms/install.sh.
 */
import { findItem, hasHitEnter, type ScreenView } from "./screen-text.ts";
import type { ActContext, KnownScreen } from "./types.ts";

/** Message text is matched on the whitespace-normalised screen: msgc re-flows it (see ScreenView.flat). */
const has = (v: ScreenView, re: RegExp): boolean => re.test(v.flat);
const item = (v: ScreenView, re: RegExp): boolean => findItem(v, re) !== undefined;
const YES = /^Yes$/;
const DISK_NAME = /^(?:wd|sd|ld|xbd|dk|raid|cgd|vnd|nvme|ccd)\d+\b/;
/** A kernel autoconf line ("wd0 at atabus0 drive 0", "wd0: <QEMU HARDDISK>"), 10.x's timestamp first. */
const AUTOCONF = /^(?:\[\s*\d+\.\d+\]\s*)?[a-z][a-z0-9_]*\d+(?: at [a-z][a-z0-9_]*\d*\b|: )/m;

function errorScreen(id: string, pattern: RegExp, reason: string): KnownScreen {
  return { id, kind: "error", matches: (v) => has(v, pattern), reason: () => reason };
}

/** A question answered by choosing "Yes" (sysinst's yesno/noyes menus, letters differ between them). */
function yesScreen(id: string, question: RegExp, then?: (ctx: ActContext) => void): KnownScreen {
  return {
    id,
    kind: "act",
    matches: (v) => has(v, question) && item(v, YES),
    act: async (ctx, v) => {
      await ctx.choose(v, YES, id);
      then?.(ctx);
    },
  };
}

/** A line prompt (libmsg `msg_prompt`: "Label [default]: "), answered by accepting the default. */
function defaultPrompt(id: string, label: RegExp): KnownScreen {
  return {
    id,
    kind: "act",
    matches: (v) => label.test(v.last),
    act: (ctx) => ctx.enter(`${id}: accept the default`),
  };
}

const ERRORS: KnownScreen[] = [
  errorScreen("bad-terminal", /Could not initialize menu system/, "sysinst does not know the terminal type"),
  errorScreen("install-script-failed", /Oops, something went wrong/, "the install script gave up"),
  errorScreen("no-disk", /I can not find any hard disks for use by NetBSD/, "sysinst found no hard disk"),
  errorScreen("no-netif", /I can not find any network interfaces/, "sysinst found no network interface"),
  errorScreen("no-sets-cd", /Could not locate a CD medium in any drive/, "no CD with the sets was found"),
  errorScreen(
    "sets-not-on-cd",
    /installation sets have not been found at the default location/,
    "the sets are not on the CD",
  ),
  errorScreen("set-missing", /Release set \S+ does not exist/, "a release set is missing on the medium"),
  errorScreen(
    "unpack-failed",
    /There were problems unpacking distribution sets/,
    "unpacking the sets failed",
  ),
  errorScreen("extract-error", /There was an error in extracting the file/, "extracting a set failed"),
  errorScreen(
    "not-loaded",
    /The distribution was not successfully loaded/,
    "the distribution was not loaded",
  ),
  errorScreen(
    "aborted",
    /Install(?:ation)? aborted\.|Partitioning aborted\./,
    "the installation was aborted",
  ),
  errorScreen("net-down", /There was a problem in setting up the network/, "the network did not come up"),
  errorScreen(
    "command-failed",
    /Status:\s*(?:Command failed|Command ended on signal)/,
    "a command sysinst ran failed",
  ),
  errorScreen("panic", /\bpanic: |(?:^| )Stopped in pid \d+/, "the kernel panicked"),
];

const PROMPTS: KnownScreen[] = [
  {
    // install.sh on the CD: "Terminal type (just hit ENTER for 'vt220'): "; ramdisks: "Terminal type? [vt100]"
    id: "terminal-type",
    kind: "act",
    matches: (v) => /^Terminal type\b.*(?::|\])$/.test(v.last),
    act: (ctx) => ctx.typeLine(ctx.answers.terminalType, "terminal type"),
  },
  {
    id: "retype-password",
    kind: "act",
    matches: (v) => /Retype new password:$/i.test(v.last),
    act: (ctx) => ctx.typeLine(ctx.answers.rootPassword, "root password again", { secret: true }),
  },
  {
    // passwd(1): asked again after "Please enter a longer password." and friends, so react to the prompt.
    id: "new-password",
    kind: "act",
    matches: (v) => /(?:^|[^a-z])New password:$/i.test(v.last) && !/Retype/i.test(v.last),
    act: (ctx) => ctx.typeLine(ctx.answers.rootPassword, "new root password", { secret: true }),
  },
  defaultPrompt("disk-name", /Please enter a name for your NetBSD disk/),
  defaultPrompt("netif-prompt", /Which device shall I use\?/),
  defaultPrompt("net-media", /Network media type/),
  defaultPrompt("dns-domain", /^Your DNS domain/),
  defaultPrompt("host-name", /^Your host name/),
  defaultPrompt("name-server", /^(?:Your name server|IPv4 name server)/),
];

const INSTALL: KnownScreen[] = [
  {
    id: "language",
    kind: "act",
    matches: (v) => item(v, /^Installation messages in English/) && !item(v, /^Install NetBSD to hard disk/),
    act: (ctx, v) => ctx.choose(v, /^Installation messages in English/, "language"),
  },
  {
    id: "keyboard-type",
    kind: "act",
    matches: (v) => has(v, /Keyboard type/) && v.items.length > 1 && !has(v, /Install System/),
    act: (ctx) => ctx.enter("keyboard type: keep the current one"),
  },
  {
    id: "main-menu",
    kind: "act",
    matches: (v) => item(v, /^Install NetBSD to hard disk/) && item(v, /^Reboot the computer/),
    act: async (ctx, v) => {
      if (ctx.state.installDone) {
        await ctx.choose(v, /^Reboot the computer/, "main menu: reboot");
        ctx.state.rebootChosen = true;
      } else {
        await ctx.choose(v, /^Install NetBSD to hard disk/, "main menu: install");
      }
    },
  },
  yesScreen("install-confirm", /You have chosen to install NetBSD on your hard disk/),
  {
    // NetBSD 6 with a single disk (disks.c: "I found only one disk, %s."): no menu, only Enter.
    id: "one-disk",
    kind: "act",
    matches: (v) => has(v, /I found only one disk/) && hasHitEnter(v),
    act: async (ctx, v) => {
      const found = /I found only one disk, ([a-z]+\d+)/.exec(v.flat)?.[1];
      if (found !== ctx.answers.targetDisk)
        ctx.fail(
          `sysinst found only the disk ${found ?? "(unreadable)"}, not the target disk ${ctx.answers.targetDisk}`,
          v,
        );
      await ctx.enter(`the only disk, ${found}`);
    },
  },
  {
    id: "disk-menu",
    kind: "act",
    matches: (v) => has(v, /On which disk do you want to/) && v.items.length > 0,
    act: async (ctx, v) => {
      const want = ctx.answers.targetDisk;
      // Disk items start with a disk device name ("ld0 (8.6G)", "wd0 (8.6G, QEMU HARDDISK)", "wd0").
      const disk = v.items.find((i) => diskNameOf(i.label) === want);
      if (!disk) {
        const listed = v.items.map((i) => `${i.letter}: ${i.label}`).join(" | ");
        return ctx.fail(`the target disk ${want} is not in the disk menu (it lists: ${listed})`, v);
      }
      await ctx.choose(v, new RegExp(`^${escapeRe(disk.label)}$`), `disk ${want}`);
    },
  },
  {
    id: "partition-scheme",
    kind: "act",
    matches: (v) => has(v, /partitioning scheme/) && item(v, /Guid Partition Table|Master Boot Record/),
    act: async (ctx, v) => {
      const wantGpt = (ctx.answers.partitionScheme ?? "gpt") === "gpt";
      const label = wantGpt ? /^Guid Partition Table/ : /^Master Boot Record/;
      if (!findItem(v, label)) ctx.fail(`partitioning scheme ${String(label)} is not offered`, v);
      await ctx.choose(v, label, "partitioning scheme");
    },
  },
  {
    id: "bios-geometry",
    kind: "act",
    matches: (v) => item(v, /^This is the correct geometry/),
    act: (ctx, v) => ctx.choose(v, /^This is the correct geometry/, "BIOS geometry"),
  },
  yesScreen("install-mbr-bootcode", /Do you want to (?:install the NetBSD bootcode|update the bootcode)/),
  yesScreen("overwrite-partition", /Your disk currently has a non-NetBSD partition/),
  {
    id: "mbr-whole-disk",
    kind: "act",
    matches: (v) => item(v, /^Use the entire disk/),
    act: (ctx, v) => ctx.choose(v, /^Use the entire disk/, "use the entire disk"),
  },
  {
    // 9.x/10.x: "Set sizes of NetBSD partitions" / "Use default partition sizes"
    id: "layout-default",
    kind: "act",
    matches: (v) => item(v, /^Use default partition sizes/),
    act: (ctx, v) => ctx.choose(v, /^Use default partition sizes/, "default partition sizes"),
  },
  {
    // NetBSD 6: "Set sizes of NetBSD partitions" / "Use existing partition sizes" (a blank disk has none)
    id: "layout-set-sizes",
    kind: "act",
    flavors: ["netbsd6"],
    matches: (v) => item(v, /^Set sizes of NetBSD partitions/) && item(v, /^Use existing partition sizes/),
    act: (ctx, v) => ctx.choose(v, /^Set sizes of NetBSD partitions/, "set partition sizes"),
  },
  {
    // The sizes editor: accept the proposed sizes ("Accept partition sizes." in 6, "Go on." later)
    id: "partition-sizes",
    kind: "act",
    matches: (v) => item(v, /^(?:Accept partition sizes|Go on)\./),
    act: (ctx, v) => ctx.choose(v, /^(?:Accept partition sizes|Go on)\./, "accept partition sizes"),
  },
  {
    id: "partitions-last-chance",
    kind: "act",
    matches: (v) => has(v, /This is your last chance to change them/) && item(v, /^Partition sizes ok/),
    act: (ctx, v) => ctx.choose(v, /^Partition sizes ok/, "partitions ok"),
  },
  yesScreen("last-chance", /ready to install NetBSD on your hard disk/),
  {
    // consolebaud submenu, drawn over the bootblocks menu: so it is checked first.
    id: "serial-baud",
    kind: "act",
    matches: (v) => item(v, /^9600$/) && item(v, /^115200$/),
    act: async (ctx, v) => {
      const baud = String(ctx.answers.serialBaud);
      if (!findItem(v, new RegExp(`^${baud}$`))) ctx.fail(`serial speed ${baud} is not offered`, v);
      await ctx.choose(v, new RegExp(`^${baud}$`), "serial speed");
    },
  },
  {
    // Reads "Selected bootblock: ..." and changes only what differs from the answers.
    id: "bootblocks",
    kind: "act",
    matches: (v) => has(v, /Bootblocks selection/) && item(v, /^Use serial port com0/),
    act: async (ctx, v) => {
      const selected = /Selected bootblock:\s*(.*)$/m.exec(v.text)?.[1]?.trim() ?? "";
      const baud = ctx.answers.serialBaud;
      if (!/Serial port com0\b/.test(selected)) {
        await ctx.choose(v, /^Use serial port com0/, `bootblocks (was "${selected}")`);
      } else if (!new RegExp(`\\bat ${baud} baud`).test(selected)) {
        await ctx.choose(v, /^Set serial baud rate/, `bootblocks speed (was "${selected}")`);
      } else {
        // 9.x/10.x leave with "x: Continue"; older releases' label differs: any exit-like item.
        await ctx.choose(v, /^(?:Continue|Exit|OK)$/, `bootblocks: keep "${selected}"`);
      }
    },
  },
  {
    id: "distribution",
    kind: "act",
    matches: (v) => item(v, /^Full installation$/) && item(v, /^Minimal installation$/),
    act: async (ctx, v) => {
      const label = {
        full: /^Full installation$/,
        minimal: /^Minimal installation$/,
        custom: /^Custom installation$/,
      }[ctx.answers.sets];
      await ctx.choose(v, label, `distribution: ${ctx.answers.sets}`);
    },
  },
  {
    id: "custom-sets",
    kind: "act",
    matches: (v) => item(v, /^Install selected sets/),
    act: (ctx, v) => ctx.choose(v, /^Install selected sets/, "custom sets: keep the defaults"),
  },
  {
    id: "install-from",
    kind: "act",
    matches: (v) => has(v, /Install from/) && item(v, /^CD-ROM/),
    act: (ctx, v) =>
      ctx.answers.source?.kind === "http"
        ? ctx.choose(v, /^HTTP$/, "install from HTTP")
        : ctx.choose(v, /^CD-ROM/, "install from CD-ROM"),
  },
  {
    // menus.mi ftpsource: src_legend lines ("Host", "Base directory", "Binary set directory" in
    // 9.x/10.x, "Set directory" before), each edited at a "Label [value]: " prompt; exit "Get Distribution".
    id: "http-source",
    kind: "act",
    matches: (v) =>
      has(v, /The following (?:are|is) the \S+ site, directory, user, and password/) &&
      item(v, /^Get Distribution$/),
    act: async (ctx, v) => {
      const src = ctx.answers.source;
      if (src?.kind !== "http")
        return ctx.fail("sysinst asks for an HTTP/FTP source, but the sets are on a CD", v);
      const fields: [RegExp, string][] = [
        [/^Host$/, src.host],
        [/^Base directory$/, src.dir],
        [/^(?:Binary set|Set) directory$/, src.setDir],
      ];
      for (const [label, want] of fields) {
        const it = findItem(v, label);
        if (!it) return ctx.fail(`the HTTP source menu has no item ${String(label)}`, v);
        if (it.value === want) continue;
        await ctx.choose(v, label, `HTTP source: ${it.label} (was "${it.value}")`);
        // The prompt may start with the old value in its field: erase it, then type the new one.
        await ctx.typeLine("\x7f".repeat(it.value.length) + want, `HTTP source: ${it.label}`);
        return;
      }
      await ctx.choose(v, /^Get Distribution$/, "HTTP source: get the distribution");
    },
  },
  {
    // The boot CD and the sets CD: the sets CD is attached after the boot CD, so it is listed last.
    id: "which-cd",
    kind: "act",
    matches: (v) => has(v, /Multiple CDs found/) && item(v, /^cd\d/),
    act: async (ctx, v) => {
      const cds = v.items.filter((i) => /^cd\d/.test(i.label));
      const last = cds[cds.length - 1];
      if (!last) return ctx.fail("no CD in the CD menu", v);
      await ctx.choose(v, new RegExp(`^${escapeRe(last.label)}$`), "sets CD");
    },
  },
  {
    id: "extraction-complete",
    kind: "act",
    matches: (v) =>
      has(v, /The extraction of the selected sets for NetBSD-\S+ is complete/) && hasHitEnter(v),
    act: (ctx) => ctx.enter("extraction complete"),
  },
  {
    // 10.x without a random source: "Not now, continue!" is the exit item of that menu.
    id: "entropy",
    kind: "act",
    matches: (v) => item(v, /^Not now, continue!/),
    act: (ctx, v) => ctx.choose(v, /^Not now, continue!/, "entropy: not now"),
  },
  yesScreen("set-root-password", /Do you want to set a root password for the system now\?/),
  {
    id: "config-menu",
    kind: "act",
    matches: (v) => has(v, /Configure the additional items as needed\./) && item(v, /^Finished configuring/),
    act: configMenu,
  },
  {
    id: "network-interface",
    kind: "act",
    matches: (v) => has(v, /Which network device would you like to use\?/) && v.items.length > 0,
    act: async (ctx, v) => {
      const nic = v.items.find((i) => /^[a-z]+\d+/.test(i.label) && !/^fwip/.test(i.label));
      if (!nic) return ctx.fail("no usable network interface in the menu", v);
      await ctx.choose(v, new RegExp(`^${escapeRe(nic.label)}$`), "network interface");
    },
  },
  {
    id: "ipv6-autoconf",
    kind: "act",
    matches: (v) => has(v, /Perform IPv6 autoconfiguration\?/) && item(v, /^No$/),
    act: (ctx, v) => ctx.choose(v, /^No$/, "no IPv6 autoconfiguration"),
  },
  yesScreen("dhcp", /Perform (?:DHCP )?autoconfiguration\?/),
  yesScreen("network-ok", /Are they OK\?/),
  yesScreen("network-to-etc", /do you want it installed in \/etc\?/, (ctx) => {
    ctx.state.networkDone = true;
  }),
  {
    id: "install-complete",
    kind: "act",
    matches: (v) => has(v, /The installation of NetBSD-\S+ is now complete/) && hasHitEnter(v),
    act: async (ctx) => {
      ctx.state.installDone = true;
      await ctx.enter("installation complete");
    },
  },
  {
    // NetBSD 6's install.c after newfs: msg_display(MSG_disksetupdone) and getchar(), no menu; the
    // message of that era ends "Press <return> to proceed."
    id: "disk-setup-done",
    kind: "act",
    matches: (v) => has(v, /Press <return> to proceed\./) && v.items.length === 0,
    act: (ctx) => ctx.enter("disk setup done"),
  },
  {
    id: "hit-enter",
    kind: "act",
    matches: (v) => hasHitEnter(v),
    act: (ctx, v) =>
      ctx.enter(
        `continue (${
          v.lines
            .find((l) => l.trim())
            ?.trim()
            .slice(0, 60) ?? ""
        })`,
      ),
  },
];

const PASSIVE: KnownScreen[] = [
  {
    // run_program's status window: newfs, set extraction (progress bar), dhcpcd, passwd before its prompt
    id: "running",
    kind: "progress",
    matches: (v) => has(v, /Status:\s*(?:Running|Finished)/) && has(v, /Command:/),
  },
  { id: "blank", kind: "wait", matches: (v) => v.text.trim() === "" },
  {
    // The ftpsource field prompt, answered by the http-source screen as it chose the item.
    id: "source-prompt",
    kind: "wait",
    matches: (v) => /^(?:Host|Base directory|(?:Binary )?[Ss]et directory)(?: \[[^\]]*\])?: /.test(v.last),
  },
  {
    id: "booting",
    kind: "wait",
    matches: (v) =>
      has(
        v,
        /Copyright \(c\) \d{4}|NetBSD \d+\.\d+|>> NetBSD|boot device: |root file system type|booting |\d+\+\d+/,
      ) ||
      has(v, /You are using a serial console/) ||
      // autoconf, once the banner has scrolled away; it may pause for seconds (ATA probing under TCG)
      AUTOCONF.test(v.text),
  },
];

export const KNOWN_SCREENS: readonly KnownScreen[] = [...ERRORS, ...PROMPTS, ...INSTALL, ...PASSIVE];

async function configMenu(ctx: ActContext, v: ScreenView): Promise<void> {
  const { answers, state } = ctx;
  const attempt = (key: string): void => {
    const n = (state.configAttempts[key] ?? 0) + 1;
    state.configAttempts[key] = n;
    if (n > 2) ctx.fail(`config menu: "${key}" did not take effect after ${n - 1} tries`, v);
  };
  const pw = findItem(v, /^Change root password/);
  if (answers.rootPassword !== "" && pw && !/password set/i.test(pw.value)) {
    attempt("root password");
    await ctx.choose(v, /^Change root password/, `config: root password (was "${pw.value}")`);
    return;
  }
  if (answers.network === "dhcp" && !state.networkDone) {
    attempt("network");
    await ctx.choose(v, /^Configure network/, "config: network");
    return;
  }
  const sshd = findItem(v, /^Enable sshd/);
  if (!sshd) ctx.fail("config menu has no sshd item", v);
  const want = answers.sshd ? "YES" : "NO";
  if (sshd.value.toUpperCase() !== want) {
    attempt("sshd");
    await ctx.choose(v, /^Enable sshd/, `config: sshd ${sshd.value || "?"} -> ${want}`);
    return;
  }
  await ctx.choose(v, /^Finished configuring/, "config: finished");
}

/** The device name a disk menu item starts with ("wd0 (8.6G, QEMU HARDDISK)" -> "wd0"), if any. */
export function diskNameOf(label: string): string | undefined {
  return DISK_NAME.exec(label)?.[0];
}

export function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
