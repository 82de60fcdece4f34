import assert from "node:assert/strict";
import { Screen } from "../../harness/console/index.ts";
import { parseBootMenu } from "../../harness/boxes/netbsd/bootloader.ts";
import { recogniseScreen } from "../../harness/boxes/netbsd/sysinst.ts";
import {
  findItem,
  menuItems,
  screenSignature,
  viewOf,
} from "../../harness/boxes/netbsd/sysinst/screen-text.ts";

/** Renders raw terminal output the way the console engine does (xterm headless). */
async function render(bytes: string): Promise<string> {
  const s = new Screen(80, 25);
  s.feed(Buffer.from(bytes, "latin1"));
  await s.settle();
  const text = s.text();
  s.dispose();
  return text;
}

const cup = (r: number, c: number) => `\x1b[${r + 1};${c + 1}H`;
const acs = (s: string) => `\x1b(0${s}\x1b(B`;

const BOOTBLOCKS = [
  " Would you like to install the normal set of bootblocks or serial bootblocks?",
  "",
  " Selected bootblock: Serial port com0 at 9600 baud",
  "",
  "                  ┌─────────────────────────────┐",
  "                  │     Bootblocks selection    │",
  "                  │                             │",
  "                  │ a: Use BIOS console         │",
  "                  │>b: Use serial port com0     │",
  "                  │ c: Use serial port com1     │",
  "                  │ f: Set serial baud rate     │",
  "                  │ g: Use existing bootblocks  │",
  "                  │ x: Continue                 │",
  "                  └─────────────────────────────┘",
].join("\n");

describe("sysinst screens: menu letters", () => {
  it("reads letters and labels from a boxed menu, and which item is current", () => {
    const items = menuItems(BOOTBLOCKS);
    assert.deepEqual(
      items.map((i) => `${i.letter}:${i.label}`),
      [
        "a:Use BIOS console",
        "b:Use serial port com0",
        "c:Use serial port com1",
        "f:Set serial baud rate",
        "g:Use existing bootblocks",
        "x:Continue",
      ],
    );
    assert.equal(items.find((i) => i.selected)?.letter, "b");
  });

  it("does not read 'bootblock: Serial port com0' as a menu item", () => {
    assert.equal(findItem(BOOTBLOCKS, /^Serial port com0/), undefined);
    assert.equal(findItem(BOOTBLOCKS, /^Use serial port com0/)?.letter, "b");
  });

  it("separates the value column of the config menu from the label", () => {
    const screen = [
      "Configure the additional items as needed.",
      "",
      " a: Configure network                                  configure",
      " d: Change root password                               password set",
      " g: Enable sshd (Secure Shell daemon)                  NO",
      " x: Finished configuring",
    ].join("\n");
    const sshd = findItem(screen, /^Enable sshd/);
    assert.deepEqual(
      [sshd?.letter, sshd?.label, sshd?.value],
      ["g", "Enable sshd (Secure Shell daemon)", "NO"],
    );
    assert.equal(findItem(screen, /^Change root password/)?.value, "password set");
  });

  it("finds a label that reached the screen in two pieces, a cursor jump in between", async () => {
    // curses wrote "│ b: Use ser", jumped to draw the right border, came back for "ial port com0".
    const bytes =
      "\x1b[H\x1b[2J" +
      cup(3, 10) +
      acs("l" + "q".repeat(26) + "k") +
      cup(4, 10) +
      acs("x") +
      " a: Use BIOS console" +
      cup(4, 37) +
      acs("x") +
      cup(5, 10) +
      acs("x") +
      ">b: Use ser" +
      cup(5, 37) +
      acs("x") +
      cup(5, 22) +
      "ial port com0" +
      cup(6, 10) +
      acs("m" + "q".repeat(26) + "j");
    assert.ok(!bytes.includes("Use serial port com0"), "the label is split in the byte stream");
    const text = await render(bytes);
    assert.match(text, /│>b: Use serial port com0 *│/);
    assert.equal(findItem(text, /^Use serial port com0$/)?.letter, "b");
  });

  it("does not accept a label that is only partly drawn yet", async () => {
    const partial = await render("\x1b[H\x1b[2J" + cup(5, 10) + acs("x") + ">b: Use ser");
    assert.equal(findItem(partial, /^Use serial port com0$/), undefined);
    assert.equal(recogniseScreen(viewOf(partial), { flavor: "netbsd9plus" }), undefined);
  });

  it("ignores the moving '>' marker when telling whether a screen is the same", () => {
    const moved = BOOTBLOCKS.replace("│>b:", "│ b:").replace("│ a:", "│>a:");
    assert.notEqual(moved, BOOTBLOCKS);
    assert.equal(screenSignature(moved), screenSignature(BOOTBLOCKS));
    assert.notEqual(screenSignature(BOOTBLOCKS.replace("9600", "115200")), screenSignature(BOOTBLOCKS));
  });
});

describe("sysinst screens: recognisers", () => {
  const id = (text: string, flavor: "netbsd6" | "netbsd9plus" = "netbsd9plus") =>
    recogniseScreen(viewOf(text), { flavor })?.id;

  it("tells the language menu from the main menu (both show the welcome text)", () => {
    const hello =
      "NetBSD/amd64 10.1\n\nThis menu-driven tool is designed to help you install NetBSD to a hard\n";
    assert.equal(
      id(hello + " >a: Installation messages in English\n  b: Installation auf Deutsch"),
      "language",
    );
    assert.equal(
      id(
        hello +
          "  NetBSD-10.1 Install System\n >a: Install NetBSD to hard disk\n  d: Reboot the computer\n  x: Exit Install System",
      ),
      "main-menu",
    );
  });

  it("sees the baud submenu before the bootblocks menu it is drawn over", () => {
    assert.equal(id(BOOTBLOCKS), "bootblocks");
    const withSubmenu =
      BOOTBLOCKS +
      "\n" +
      ["      │ a: 9600   │", "      │ b: 19200  │", "      │ e: 115200 │", "      │ f: BIOS   │"].join("\n");
    assert.equal(id(withSubmenu), "serial-baud");
  });

  it("answers passwd's prompts by their text, also inside the status window", () => {
    const run = " Status: Running\nCommand: passwd -l root\n────────\nChanging local password for root.\n";
    assert.equal(id(run + "New password:"), "new-password");
    assert.equal(
      id(
        run +
          "New password:\nPlease don't use an all-lower case password.\nUnusual capitalization, control characters or digits are suggested.\nNew password:",
      ),
      "new-password",
    );
    assert.equal(id(run + "New password:\nRetype new password:"), "retype-password");
    assert.equal(id(run + "New password:\nRetype new password:\n"), "retype-password");
    assert.equal(id(run), "running");
  });

  it("reads the terminal type question only while it waits for an answer", () => {
    const q =
      "You are using a serial console, we do not know your terminal emulation.\n\nTerminal type (just hit ENTER for 'vt220'): ";
    assert.equal(id(q), "terminal-type");
    assert.notEqual(id(q + "vt100"), "terminal-type");
    assert.equal(id("Terminal type? [vt100]"), "terminal-type");
  });

  it("reports sysinst's failures as errors", () => {
    const s = recogniseScreen(viewOf("Release set kern-GENERIC does not exist.\n\n  Hit enter to continue"), {
      flavor: "netbsd9plus",
    });
    assert.equal(s?.kind, "error");
    assert.equal(id(" Status: Command failed\nCommand: /sbin/newfs -V2 -O 2 /dev/rdk0"), "command-failed");
  });

  it("keeps NetBSD 6's layout menu to the netbsd6 flavor", () => {
    const layout =
      "Choose your installation\n a: Set sizes of NetBSD partitions\n b: Use existing partition sizes";
    assert.equal(id(layout, "netbsd6"), "layout-set-sizes");
    assert.equal(id(layout, "netbsd9plus"), undefined);
  });

  it("knows nothing of a screen it has never seen", () => {
    assert.equal(id("Would you like fries with that?\n  a: Perhaps\n  b: Only on Tuesdays"), undefined);
  });
});

describe("boot loader menu", () => {
  it("reads boot.cfg entries as bootmenu.c prints them, two-digit numbers included", () => {
    const out = [
      "",
      "     1. Boot normally",
      "     2. Boot single user",
      "     9. Drop to boot prompt",
      "    10. Xen",
      "",
      "Choose an option; RETURN for default; SPACE to stop countdown.",
      "Option 1 will be chosen in 5 seconds.",
    ].join("\n");
    assert.deepEqual(parseBootMenu(out), [
      { number: 1, label: "Boot normally" },
      { number: 2, label: "Boot single user" },
      { number: 9, label: "Drop to boot prompt" },
      { number: 10, label: "Xen" },
    ]);
  });
});
