#!/usr/bin/env node
// Entry point of the `nbxen` command: loads the TypeScript sources through tsx (no build step).
import { register } from "tsx/esm/api";
register();
const { main } = await import("../harness/cli/main.ts");
process.exitCode = await main(process.argv);
