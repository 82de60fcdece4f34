import type { BootMode, HowtoState } from "../boxes/box.ts";
import { withBootWatchdog } from "../machine/boot-watchdog.ts";
import { Machine, MachineNotRunningError } from "../machine/machine.ts";
import { throwIfAborted } from "../../lib/abort.ts";

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
 * The one way steps and the runner start machines; the machine lives in `state.machine`, which the run
 * (HowtoSession) owns and stops. The run's signal (`state.ctx.signal`) is bound to the machine's console.
 */
export async function bootMachine(
  state: HowtoState,
  mode: BootMode,
  opts: BootOptions = {},
): Promise<Machine> {
  const signal = state.ctx.signal;
  const current = state.machine;
  state.machine = undefined;
  state.shell = undefined;
  if (current) {
    if (opts.powerdownFirst) await current.powerdown({ timeoutMs: 120_000 });
    else await current.stop();
  }
  let left: Machine | undefined;
  try {
    left = await Machine.attach(state.box.name, state.ctx.machineDir);
  } catch (error) {
    if (!(error instanceof MachineNotRunningError)) throw error;
  }
  if (left) {
    // The session's run lock guarantees no other run owns it: it was detached by an earlier `nbxen up`.
    state.ctx.reporter.info(`stopping the ${state.box.name} machine an earlier \`nbxen up\` left running`);
    await left.stop();
  }
  throwIfAborted(signal);
  const options = await state.box.machineOptions(state, mode);
  const machine = await Machine.start({
    ...options,
    ...(opts.snapshot !== undefined ? { resumeSnapshot: opts.snapshot } : {}),
    ...(signal ? { signal } : {}),
  });
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
