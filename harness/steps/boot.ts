import type { BootMode, HowtoState } from "../boxes/box.ts";
import { withBootWatchdog } from "../machine/boot-watchdog.ts";
import { Machine } from "../machine/machine.ts";

export interface BootOptions {
  /** Restore this step snapshot before the guest runs. */
  snapshot?: string;
  /** Power the running machine off through ACPI (a clean guest shutdown) instead of stopping it at once. */
  powerdownFirst?: boolean;
  /** Log in and leave a shell in state.shell (default true). */
  login?: boolean;
}

/**
 * (Re)starts the box's machine in a boot mode: ends the machine this run holds and any machine an earlier
 * `nbxen up` left running in the same state dir, boots, optionally restores a snapshot, and logs in.
 * The one way steps and the runner start machines.
 */
export async function bootMachine(
  state: HowtoState,
  mode: BootMode,
  opts: BootOptions = {},
): Promise<Machine> {
  const current = state.machine;
  state.machine = undefined;
  state.shell = undefined;
  if (current) {
    if (opts.powerdownFirst) await current.powerdown({ timeoutMs: 120_000 });
    else await current.stop();
  }
  try {
    const left = await Machine.attach(state.box.name, state.ctx.machineDir);
    state.ctx.reporter.info(`stopping the ${state.box.name} machine an earlier \`nbxen up\` left running`);
    await left.stop();
  } catch {
    // nothing running there
  }
  const options = await state.box.machineOptions(state, mode);
  const machine = await Machine.start({ ...options, resumeSnapshot: opts.snapshot });
  state.machine = machine;
  state.bootMode = mode;
  if (opts.login !== false)
    state.shell = await withBootWatchdog(machine, state.ctx.accel, bootWatchdogMs(state), "boot", () =>
      state.box.login(machine, { timeoutMs: 900_000 }),
    );
  return machine;
}

/** The boot watchdog's bound for this run (qemu.bootWatchdogSeconds; 0 = off). */
export function bootWatchdogMs(state: HowtoState): number {
  return state.ctx.config.qemu.bootWatchdogSeconds * 1000;
}
