import type { ScreenView } from "./screen-text.ts";

/** NetBSD 6's sysinst (distrib/utils/sysinst) or the rewritten one of 9.x/10.x (usr.sbin/sysinst). */
export type SysinstFlavor = "netbsd6" | "netbsd9plus";

export interface SysinstAnswers {
  flavor: SysinstFlavor;
  /** Release being installed, e.g. "6.1.5", "10.1" (used in logs and to expect 10.x-only screens). */
  version: string;
  /**
   * The NetBSD device name of the disk to install on ("wd0", "sd0", "ld0"): the disk the harness
   * attached (see netbsdDiskName). The disk menu must list it; sysinst never gets the first disk blindly.
   */
  targetDisk: string;
  /** Answer to the install CD's "Terminal type" question, e.g. "vt100". */
  terminalType: string;
  /** Root password to set; "" leaves root without a password. */
  rootPassword: string;
  sets: "minimal" | "full" | "custom";
  /** Speed of the serial console the installed bootblocks use (com0). */
  serialBaud: number;
  network: "dhcp";
  sshd: boolean;
  /** Partitioning scheme when sysinst offers a choice (9.x/10.x). Default "gpt". */
  partitionScheme?: "gpt" | "mbr";
  /** Where the sets come from (sysinst's "Install from" menu). Default: the CD. */
  source?: SetsSource;
}

/**
 * The sets medium: the sets CD, or an HTTP server (get_via_ftp(XFER_HTTP)), whose sets sysinst
 * fetches from `http://host/dir/setDir/` (host may carry a port: "10.0.2.2:8080").
 */
export type SetsSource = { kind: "cdrom" } | { kind: "http"; host: string; dir: string; setDir: string };

/** What the driver has done so far: the screens themselves do not say it (e.g. that the network is set up). */
export interface SysinstState {
  installDone: boolean;
  networkDone: boolean;
  rebootChosen: boolean;
  /** How often a config-menu item was chosen, to stop instead of looping when it does not take. */
  configAttempts: Record<string, number>;
}

export interface ActContext {
  answers: SysinstAnswers;
  state: SysinstState;
  log: (line: string) => void;
  /** Types a menu letter and Enter (sysinst: the letter selects, Enter activates). */
  choose(view: ScreenView, label: RegExp, what: string): Promise<void>;
  /** Presses Enter (accepts the current item, a default value, or "Hit enter to continue"). */
  enter(what: string): Promise<void>;
  /** Types a line of text and Enter. */
  typeLine(text: string, what: string, opts?: { secret?: boolean }): Promise<void>;
  /** Reports a failure the answers cannot get past. */
  fail(reason: string, view: ScreenView): never;
}

/**
 * One screen sysinst (or the install CD around it) can show.
 * - act: answer it, once per distinct screen.
 * - wait: things are happening (kernel messages, a blank screen while curses redraws); keep watching.
 * - progress: like wait, and changes on it count as progress (set extraction, newfs, dhcpcd).
 * - error: sysinst says something went wrong.
 */
export interface KnownScreen {
  id: string;
  kind: "act" | "wait" | "progress" | "error";
  /** Only for these flavors (default: all). */
  flavors?: readonly SysinstFlavor[];
  matches(view: ScreenView, state: SysinstState): boolean;
  act?(ctx: ActContext, view: ScreenView): Promise<void>;
  /** For error screens: what went wrong, in words. */
  reason?(view: ScreenView): string;
}
