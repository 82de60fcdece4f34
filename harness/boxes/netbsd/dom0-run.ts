/** How the NetBSD steps drive the dom0's shell: typed commands with their HOWTO lines, and reboots. */
import { HarnessError } from "../../../lib/errors.ts";
import type { HowtoState } from "../box.ts";
import { live, rebootAndLogin } from "../dom0.ts";
import { NETBSD_ROOT_PASSWORD, NETBSD_TYPING } from "./box-files.ts";
import { xenEntry, type XenEntry } from "./bootcfg.ts";
import type { GuestCommand } from "./dom0-commands.ts";

export const SERIAL_BAUD = 9600;
/**
 * The kernel's root device line (sys/kern/kern_subr.c setroot: "root on %s"). Under Xen the dom0 gets no
 * boot device from the loader, so this line is the proof that it found its root file system.
 */
const ROOT_ON = /root on (\S+)/;

/** Types each command; a `check` command must exit 0; each HOWTO line is recorded with how it fared. */
export async function runCommands(
  state: HowtoState,
  commands: GuestCommand[],
  timeoutMs = 600_000,
): Promise<void> {
  for (const c of commands) {
    const r = await live(state).shell.exec(c.sh, { timeoutMs });
    if (r.exitCode !== 0 && (c.check || c.howto))
      throw new HarnessError(
        `command failed with status ${r.exitCode}: ${c.sh.split("\n")[0]}\n${r.output.slice(-2000)}`,
      );
    if (c.howto && c.deviation) state.checks.push({ id: c.howto, status: "deviation", note: c.deviation });
  }
}

/** Reboots the dom0 and logs in again; the dom0 kernel must say where its root is (`root on ...`). */
export async function rebootInto(state: HowtoState, mustSee: RegExp[]): Promise<void> {
  const seen = await rebootAndLogin(state, {
    command: "shutdown -r now",
    mustSee: [...mustSee, ROOT_ON],
    password: NETBSD_ROOT_PASSWORD,
    typing: NETBSD_TYPING,
    timeoutMs: 600_000,
    loginTimeoutMs: 900_000,
  });
  state.ctx.reporter.info(`dom0 kernel: root on ${seen[seen.length - 1]![1]}`);
}

/** The harness's artifact server as the guest reaches it, serving the cache (release files, packages). */
export function cacheServerUrl(state: HowtoState): string {
  state.ctx.server.mount("/", state.ctx.config.cacheDir);
  return state.ctx.server.guestUrl;
}

/** The Xen entry the boot-xen step puts in /boot.cfg as the default (serial consoles, the dom0's memory). */
export function dom0XenEntry(state: HowtoState): XenEntry {
  return xenEntry({ dom0MemMiB: state.ctx.config.dom0MemoryMiB, serial: true, serialSpeed: SERIAL_BAUD });
}
