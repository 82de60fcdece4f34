/**
 * The sysinst driver's clocks, against a scripted console (rendered screens that change when the
 * driver types, or when a script says so): a pause in kernel autoconf is not an unknown screen, a
 * command silent under "Status: Running" outlives the per-screen timeout, and the bound on such
 * silence ends with an error that shows the screen.
 */
import assert from "node:assert/strict";
import type { Console } from "../../harness/console/index.ts";
import { runSysinst, SysinstTimeoutError, UnknownScreenError } from "../../harness/boxes/netbsd/sysinst.ts";
import type { SysinstAnswers } from "../../harness/boxes/netbsd/sysinst/types.ts";

/** A console whose screen is set by the test and by what the driver types (reactions). */
class ScriptedConsole {
  screen = "";
  closed = false;
  typed: string[] = [];
  constructor(private readonly react: (typed: string, self: ScriptedConsole) => void = () => undefined) {}
  screenText(): string {
    return this.screen;
  }
  async send(text: string): Promise<void> {
    this.typed.push(text);
    this.react(text, this);
  }
  async sendLine(text: string): Promise<void> {
    await this.send(`${text}\r`);
  }
  async expect(): Promise<never> {
    throw new Error("nothing to match");
  }
}

const AUTOCONF = [
  "atabus0 at piixide0 channel 0",
  "atabus1 at piixide0 channel 1",
  "wm0 at pci0 dev 3 function 0: Intel i82540EM 1000BASE-T Ethernet (rev. 0x03)",
  "wd0 at atabus0 drive 0",
].join("\n");

const NEWFS = [
  " Status: Running",
  "Command: /sbin/newfs -V2 -O 2 /dev/rdk0",
  "────────────────────────────────────────────────────────────────────────────────",
].join("\n");

const COMPLETE = [
  " The installation of NetBSD-10.1 is now complete.  The system should boot from",
  " hard disk.",
  "",
  "                         ┌──────────────────────────┐",
  "                         │>Hit enter to continue    │",
  "                         └──────────────────────────┘",
].join("\n");

const MAIN = [
  " NetBSD/amd64 10.1",
  "",
  "            ┌──────────────────────────────────────────────┐",
  "            │          NetBSD-10.1 Install System          │",
  "            │                                              │",
  "            │>a: Install NetBSD to hard disk               │",
  "            │ b: Upgrade NetBSD on a hard disk             │",
  "            │ c: Re-install sets or install additional sets│",
  "            │ d: Reboot the computer                       │",
  "            │ x: Exit Install System                       │",
  "            └──────────────────────────────────────────────┘",
].join("\n");

const ANSWERS: SysinstAnswers = {
  flavor: "netbsd9plus",
  version: "10.1",
  targetDisk: "wd0",
  terminalType: "vt100",
  rootPassword: "x",
  sets: "minimal",
  serialBaud: 115200,
  network: "dhcp",
  sshd: true,
};

const FAST = { settleMs: 60, unknownScreenMs: 250, keyDelayMs: 0, screenTimeoutMs: 400 };

/** "Install complete" then the main menu, where the driver chooses reboot and returns. */
function finishOnEnter(typed: string, c: ScriptedConsole): void {
  if (typed === "\r" && c.screen === COMPLETE) c.screen = MAIN;
}

/** Shows `first` for `ms`, then the install-complete screen. */
function scripted(first: string, ms: number): ScriptedConsole {
  const c = new ScriptedConsole(finishOnEnter);
  c.screen = first;
  setTimeout(() => {
    c.screen = COMPLETE;
  }, ms).unref();
  return c;
}

describe("sysinst driver: timeouts", function () {
  this.timeout(10_000);

  it("waits through a pause in kernel autoconf four times the unknown-screen delay", async () => {
    const c = scripted(AUTOCONF, 1000);
    await runSysinst(c as unknown as Console, ANSWERS, { ...FAST, screenTimeoutMs: 3000 });
    assert.deepEqual(c.typed, ["\r", "d", "\r"]);
  });

  it("still stops at once on a screen that is neither kernel output nor sysinst's", async () => {
    const c = scripted(" Something the driver has never seen\n\n   a: Perhaps", 3000);
    const began = Date.now();
    const err = await runSysinst(c as unknown as Console, ANSWERS, FAST).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof UnknownScreenError, String(err));
    assert.ok(Date.now() - began < 1500);
  });

  it("lets a command stay silent under 'Status: Running' longer than the per-screen timeout", async () => {
    const c = scripted(NEWFS, 1200); // three times screenTimeoutMs (400 ms)
    await runSysinst(c as unknown as Console, ANSWERS, { ...FAST, silenceTimeoutMs: 5000 });
    assert.deepEqual(c.typed, ["\r", "d", "\r"]);
  });

  it("bounds that silence, and the error names the command and shows the screen", async () => {
    const c = scripted(NEWFS, 60_000);
    const began = Date.now();
    const err = await runSysinst(c as unknown as Console, ANSWERS, { ...FAST, silenceTimeoutMs: 900 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof SysinstTimeoutError, String(err));
    assert.equal(err.timeoutMs, 900);
    assert.match(
      err.message,
      /\/sbin\/newfs -V2 -O 2 \/dev\/rdk0\) showed no output and no progress within 0\.9s/,
    );
    assert.match(err.screen, /Status: Running/);
    const took = Date.now() - began;
    assert.ok(took >= 900 && took < 3000, `took ${took} ms`);
  });

  it("keeps the per-screen timeout for a screen that waits for nothing to run", async () => {
    // kernel output that stops: not a running command, so screenTimeoutMs applies
    const c = scripted(AUTOCONF, 60_000);
    const err = await runSysinst(c as unknown as Console, ANSWERS, { ...FAST, silenceTimeoutMs: 5000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof SysinstTimeoutError, String(err));
    assert.equal(err.timeoutMs, 400);
    assert.match(err.message, /no change after "booting"/);
  });
});
