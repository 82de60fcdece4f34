/**
 * TEST DOUBLE. The sysinst of NetBSD 9.x/10.x (usr.sbin/sysinst), reduced to the path an unattended
 * install over a serial console takes. Message texts come from NetBSD's sources (see README.md for
 * files and revisions); `$n`/`%s` parameters are filled in the way sysinst fills them.
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

// msg.mi.en: hello, thanks
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
const THANKS = ["Thank you for using NetBSD!"];

// The language menu lists the catalogs' sysinst_message_language strings.
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

const ASK_DISK: MsgLine[] = [
  "On which disk do you want to install NetBSD? ",
  "The most common disk types are: ",
  "\t- wd: SATA, ATA, or IDE ",
  "\t- sd: SCSI or removable USB disk ",
  "\t- ld: NVMe (e.g. M.2 card), SD/MMC card, or virtual disk ",
];

const SELECT_PART_SCHEME: MsgLine[] = [
  "The disk seems not to have been partitioned before. Please select",
  "a partitioning scheme from the available options below.",
];

const onebiosmatch = (sectors: number): MsgLine[] => [
  "This disk matches the following BIOS disk:",
  "",
  { table: "BIOS # cylinders heads sectors total sectors   GB" },
  { table: "------ --------- ----- ------- ------------- ----" },
  {
    table: `  0x80      1023   255      63 ${String(sectors).padStart(13)} ${String(Math.round((sectors * 512) / 2 ** 30)).padStart(4)}`,
  },
  "",
  "Note: since sysinst was able to uniquely match the disk you chose with a disk",
  "known to the BIOS, the values displayed above are very likely correct, and",
  "should not be changed (the values for cylinders, heads and sectors are",
  "probably 1023, 255 and 63 - this is correct).",
  "You should only change the geometry if you know the BIOS reports incorrect",
  "values.",
];

const fullpart = (disk: string): MsgLine[] => [
  `We are now going to install NetBSD on the disk ${disk}.`,
  "",
  "NetBSD requires a single partition in the disk's Master Boot Record (MBR)",
  "partition table, this is split further by the BSD disklabel.",
  "NetBSD can also access file systems in other MBR partitions.",
  "",
  "If you select 'Use the entire disk' then the previous contents of the",
  "disk will be overwritten and a single MBR partition used to cover the",
  "entire disk.",
  "If you want to install more than one operating system then edit the",
  "MBR partition table and create a partition for NetBSD.",
  "",
  "About 250M is enough for a basic installation, but you should allow",
  "extra for additional software and user files.",
  "Allow at least 15G if you want to build NetBSD itself.",
];

const layout = (disk: string, size: string): MsgLine[] => [
  "You can use a simple editor to set the sizes of the NetBSD partitions,",
  "or apply the default partition sizes and contents.",
  "",
  "You will then be given the opportunity to change any of the partition",
  "details.",
  "",
  `The NetBSD (or free) part of your disk (${disk}) is ${size}.`,
  "",
  "A full installation requires at least 1.7G without X and",
  "at least 2.4G if the X sets are included.",
];

const fspart = (disk: string, scheme: string, size: string): MsgLine[] => [
  `We now have your ${scheme} partitions for ${disk} below.`,
  "This is your last chance to change them.",
  "",
  `Flags: (I)nstall, (N)ewfs, (B)ootable.   Total size: ${size}, free: 0`,
];

const lastchance = (disk: string): MsgLine[] => [
  `Ok, we are now ready to install NetBSD on your hard disk (${disk}).  Nothing has been`,
  "written yet.  This is your last chance to quit this process before anything",
  "gets changed.",
  "",
  "Shall we continue?",
];

const DISTSET: MsgLine[] = [
  "The NetBSD distribution is broken into a collection of distribution",
  "sets.  There are some basic sets that are needed by all installations",
  "and there are some other sets that are optional.  You may choose to install",
  "a core set (Minimal installation), all of them (Full installation), or a custom",
  "group of sets (Custom installation).",
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
  "The system is now able to boot from the selected hard disk.  To complete",
  "the installation, sysinst will give you the opportunity to configure",
  "some essential things first.",
];

const FORCE_ROOTPW: MsgLine[] = [
  "The root password of the newly installed system has not yet been",
  "initialized. ",
  " ",
  "If you do not want to set a password, enter an empty line.",
];

// msg.entropy.en: not_enough_entropy, its menu items and exit string
const NOT_ENOUGH_ENTROPY: MsgLine[] = [
  "This system seems to lack a cryptographically strong pseudo random",
  "number generator. There is not enough entropy available to create secure",
  "keys (e.g. ssh host keys).",
  "",
  "If you plan to use this installation for production work and will",
  "for example have ssh host keys generated, we strongly advise to complete",
  "the entropy setup now!",
  "",
  "You may use random data generated on another computer and load it",
  "here, or you could enter random characters manually.",
  "",
  "If you have a USB random number device, connect it now and select",
  'the "Re-test" option.',
];

const ROOTPW: MsgLine[] = [
  "The root password of the newly installed system has not yet been initialized,",
  "and is thus empty.  Do you want to set a root password for the system now?",
];

const instcomplete = (v: string): MsgLine[] => [
  `The installation of NetBSD-${v} is now complete.  The system`,
  "should boot from hard disk.  Follow the instructions in the INSTALL",
  "document about final configuration of your system.  We also recommend",
  "reading the afterboot(8) manpage; it contains a list of things to be",
  "checked after the first complete boot.",
  "",
  "At a minimum, you should edit /etc/rc.conf to match your needs.  See",
  "/etc/defaults/rc.conf for the default values.",
];

const MNTNETCONFIG: MsgLine[] = [
  "Is the network information you entered accurate for this machine",
  "in regular operation and do you want it installed in /etc? ",
];

/** Runs sysinst from the language menu until "Reboot the computer". */
export async function sysinst9plus(ctx: FlowContext): Promise<void> {
  const { ui, version } = ctx;
  const major = Number.parseInt(version, 10);
  await ui.menu({ id: "language", msg: hello(version), items: LANGUAGES });
  if (ui.has("unknown-screen")) await unknownScreen(ui);
  for (;;) {
    const c = await ui.menu({
      id: "main-menu",
      msg: [...hello(version), "", ...THANKS],
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
    await install(ctx, major);
  }
}

async function install(ctx: FlowContext, major: number): Promise<void> {
  const { ui, hw, record, version } = ctx;
  await ui.yes("install-confirm", INSTALLUSURE, "noyes");

  const disks = listedDisks(ctx);
  const d = await ui.menu({
    id: "disk-menu",
    msg: ASK_DISK,
    title: "Available disks",
    items: [
      ...disks.map((x) => ({ label: x.descr, ok: true })),
      { label: "Extended partitioning (software RAID, etc...)" },
    ],
  });
  const disk = disks[d.index]!;
  record.disk = disk.name;
  const size = /\(([^,)]+)/.exec(disk.descr)?.[1] ?? "8.6G";

  const s = await ui.menu({
    id: "partition-scheme",
    msg: SELECT_PART_SCHEME,
    items: [
      { label: "Guid Partition Table (GPT)", ok: true },
      { label: "Master Boot Record (MBR)", ok: true },
    ],
  });
  record.scheme = s.index === 0 ? "gpt" : "mbr";

  await ui.menu({
    id: "bios-geometry",
    msg: onebiosmatch(16_777_216),
    items: [{ label: "This is the correct geometry", ok: true }, { label: "Set the geometry by hand" }],
  });
  if (record.scheme === "mbr") {
    await ui.menu({
      id: "mbr",
      msg: fullpart(disk.name),
      title: "What would you like to do?",
      items: [{ label: "Edit the MBR partition table" }, { label: "Use the entire disk", ok: true }],
    });
  }
  await ui.menu({
    id: "layout",
    msg: layout(disk.name, size),
    title: "Choose your installation",
    items: [{ label: "Set sizes of NetBSD partitions" }, { label: "Use default partition sizes", ok: true }],
  });
  const schemeName = record.scheme === "gpt" ? "GPT" : "BSD disklabel";
  await ui.menu({
    id: "partitions",
    msg: fspart(disk.name, schemeName, size),
    items: [
      { label: `     2048  16775167  ${size.padStart(6)}  FFSv2    IN  /` },
      { label: " 16775168  16777182    1015K  swap" },
      { label: "Add a partition" },
      { label: "Change input units (sectors/cylinders/MB/GB)" },
    ],
    exit: { label: "Partition sizes ok", ok: true },
  });
  await ui.yes("last-chance", lastchance(disk.name), "noyes");

  const rdev = record.scheme === "gpt" ? "/dev/rdk0" : `/dev/r${disk.name}a`;
  await ui.run(`/sbin/newfs -V2 -O 2 ${rdev}`, async (out) => {
    await silence(ui);
    out.line(`${rdev}: 8190.0MB (16773120 sectors) block size 16384, fragment size 2048`);
    await ui.tty.sleep(400);
    out.line("\tusing 45 cylinder groups of 182.00MB, 11648 blks, 22400 inodes.");
    out.line("super-block backups (for fsck_ffs -b #) at:");
    await ui.tty.sleep(400);
    out.line("192, 372928, 745664, 1118400, 1491136, 1863872, 2236608, 2609344, 2982080,");
  });
  await bootblocks(ctx, "Continue");

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
    exit: { label: "Abandon installation" },
  });
  record.sets = (["full", "nox", "minimal", "custom"] as const)[sets.index]!;
  if (record.sets === "custom") await customSets(ctx);
  const list = setsFor(version, record.sets);

  const medium = await ui.menu({
    id: "install-from",
    msg: distmedium(list.length, list[0]!),
    title: "Install from",
    items: [
      { label: "CD-ROM / DVD / install image media", ok: true },
      { label: "HTTP", ok: true },
      { label: "FTP" },
      { label: "NFS" },
      { label: "Floppy" },
      { label: "Unmounted fs" },
      { label: "Local directory" },
      { label: "Skip set" },
      { label: "Skip set group" },
      { label: "Abandon installation" },
    ],
  });
  const suffix = major >= 9 ? ".tar.xz" : ".tgz";
  if (medium.item.label === "HTTP") await httpSource(ctx, list, suffix, () => network(ctx), "netbsd9plus");
  else
    await chooseSetsCd(ctx, [
      "Could not locate a CD medium in any drive with the distribution sets! ",
      "Enter the correct data manually, or insert a disk and retry. ",
    ]);
  await extractSets(ctx, list, suffix);
  await ui.hitEnter("extraction-complete", extractcomplete(version));

  if (major >= 10) {
    // install.c: root_pw_setup(), then do_add_entropy() when the kernel lacks entropy
    await passwd(ctx, FORCE_ROOTPW);
    if (!hw.rng) {
      await ui.menu({
        id: "entropy",
        msg: NOT_ENOUGH_ENTROPY,
        items: [
          { label: "Manually input random characters" },
          { label: "Load raw binary random data" },
          { label: "Import a NetBSD entropy file" },
          { label: "Re-test" },
        ],
        exit: { label: "Not now, continue!", ok: true },
      });
    }
  }
  await configMenu(ctx, configItems(major, hw.rng), {
    network: () => network(ctx),
    rootPassword: async () => {
      await ui.yes("set-root-password", ROOTPW, "yesno");
      await passwd(ctx);
    },
  });
  ctx.installed(record);
  await ui.hitEnter("install-complete", instcomplete(version));
}

async function customSets(ctx: FlowContext): Promise<void> {
  await ctx.ui.menu({
    id: "custom-sets",
    msg: ["The following is the list of distribution sets that will be used.", ""],
    items: [
      { label: "Kernel (GENERIC)", value: "All" },
      { label: "Base", value: "Yes" },
      { label: "Configuration files (/etc)", value: "Yes" },
      { label: "Compiler tools", value: "No" },
      { label: "X11 sets", value: "None" },
    ],
    labelWidth: 35,
    exit: { label: "Install selected sets", ok: true },
  });
}

function configItems(major: number, rng: boolean): ConfigItem[] {
  const items: ConfigItem[] = [
    { key: "network", label: "Configure network", value: "configure", ok: true },
    { key: "other", label: "Timezone", value: "UTC" },
    { key: "other", label: "Root shell", value: "/bin/sh" },
    { key: "rootpw", label: "Change root password", ok: true },
    { key: "other", label: "Enable installation of binary packages", value: "install" },
    { key: "other", label: "Fetch and unpack pkgsrc", value: "install" },
    { key: "sshd", label: "Enable sshd (Secure Shell daemon)", ok: true },
    { key: "other", label: "Enable ntpd to sync time over network", value: "NO" },
    { key: "other", label: "Run ntpdate to set time over network at boot", value: "NO" },
    { key: "other", label: "Enable multicast DNS support", value: "NO" },
    { key: "other", label: "Enable xdm (X Display Manager)", value: "NO" },
    { key: "other", label: "Enable cgd (cryptographic disk configuration)", value: "NO" },
    { key: "other", label: "Enable lvm (Logical Volume Manager)", value: "NO" },
    { key: "other", label: "Enable raidframe", value: "NO" },
    { key: "other", label: "Add a user", value: "" },
  ];
  if (major >= 10 && !rng) items.push({ key: "other", label: "Set up entropy", value: "" });
  items.push({ key: "other", label: "Run /bin/sh", value: "" });
  return items;
}

/** net.c config_network() with DHCP, 9.x/10.x style (interface menu, autoconfiguration question). */
async function network(ctx: FlowContext): Promise<void> {
  const { ui, hw, record } = ctx;
  if (hw.nics.length === 0) {
    await ui.hitEnter("no-netif", [
      "I can not find any network interfaces for use by NetBSD.  You will be",
      "returned to the previous menu.",
    ]);
    return;
  }
  const n = await ui.menu({
    id: "network-interface",
    msg: ["Which network device would you like to use?"],
    title: "Available interfaces",
    items: hw.nics.map((label) => ({ label, ok: true })),
  });
  const nic = n.item.label;
  await ui.prompt(
    "net-media",
    ["To be able to use the network, we need answers to the following:"],
    "Network media type (empty to autoconfigure)",
    "",
  );
  await ui.yes("dhcp", [], "yesno", "Perform autoconfiguration?");
  await ui.run(`/sbin/dhcpcd -qw ${nic}`, async (out) => {
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
      // each value line ends in a space before its newline: msgc keeps those line breaks
      `DNS Domain:\t\t${domain} `,
      `Host Name:\t\t${record.hostname} `,
      "Nameserver:\t\t10.0.2.3 ",
      `Primary Interface:\t${nic} `,
      "Media type:\t\t ",
      `Host IP:\t\t${ctx.leaseIp ?? "10.0.2.15"} `,
      "Netmask:\t\t255.255.255.0 ",
      "IPv4 Gateway:\t\t10.0.2.2 ",
    ],
    "yesno",
    "Are they OK?",
  );
  await ui.yes("network-to-etc", MNTNETCONFIG, "yesno");
  record.network = "dhcp";
}
