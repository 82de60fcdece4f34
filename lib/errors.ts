/**
 * Base class of every error the harness raises on purpose. `exitCode` is what the CLI exits with:
 * 1 = a step or spec failed, 2 = bad usage or bad config (nothing was started).
 */
export class HarnessError extends Error {
  readonly exitCode: 1 | 2;
  constructor(message: string, options: { cause?: unknown; exitCode?: 1 | 2 } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Bad user input (config, flags, box name): exit code 2. */
export class UsageError extends HarnessError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, exitCode: 2 });
  }
}
