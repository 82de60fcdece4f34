/**
 * Base class of every error the harness raises on purpose. `cliExitCode` is what `nbxen` exits with when
 * the error ends it: 1 = a step or spec failed, 2 = bad usage or bad config (nothing was started),
 * 128 + n = interrupted by signal n (InterruptedError).
 */
export class HarnessError extends Error {
  readonly cliExitCode: number;
  constructor(message: string, options: { cause?: unknown; cliExitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.cliExitCode = options.cliExitCode ?? 1;
  }
}

/** Bad user input (config, flags, box name): exit code 2. */
export class UsageError extends HarnessError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, cliExitCode: 2 });
  }
}
