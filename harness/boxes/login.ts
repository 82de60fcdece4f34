import { ExpectTimeoutError, type Console } from "../console/console.ts";
import { GuestShell, type Typing } from "../console/shell.ts";
import { HarnessError } from "../../lib/errors.ts";

export class LoginFailedError extends HarnessError {
  constructor(
    message: string,
    readonly lastScreen: string,
  ) {
    super(`${message}\nlast screen:\n${lastScreen}`);
  }
}

export interface LoginOptions {
  user?: string;
  password: string;
  /** Overall time to reach a shell (covers a boot still in progress). */
  timeoutMs: number;
  typing?: Typing;
  /** The guest's shell timeout for each later exec. */
  shellTimeoutMs?: number;
}

const LOGIN = /login: *$/;
const PASSWORD = /Password: *$/;
const PROMPT = /[#$] (?:\x1b\[6n)?$/;
const INCORRECT = /Login incorrect/;

/**
 * From wherever a serial console is (booting, at `login:`, at a password prompt, at a shell prompt) to a
 * root GuestShell. Nudges the console with RETURN whenever it stays quiet, as a person would.
 */
export async function loginAsRoot(console: Console, opts: LoginOptions): Promise<GuestShell> {
  const deadline = Date.now() + opts.timeoutMs;
  let failures = 0;
  while (Date.now() < deadline) {
    let m;
    try {
      m = await console.expect([LOGIN, PASSWORD, PROMPT, INCORRECT], {
        timeoutMs: Math.max(1000, Math.min(2500, deadline - Date.now())),
        description: "login prompt, password prompt or shell prompt",
      });
    } catch (error) {
      if (!(error instanceof ExpectTimeoutError)) throw error;
      await console.send("\r");
      continue;
    }
    if (m.index === 0) await console.sendLine(opts.user ?? "root", { keyDelayMs: opts.typing?.keyDelayMs });
    else if (m.index === 1)
      await console.sendLine(opts.password, { keyDelayMs: opts.typing?.keyDelayMs, secret: true });
    else if (m.index === 2)
      return GuestShell.attach(console, {
        timeoutMs: opts.shellTimeoutMs ?? 120_000,
        ...opts.typing,
      });
    else if (++failures >= 2)
      throw new LoginFailedError(`login as ${opts.user ?? "root"} failed twice`, console.screenText());
  }
  throw new LoginFailedError(`no shell within ${Math.round(opts.timeoutMs / 1000)}s`, console.screenText());
}
