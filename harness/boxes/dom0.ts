/**
 * What every box's dom0 steps do the same way, whatever the OS: find the running machine and its shell,
 * reboot and log in again (under the boot watchdog), attach a domU's console with `xl create -c` and
 * leave it with ^], wait for a domain in `xl list`. A box brings its own commands and typing.
 */
import { ExpectTimeoutError, type Console } from "../console/console.ts";
import { GuestShell, type Typing } from "../console/shell.ts";
import { withBootWatchdog } from "../machine/boot-watchdog.ts";
import { bootWatchdogMs } from "../steps/boot.ts";
import { HarnessError } from "../../lib/errors.ts";
import type { HowtoState } from "./box.ts";
import { loginAsRoot } from "./login.ts";

/** Xen's banner on its console: `(XEN) Xen version 4.17.5 ...`. */
export const XEN_BANNER = /\(XEN\) Xen version (\d+\.\d+)/;

/** The running machine, its console and the shell on it; a step that finds none has a bug. */
export function live(state: HowtoState) {
  const { machine, shell } = state;
  if (!machine || !shell)
    throw new HarnessError("no running machine with a shell: an earlier step did not leave one");
  return { machine, shell, console: machine.console };
}

export interface RebootOptions {
  /** The OS's reboot command ("shutdown -r now", "systemctl reboot"). */
  command: string;
  /** What the boot must show, in order; each match is returned. */
  mustSee: RegExp[];
  password: string;
  typing: Typing;
  /** For each wait of the boot (each mustSee, the login). */
  timeoutMs: number;
  /** The login may take longer than one boot message (a slow rc under TCG). Default timeoutMs. */
  loginTimeoutMs?: number;
}

/** Reboots the guest from its own shell and logs in again, checking the boot shows what it must. */
export async function rebootAndLogin(state: HowtoState, o: RebootOptions): Promise<RegExpExecArray[]> {
  const { machine, console } = live(state);
  state.shell = undefined;
  await console.sendLine(o.command, { keyDelayMs: o.typing.keyDelayMs });
  return withBootWatchdog(machine, state.ctx.accel, bootWatchdogMs(state), "reboot", async () => {
    const seen: RegExpExecArray[] = [];
    for (const pattern of o.mustSee) {
      const m = await console.expect(pattern, { timeoutMs: o.timeoutMs, description: `reboot: ${pattern}` });
      seen.push(m.match);
    }
    state.shell = await loginAsRoot(console, {
      password: o.password,
      timeoutMs: o.loginTimeoutMs ?? o.timeoutMs,
      typing: o.typing,
    });
    return seen;
  });
}

/** A domU's console, attached by `xl create -c`, and the dom0 shell to come back to. */
export interface DomUConsole {
  console: Console;
  dom0: GuestShell;
}

/** Types `xl create -c CONFIG`: from here on the console is the domU's until leaveDomUConsole(). */
export async function createWithConsole(
  state: HowtoState,
  configPath: string,
  typing: Typing,
): Promise<DomUConsole> {
  const { console, shell: dom0 } = live(state);
  state.shell = undefined;
  await console.sendLine(`xl create -c ${configPath}`, { keyDelayMs: typing.keyDelayMs });
  return { console, dom0 };
}

/**
 * ^] leaves xl console and the dom0's shell prints its prompt again; nothing more is typed before it
 * shows (what follows ^] too closely may still go to xl console). Without the prompt, RETURN and a
 * fresh prompt.
 */
export async function leaveDomUConsole(state: HowtoState, c: DomUConsole, typing: Typing): Promise<void> {
  await c.console.send("\x1d");
  try {
    await c.console.expect(c.dom0.prompt, {
      timeoutMs: 60_000,
      description: "the dom0's prompt after leaving xl console",
    });
    state.shell = c.dom0;
  } catch (error) {
    if (!(error instanceof ExpectTimeoutError)) throw error;
    await c.console.send("\r");
    state.shell = await GuestShell.attach(c.console, { timeoutMs: 120_000, ...typing });
  }
}

/**
 * The configured domUs that start with the dom0 (HOWTO: xendomains). With none, the xendomains line is
 * recorded as not exercised and the list is empty.
 */
export function autostartDomUNames(state: HowtoState): string[] {
  const names = state.ctx.config.domUs.filter((x) => x.autostart).map((x) => x.name);
  if (names.length === 0)
    state.checks.push({
      id: "xendomains",
      status: "not-exercised",
      note: "no domU has autostart: true in the configuration",
    });
  return names;
}
