export type { ConsoleStream } from "./types.ts";
export { ptyStream, spawnPtyStream } from "./pty-stream.ts";
export { Screen } from "./screen.ts";
export {
  Console,
  ConsoleClosedError,
  ExpectTimeoutError,
  describePattern,
  type ConsoleOptions,
  type ExpectMatch,
  type ExpectOptions,
  type Pattern,
} from "./console.ts";
export { EscapeStripper, Transcript } from "./transcript.ts";
export {
  CommandFailedError,
  GarbledCommandError,
  GuestShell,
  type ExecOptions,
  type ExecResult,
  type GuestShellOptions,
  type Typing,
} from "./shell.ts";
