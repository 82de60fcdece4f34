/**
 * sysinst's screens as NetBSD draws them, against the driver's recognisers: messages re-flowed by
 * msgc's auto-fill (the simulator's renderMessage, a test double of usr.bin/msgc/msg_sys.def), the
 * disk menu and its target disk, NetBSD 6's disksetupdone, kernel autoconf output.
 */
import assert from "node:assert/strict";
import { recogniseScreen, newState } from "../../harness/boxes/netbsd/sysinst.ts";
import { netbsdDiskName } from "../../harness/boxes/netbsd/sysinst/disk-name.ts";
import { SysinstFailedError } from "../../harness/boxes/netbsd/sysinst/errors.ts";
import { viewOf, type ScreenView } from "../../harness/boxes/netbsd/sysinst/screen-text.ts";
import type { ActContext, SysinstAnswers } from "../../harness/boxes/netbsd/sysinst/types.ts";
import { renderMessage } from "../doubles/sysinst-sim/curses.ts";

const WIDTH = 78; // the message window: newwin(maxy - 2, maxx - 2, 1, 1) on an 80-column terminal

/** A screen as sysinst lays it out: the message window at (1,1), a boxed menu below it. */
function screen(msg: string[], items: string[] = [], title?: string): string {
  const rows = renderMessage(msg, WIDTH).map((l) => ` ${l}`);
  if (items.length === 0) return ["", ...rows].join("\n");
  const inner = Math.max(title?.length ?? 0, ...items.map((i) => i.length + 1)) + 2;
  const box = [
    `┌${"─".repeat(inner)}┐`,
    ...(title ? [`│${title.padEnd(inner)}│`, `│${" ".repeat(inner)}│`] : []),
    ...items.map((i, n) => `│${(n === 0 ? ">" : " ") + i.padEnd(inner - 1)}│`),
    `└${"─".repeat(inner)}┘`,
  ].map((l) => `${" ".repeat(10)}${l}`);
  return ["", ...rows, "", ...box].join("\n");
}

function answers(over: Partial<SysinstAnswers> = {}): SysinstAnswers {
  return {
    flavor: "netbsd9plus",
    version: "10.1",
    targetDisk: "wd0",
    terminalType: "vt100",
    rootPassword: "x",
    sets: "minimal",
    serialBaud: 115200,
    network: "dhcp",
    sshd: true,
    ...over,
  };
}

/** An ActContext that records what the driver would type. */
function recorder(a: SysinstAnswers): { ctx: ActContext; typed: string[] } {
  const typed: string[] = [];
  const ctx: ActContext = {
    answers: a,
    state: newState(),
    log: () => undefined,
    async choose(view, label, what) {
      const it = view.items.find((i) => label.test(i.label));
      if (!it) throw new SysinstFailedError(`${what}: no menu item ${String(label)}`, view.text);
      typed.push(`${it.letter}\r`);
    },
    async enter() {
      typed.push("\r");
    },
    async typeLine(text) {
      typed.push(`${text}\r`);
    },
    fail(reason, view: ScreenView): never {
      throw new SysinstFailedError(reason, view.text);
    },
  };
  return { ctx, typed };
}

// usr.sbin/sysinst/msg.mi.en (1.54.2.1): fspart, $2 = GPT, $0 = wd0, $3/$4 flags, $5/$6 sizes
const FSPART_9 = [
  "We now have your GPT partitions for wd0 below.",
  "This is your last chance to change them.",
  "",
  "Flags: (I)nstall, (N)ewfs, (B)ootable.   Total size: 8.6G, free: 0",
];

describe("msgc auto-fill (the simulator's message window)", () => {
  it("re-flows fspart as 9.x/10.x show it: the source's line break is gone, the line wraps at 78", () => {
    assert.deepEqual(renderMessage(FSPART_9, WIDTH), [
      "We now have your GPT partitions for wd0 below.  This is your last chance to",
      "change them.",
      "",
      "Flags: (I)nstall, (N)ewfs, (B)ootable.  Total size: 8.6G, free: 0",
    ]);
  });

  it("keeps a line break after a trailing space, indents a tab after a newline, never fills to the last column", () => {
    const lines = renderMessage(
      [
        "I found only one disk, wd0. ",
        "Therefore I assume you want to install NetBSD on it.",
        "\ta) Partition your disk",
        "x".repeat(30),
        `${"word ".repeat(15)}end`,
      ],
      WIDTH,
    );
    assert.equal(lines[0], "I found only one disk, wd0.");
    assert.equal(lines[1], "Therefore I assume you want to install NetBSD on it.");
    assert.equal(lines[2], "        a) Partition your disk xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx word word word");
    assert.ok(
      lines.every((l) => l.length < WIDTH || !l.includes(" ")),
      lines.join("\n"),
    );
  });

  it("writes msg_table_add lines as they are, between re-flowed paragraphs", () => {
    assert.deepEqual(
      renderMessage(
        [
          "This disk matches the following BIOS disk:",
          "",
          { table: "BIOS # cylinders   heads" },
          "",
          "Note: since",
        ],
        WIDTH,
      ),
      ["This disk matches the following BIOS disk:", "", "BIOS # cylinders   heads", "", "Note: since"],
    );
  });
});

describe("sysinst driver: re-flowed messages", () => {
  it("recognises the partition review however msgc wrapped it", () => {
    const text = screen(FSPART_9, [
      "a:      2048  16775167    8.6G  FFSv2    IN  /",
      "b: Add a partition",
      "x: Partition sizes ok",
    ]);
    const view = viewOf(text);
    // The sentence the driver looks for is split over two rows on the screen...
    assert.ok(!view.lines.some((l) => l.includes("This is your last chance to change them")));
    // ...and still recognised.
    assert.equal(recogniseScreen(view, answers())?.id, "partitions-last-chance");
  });
});

describe("sysinst driver: the target disk", () => {
  const diskMenu = (items: string[]): ScreenView =>
    viewOf(
      screen(
        [
          "On which disk do you want to install NetBSD? ",
          "The most common disk types are: ",
          "\t- wd: SATA, ATA, or IDE ",
        ],
        [...items.map((l, i) => `${String.fromCharCode(97 + i)}: ${l}`)],
        "Available disks",
      ),
    );
  const USB_FIRST = diskMenu([
    "sd0 (7.5G, SanDisk Cruzer Blade)",
    "wd0 (8.6G, QEMU HARDDISK)",
    "Extended partitioning (software RAID, etc...)",
  ]);

  it("chooses the target disk, not the first one listed", async () => {
    const a = answers({ targetDisk: "wd0" });
    const known = recogniseScreen(USB_FIRST, a);
    assert.equal(known?.id, "disk-menu");
    const { ctx, typed } = recorder(a);
    await known.act!(ctx, USB_FIRST);
    assert.deepEqual(typed, ["b\r"]);
  });

  it("fails naming the menu's entries when the target disk is not listed", async () => {
    const a = answers({ targetDisk: "wd1" });
    const { ctx, typed } = recorder(a);
    const err = await recogniseScreen(USB_FIRST, a)!.act!(ctx, USB_FIRST).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof SysinstFailedError, String(err));
    assert.match(err.reason, /target disk wd1 is not in the disk menu/);
    assert.match(err.reason, /a: sd0 \(7\.5G, SanDisk Cruzer Blade\) \| b: wd0 \(8\.6G, QEMU HARDDISK\)/);
    assert.deepEqual(typed, []);
  });

  it("6.x's single-disk notice goes on only when that disk is the target", async () => {
    const notice = (disk: string): ScreenView =>
      viewOf(
        screen(
          [`I found only one disk, ${disk}. `, "Therefore I assume you want to install NetBSD on it."],
          ["Hit enter to continue"],
        ),
      );
    const a = answers({ flavor: "netbsd6", version: "6.1.5", targetDisk: "wd0" });
    const ok = recorder(a);
    await recogniseScreen(notice("wd0"), a)!.act!(ok.ctx, notice("wd0"));
    assert.deepEqual(ok.typed, ["\r"]);
    const other = recorder(a);
    await assert.rejects(
      recogniseScreen(notice("sd0"), a)!.act!(other.ctx, notice("sd0")),
      /found only the disk sd0, not the target disk wd0/,
    );
  });

  it("names the disk the harness attaches as NetBSD does (wd for IDE, ld for virtio-blk)", () => {
    assert.equal(netbsdDiskName([{ interface: "ide" }]), "wd0");
    assert.equal(netbsdDiskName([{ interface: "virtio" }]), "ld0");
    assert.equal(netbsdDiskName([{ interface: "ide" }, { interface: "ide" }], 1), "wd1");
    assert.equal(netbsdDiskName([{ interface: "virtio" }, { interface: "ide" }], 1), "wd0");
    assert.throws(() => netbsdDiskName([]), /no disk 0 among the machine's 0 disk/);
  });
});

describe("sysinst driver: screens it did not know", () => {
  it("answers NetBSD 6's disksetupdone (a message and getchar(), no menu) with Enter", async () => {
    const view = viewOf(
      screen([
        "Okay, the first part of the procedure is finished.  Sysinst has",
        "written a disklabel to the target disk, and newfs'ed and fsck'ed",
        "the new partitions you specified for the target disk.",
        "",
        "The next step is to fetch and unpack the distribution filesets.",
        "Press <return> to proceed.",
      ]),
    );
    const a = answers({ flavor: "netbsd6", version: "6.1.5" });
    const known = recogniseScreen(view, a);
    assert.equal(known?.id, "disk-setup-done");
    const { ctx, typed } = recorder(a);
    await known.act!(ctx, view);
    assert.deepEqual(typed, ["\r"]);
  });

  it("takes kernel autoconf output for booting once the banner has scrolled away", () => {
    const autoconf = [
      "pci0 at mainbus0 bus 0: configuration mode 1",
      "piixide0 at pci0 dev 1 function 1: Intel 82371SB IDE Interface (PIIX3) (rev. 0x00)",
      "atabus0 at piixide0 channel 0",
      "atabus1 at piixide0 channel 1",
      "wm0 at pci0 dev 3 function 0: Intel i82540EM 1000BASE-T Ethernet (rev. 0x03)",
      "wd0 at atabus0 drive 0",
      "wd0: <QEMU HARDDISK>",
    ];
    const view = viewOf(autoconf.join("\n"));
    assert.equal(recogniseScreen(view, answers())?.kind, "wait");
    const stamped = viewOf(autoconf.map((l, i) => `[   1.${String(i).padStart(7, "0")}] ${l}`).join("\n"));
    assert.equal(recogniseScreen(stamped, answers())?.kind, "wait");
    // A menu-like screen is not taken for kernel output.
    assert.equal(recogniseScreen(viewOf(screen(["Something new"], ["a: Perhaps"])), answers()), undefined);
  });
});

describe("sysinst driver: sets over HTTP (a domU's installer has no CD)", () => {
  // menus.mi ftpsource: src_legend's "%-35s %.50s" lines, the exit item "Get Distribution"
  const MSG = [
    "The following are the http site, directory, user, and password that",
    'will be used.  If "user" is "ftp", then the password is not needed.',
  ];
  const legend = (letter: string, label: string, value: string) => `${letter}: ${label.padEnd(35)} ${value}`;
  const source = {
    kind: "http" as const,
    host: "10.0.2.2:8080",
    dir: "netbsd-10.1",
    setDir: "/amd64/binary/sets",
  };

  function ftpsource(host: string, dir: string, setDirLabel: string, setDir: string): string {
    return screen(MSG, [
      legend("a", "Host", host),
      legend("b", "Base directory", dir),
      legend("c", setDirLabel, setDir),
      legend("d", "User", "ftp"),
      "x: Get Distribution",
    ]);
  }

  it("chooses HTTP in the medium menu when the sets come from a server, the CD otherwise", async () => {
    const view = viewOf(
      screen(
        ["Your disk is now ready for installing the kernel and the distribution sets."],
        ["a: CD-ROM / DVD / install image media", "b: HTTP", "c: FTP", "x: Abandon installation"],
        "Install from",
      ),
    );
    const http = recorder(answers({ source }));
    const known = recogniseScreen(view, http.ctx.answers);
    assert.equal(known?.id, "install-from");
    await known!.act!(http.ctx, view);
    assert.deepEqual(http.typed, ["b\r"]);
    const cd = recorder(answers());
    await known!.act!(cd.ctx, view);
    assert.deepEqual(cd.typed, ["a\r"]);
  });

  for (const [release, setDirLabel] of [
    ["9.x/10.x", "Binary set directory"],
    ["6.x", "Set directory"],
  ] as const) {
    it(`${release}: edits each field that differs (erasing the old value), one per screen, then gets the distribution`, async () => {
      const steps: [string, string[]][] = [
        [
          ftpsource("ftp.NetBSD.org", "pub/NetBSD/NetBSD-10.1", setDirLabel, "/amd64/binary/sets"),
          ["a\r", `${"\x7f".repeat(14)}10.0.2.2:8080\r`],
        ],
        [
          ftpsource("10.0.2.2:8080", "pub/NetBSD/NetBSD-10.1", setDirLabel, "/i386/binary/sets"),
          ["b\r", `${"\x7f".repeat(22)}netbsd-10.1\r`],
        ],
        [
          ftpsource("10.0.2.2:8080", "netbsd-10.1", setDirLabel, "/i386/binary/sets"),
          ["c\r", `${"\x7f".repeat(17)}/amd64/binary/sets\r`],
        ],
        [ftpsource("10.0.2.2:8080", "netbsd-10.1", setDirLabel, "/amd64/binary/sets"), ["x\r"]],
      ];
      for (const [text, want] of steps) {
        const view = viewOf(text);
        const r = recorder(answers({ source }));
        const known = recogniseScreen(view, r.ctx.answers);
        assert.equal(known?.id, "http-source", text);
        await known!.act!(r.ctx, view);
        assert.deepEqual(r.typed, want);
      }
    });
  }

  it("fails when sysinst asks for a server but the sets are meant to come from the CD", async () => {
    const view = viewOf(
      ftpsource("ftp.NetBSD.org", "pub/NetBSD/NetBSD-10.1", "Binary set directory", "/amd64/binary/sets"),
    );
    const r = recorder(answers());
    await assert.rejects(() => recogniseScreen(view, r.ctx.answers)!.act!(r.ctx, view), /sets are on a CD/);
  });
});
