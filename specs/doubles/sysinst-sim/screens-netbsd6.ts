/**
 * TEST DOUBLE. The sysinst of NetBSD 6 (distrib/utils/sysinst), reduced to the path an unattended
 * install over a serial console takes. Message texts come from NetBSD's sources (see README.md for
 * the files, their revisions, and which 6.x details could not be checked against the 6.1.5 files).
 * The order differs from 9.x/10.x: the distribution is chosen before the disk is partitioned.
 */
import type { MsgLine, UiItem } from "./curses.ts";
import {
  bootblocks,
  chooseSetsCd,
  configMenu,
  extractSets,
  httpSource,
  listedDisks,
  passwd,
  silence,
  setsFor,
  unknownScreen,
  type ConfigItem,
  type FlowContext,
} from "./sysinst-common.ts";

const hello = (v: string): MsgLine[] => [
  `NetBSD/amd64 ${v}`,
  "",
  "This menu-driven tool is designed to help you install NetBSD to a hard",
  "disk, or upgrade an existing NetBSD system, with a minimum of work. ",
  "In the following menus type the reference letter (a, b, c, ...) to",
  "select an item, or type CTRL+N/CTRL+P to select the next/previous item. ",
  "The arrow keys and Page-up/Page-down may also work. ",
  "Activate the current selection from the menu by typing the enter key.",
];

const LANGUAGES: UiItem[] = [
  { label: "Installation messages in English", ok: true },
  { label: "Installation auf Deutsch" },
  { label: "Mensajes de instalacion en castellano" },
  { label: "Messages d'installation en français" },
  { label: "Komunikaty instalacyjne w jezyku polskim" },
];

const INSTALLUSURE: MsgLine[] = [
  "You have chosen to install NetBSD on your hard disk.  This will change",
  "information on your hard disk.  You should have made a full backup",
  "before this procedure!  This procedure will do the following things:",
  "\ta) Partition your disk",
  "\tb) Create new BSD file systems",
  "\tc) Load and install distribution sets",
  "\td) Some initial system configuration",
  "",
  "(After you enter the partition information but before your disk is",
  "changed, you will have the opportunity to quit this procedure.)",
  "",
  "Shall we continue?",
];

const DISTSET: MsgLine[] = [
  "The NetBSD distribution is broken into a collection of distribution",
  "sets.  There are some basic sets that are needed by all installations",
  "and there are some other sets that are not needed by all installations.",
  "You may choose to install a core set (Minimal installation), all of them",
  "(Full installation) or you select from the optional distribution sets.",
];

const onebiosmatch = (sectors: number): MsgLine[] => [
  "This disk matches the following BIOS disk:",
  "",
  { table: "BIOS # cylinders heads sectors total sectors  GB" },
  { table: "------ --------- ----- ------- ------------- ---" },
  {
    table: `  0x80      1023   255      63 ${String(sectors).padStart(13)} ${String(Math.round((sectors * 512) / 2 ** 30)).padStart(3)}`,
  },
  "",
  "Note: since sysinst was able to uniquely match the disk you chose with a disk",
  "known to the BIOS, the values displayed above are very likely correct, and",
  "should not be changed (the values for cylinders, heads and sectors are",
  "probably 1023, 255 and 63 - this is correct).",
  "You should only change the geometry if you know the BIOS reports incorrect",
  "values.",
];

const INSTALLMBR: MsgLine[] = [
  "The bootcode in the Master Boot Record does not appear to be valid.",
  "",
  "Do you want to install the NetBSD bootcode?",
];

const layout = (mb: number): MsgLine[] => [
  "NetBSD uses a BSD disklabel to carve up the NetBSD portion of the disk",
  "into multiple BSD partitions.  You must now set up your BSD disklabel.",
  "",
  "You can use a simple editor to set the sizes of the NetBSD partitions,",
  "or keep the existing partition sizes and contents.",
  "",
  "You will then be given the opportunity to change any of the disklabel",
  "fields.",
  "",
  `The NetBSD part of your disk is ${mb} Megabytes.`,
  "A full installation requires at least 500 Megabytes without X and",
  "at least 700 Megabytes if the X sets are included.",
];

const PTNSIZES: MsgLine[] = [
  "You can now change the sizes for the system partitions.  The default is",
  "to allocate all the space to the root file system, however you may wish",
  "to have separate /usr (additional system files), /var (log files etc)",
  "or /home (users' home directories).",
  "",
  "Free space will be added to the partition marked with a '+'.",
  "",
  { table: "       MB         Cylinders   Sectors   Filesystem" },
];

const FSPART: MsgLine[] = [
  "We now have your BSD-disklabel partitions as: ",
  "This is your last chance to change them.",
  "",
  { table: "   Start MB   End MB  Size MB FS type    Newfs Mount Mount point" },
  { table: "   --------- --------- --------- ---------- ----- ----- -----------" },
];

// disksetupdone with the tail older catalogues (and translations) have: "Press <return> to proceed."
const DISKSETUPDONE: MsgLine[] = [
  "Okay, the first part of the procedure is finished.  Sysinst has",
  "written a disklabel to the target disk, and newfs'ed and fsck'ed",
  "the new partitions you specified for the target disk.",
  "",
  "The next step is to fetch and unpack the distribution filesets.",
  "Press <return> to proceed.",
];

const lastchance = (disk: string): MsgLine[] => [
  `Ok, we are now ready to install NetBSD on your hard disk (${disk}).  Nothing has been`,
  "written yet.  This is your last chance to quit this process before anything",
  "gets changed.",
  "",
  "Shall we continue?",
];

const distmedium = (selected: number, next: string): MsgLine[] => [
  "Your disk is now ready for installing the kernel and the distribution",
  "sets.  As noted in your INSTALL notes, you have several options.  For",
  "ftp or nfs, you must be connected to a network with access to the proper",
  "machines.",
  "",
  `Sets selected ${selected}, processed 0, Next set ${next}.`,
];

const extractcomplete = (v: string): MsgLine[] => [
  `The extraction of the selected sets for NetBSD-${v} is complete.`,
  "The system is now able to boot from the selected harddisk. To complete",
  "the installation, sysinst will give you the opportunity to configure",
  "some essential things first.",
];

const ROOTPW: MsgLine[] = [
  "The root password of the newly installed system has not yet been initialized,",
  "and is thus empty.  Do you want to set a root password for the system now?",
];

const instcomplete = (v: string): MsgLine[] => [
  `The installation of NetBSD-${v} is now complete.  The system`,
  "should boot from hard disk.  Follow the instructions in the INSTALL",
  "document about final configuration of your system.  The afterboot(8)",
  "manpage is another recommended reading; it contains a list of things",
  "to be checked after the first complete boot.",
  "",
  "At a minimum, you should edit /etc/rc.conf to match your needs. See",
  "/etc/defaults/rc.conf for the default values.",
];

const MNTNETCONFIG: MsgLine[] = [
  "Is the network information you entered accurate for this machine",
  "in regular operation and do you want it installed in /etc?",
];

/** Runs sysinst from the language menu until "Reboot the computer". */
export async function sysinst6(ctx: FlowContext): Promise<void> {
  const { ui, version } = ctx;
  await ui.menu({ id: "language", msg: hello(version), items: LANGUAGES });
  // get_kb_encoding(): the keyboard menu, current layout preselected (Enter keeps it)
  await ui.menu({
    id: "keyboard",
    title: "Keyboard type",
    items: [
      { label: "unchanged", ok: true },
      { label: "German" },
      { label: "English (UK)" },
      { label: "French" },
      { label: "Spanish" },
      { label: "Swedish" },
    ],
  });
  if (ui.has("unknown-screen")) await unknownScreen(ui);
  for (;;) {
    const c = await ui.menu({
      id: "main-menu",
      msg: [...hello(version), "", "Thank you for using NetBSD!"],
      title: `NetBSD-${version} Install System`,
      items: [
        { label: "Install NetBSD to hard disk", ok: true },
        { label: "Upgrade NetBSD on a hard disk" },
        { label: "Re-install sets or install additional sets" },
        { label: "Reboot the computer", ok: true },
        { label: "Utility menu" },
        { label: "Config menu" },
      ],
      exit: { label: "Exit Install System" },
    });
    if (c.item.label === "Reboot the computer") return;
    await install(ctx);
  }
}

async function install(ctx: FlowContext): Promise<void> {
  const { ui, record, version } = ctx;
  await ui.yes("install-confirm", INSTALLUSURE, "noyes", "yes or no?");

  const disks = listedDisks(ctx);
  let disk = disks[0]!;
  if (disks.length === 1) {
    await ui.hitEnter("one-disk", [
      `I found only one disk, ${disk.name}. `,
      "Therefore I assume you want to install NetBSD on it.",
    ]);
  } else {
    const d = await ui.menu({
      id: "disk-menu",
      msg: ["On which disk do you want to install NetBSD?"],
      title: "Available disks",
      items: disks.map((x) => ({ label: x.name, ok: true })),
    });
    disk = disks[d.index]!;
  }
  record.disk = disk.name;
  record.scheme = "mbr";

  const sets = await ui.menu({
    id: "distribution",
    msg: DISTSET,
    title: "Select your distribution",
    items: [
      { label: "Full installation", ok: true },
      { label: "Installation without X11", ok: true },
      { label: "Minimal installation", ok: true },
      { label: "Custom installation", ok: true },
    ],
  });
  record.sets = (["full", "nox", "minimal", "custom"] as const)[sets.index]!;
  if (record.sets === "custom") {
    await ui.menu({
      id: "custom-sets",
      msg: ["The following is the list of distribution sets that will be used.", ""],
      items: [
        { label: "Kernel (GENERIC)", value: "Yes" },
        { label: "Base", value: "Yes" },
        { label: "System (/etc)", value: "Yes" },
        { label: "Compiler Tools", value: "No" },
        { label: "X11 sets", value: "None" },
      ],
      labelWidth: 27,
      exit: { label: "Install selected sets", ok: true },
    });
  }

  await ui.menu({
    id: "bios-geometry",
    msg: onebiosmatch(16_777_216),
    items: [{ label: "This is the correct geometry", ok: true }, { label: "Set the geometry by hand" }],
  });
  await ui.yes("install-mbr-bootcode", INSTALLMBR, "yesno");
  await ui.menu({
    id: "mbr",
    msg: [`We are now going to install NetBSD on the disk ${disk.name}.`],
    title: "Which would you like to do?",
    items: [{ label: "Use only part of the disk" }, { label: "Use the entire disk", ok: true }],
  });
  await ui.menu({
    id: "layout",
    msg: layout(8189),
    title: "Choose your installation",
    items: [{ label: "Set sizes of NetBSD partitions", ok: true }, { label: "Use existing partition sizes" }],
  });
  await ui.menu({
    id: "partition-sizes",
    msg: PTNSIZES,
    items: [
      { label: "   7677      1000   15724544+ /" },
      { label: "    512        66    1048576  swap" },
      { label: "      0         0          0  /tmp (tmpfs)" },
      { label: "Add a user defined partition" },
      { label: "Accept partition sizes.  Free space 0 MB, 11 free partitions.", ok: true },
    ],
  });
  await ui.menu({
    id: "partitions",
    msg: FSPART,
    items: [
      { label: "        0      7677      7677 4.2BSD     Yes   Yes   /" },
      { label: "     7677      8189       512 swap" },
      { label: "        0      8189      8189 NetBSD partition" },
      { label: "        0      8192      8192 Whole disk" },
      { label: "Show all unused partitions" },
      { label: "Change input units (sectors/cylinders/MB)" },
    ],
    exit: { label: "Partition sizes ok", ok: true },
  });
  await ui.prompt("disk-name", [], "Please enter a name for your NetBSD disk", "mydisk");
  await ui.yes("last-chance", lastchance(disk.name), "noyes", "yes or no?");

  await ui.run(`/sbin/newfs -V2 /dev/r${disk.name}a`, async (out) => {
    await silence(ui);
    out.line(`/dev/r${disk.name}a: 7677.0MB (15724544 sectors) block size 16384, fragment size 2048`);
    await ui.tty.sleep(400);
    out.line("\tusing 42 cylinder groups of 182.81MB, 11700 blks, 23296 inodes.");
    out.line("super-block backups (for fsck -b #) at:");
    await ui.tty.sleep(400);
    out.line("32, 374432, 748832, 1123232, 1497632, 1872032, 2246432, 2620832,");
  });
  await bootblocks(ctx, "Exit");
  // Older sysinst (install.c: msg_display(MSG_disksetupdone); getchar();), no menu: only with the
  // disksetupdone-getchar scenario, since the 2012 sources nearest 6.x pass the message to
  // get_and_unpack_sets, which does not show it (README.md, docs/netbsd-sysinst.md).
  if (ui.has("disksetupdone-getchar")) await ui.pressKey("disk-setup-done", DISKSETUPDONE);

  const list = setsFor(version, record.sets);
  const medium = await ui.menu({
    id: "install-from",
    msg: distmedium(list.length, list[0]!),
    title: "Install from",
    items: [
      { label: "CD-ROM / DVD", ok: true },
      { label: "FTP" },
      { label: "HTTP", ok: true },
      { label: "NFS" },
      { label: "Floppy" },
      { label: "Unmounted fs" },
      { label: "Local directory" },
      { label: "Skip set" },
      { label: "Skip set group" },
      { label: "Abandon installation" },
    ],
  });
  if (medium.item.label === "HTTP") await httpSource(ctx, list, ".tgz", () => network(ctx), "netbsd6");
  else await chooseSetsCd(ctx, ["Could not locate a CD medium in any drive with the distribution sets!"]);
  await extractSets(ctx, list, ".tgz");
  await ui.hitEnter("extraction-complete", extractcomplete(version));

  await configMenu(ctx, CONFIG_ITEMS, {
    network: () => network(ctx),
    rootPassword: async () => {
      await ui.yes("set-root-password", ROOTPW, "yesno", "yes or no?");
      await passwd(ctx);
    },
  });
  ctx.installed(record);
  await ui.hitEnter("install-complete", instcomplete(version));
}

const CONFIG_ITEMS: ConfigItem[] = [
  { key: "network", label: "Configure network", value: "configure", ok: true },
  { key: "other", label: "Timezone", value: "UTC" },
  { key: "other", label: "Root shell", value: "/bin/sh" },
  { key: "rootpw", label: "Change root password", ok: true },
  { key: "other", label: "Enable installation of binary packages", value: "install" },
  { key: "other", label: "Fetch and unpack pkgsrc", value: "install" },
  { key: "sshd", label: "Enable sshd", ok: true },
  { key: "other", label: "Enable ntpd", value: "NO" },
  { key: "other", label: "Run ntpdate at boot", value: "NO" },
  { key: "other", label: "Enable mdnsd", value: "NO" },
  { key: "other", label: "Add a user", value: "" },
];

/** net.c config_network() of NetBSD 6: the interface is typed at a prompt, DHCP is a yes/no question. */
async function network(ctx: FlowContext): Promise<void> {
  const { ui, hw, record } = ctx;
  if (hw.nics.length === 0) {
    await ui.hitEnter("no-netif", [
      "I can not find any network interfaces for use by NetBSD.  You will be",
      "returned to the previous menu.",
    ]);
    return;
  }
  const nic = await ui.prompt(
    "netif-prompt",
    [`I have found the following network interfaces: ${hw.nics.join(" ")}`, ""],
    "Which device shall I use?",
    hw.nics[0]!,
  );
  if (!hw.nics.includes(nic)) await ui.offPath(`network interface "${nic}"`);
  await ui.prompt("net-media", [], "Network media type", "autoselect");
  await ui.yes("dhcp", [], "yesno", "Perform DHCP autoconfiguration?");
  await ui.run(`/sbin/dhcpcd -n -w -q ${nic}`, async (out) => {
    await ui.tty.sleep(300);
    out.line(`${nic}: leased ${ctx.leaseIp ?? "10.0.2.15"} for 86400 seconds`);
  });
  const domain = await ui.prompt("dns-domain", [], "Your DNS domain", "");
  record.hostname = await ui.prompt("host-name", [], "Your host name", "netbsd");
  await ui.menu({
    id: "ipv6",
    title: "Perform IPv6 autoconfiguration?",
    items: [{ label: "Yes" }, { label: "No", ok: true }],
  });
  await ui.yes(
    "network-ok",
    [
      "The following are the values you entered.",
      "",
      `DNS Domain:\t\t${domain} `,
      `Host Name:\t\t${record.hostname} `,
      `Primary Interface:\t${nic} `,
      `Host IP:\t\t${ctx.leaseIp ?? "10.0.2.15"} `,
      "Netmask:\t\t255.255.255.0 ",
      "IPv4 Nameserver:\t10.0.2.3 ",
      "IPv4 Gateway:\t\t10.0.2.2 ",
      "Media type:\t\tautoselect ",
    ],
    "yesno",
    "Are they OK?",
  );
  await ui.yes("network-to-etc", MNTNETCONFIG, "yesno", "yes or no?");
  record.network = "dhcp";
}
