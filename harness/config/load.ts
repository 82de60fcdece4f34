import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import { UsageError } from "../../lib/errors.ts";
import { configSchema, type HarnessConfig } from "./schema.ts";

export const CONFIG_FILE = "nbxen.config.json";

/** A configuration problem: names the file, the field, the bad value and what is allowed. */
export class ConfigError extends UsageError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

export interface LoadedConfig {
  config: HarnessConfig & { cacheDir: string; stateDir: string };
  /** The file it came from, or undefined when none exists and defaults apply. */
  file?: string;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true });
const validate = ajv.compile(configSchema);

function describeValue(v: unknown): string {
  return v === undefined ? "(missing)" : JSON.stringify(v);
}

function valueAt(data: unknown, pointer: string): unknown {
  let cur: unknown = data;
  for (const part of pointer.split("/").slice(1)) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part.replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  return cur;
}

function formatError(e: ErrorObject, data: unknown): string {
  const field = e.instancePath ? e.instancePath.slice(1).replace(/\//g, ".") : "(top level)";
  const value = describeValue(valueAt(data, e.instancePath));
  switch (e.keyword) {
    case "additionalProperties": {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys(
        (e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties ?? {},
      ).filter((k) => k !== "$schema");
      return `${field === "(top level)" ? "" : field + "."}${extra}: unknown field; allowed fields: ${known.join(", ")}`;
    }
    case "enum":
      return `${field}: ${value} is not allowed; allowed: ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}`;
    case "required":
      return `${field}: missing required field "${(e.params as { missingProperty: string }).missingProperty}"`;
    default:
      return `${field}: ${value} is not allowed: ${e.message ?? e.keyword}`;
  }
}

/** Validates a parsed config object (applying defaults); throws ConfigError listing every problem. */
export function validateConfig(data: unknown, file: string): HarnessConfig {
  const copy = structuredClone(data ?? {});
  if (!validate(copy))
    throw new ConfigError(
      file,
      (validate.errors ?? []).map((e) => formatError(e, data)),
    );
  const config = copy as HarnessConfig;
  const names = config.domUs.map((d) => d.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup)
    throw new ConfigError(file, [
      `domUs: the name ${JSON.stringify(dup)} is used twice; domU names must be unique`,
    ]);
  if (config.dom0MemoryMiB >= config.memoryMiB)
    throw new ConfigError(file, [
      `dom0MemoryMiB: ${config.dom0MemoryMiB} is not allowed: it must be less than memoryMiB (${config.memoryMiB}), the memory of the whole machine`,
    ]);
  return config;
}

export function defaultCacheDir(): string {
  if (process.env.NBXEN_CACHE_DIR) return path.resolve(process.env.NBXEN_CACHE_DIR);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(xdg, "nbxen");
}

/**
 * Loads `--config PATH`, or nbxen.config.json in the current directory, or the defaults when there is none.
 * Relative paths in it are relative to the config file's directory.
 */
export async function loadConfig(opts: { configPath?: string; cwd?: string } = {}): Promise<LoadedConfig> {
  const cwd = opts.cwd ?? process.cwd();
  const file = path.resolve(cwd, opts.configPath ?? CONFIG_FILE);
  let text: string | undefined;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT" || opts.configPath)
      throw new ConfigError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  let data: unknown = {};
  if (text !== undefined) {
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(file, [`not valid JSON: ${(error as Error).message}`]);
    }
  }
  const config = validateConfig(data, file);
  const base = path.dirname(file);
  return {
    file: text === undefined ? undefined : file,
    config: {
      ...config,
      cacheDir: config.cacheDir ? path.resolve(base, config.cacheDir) : defaultCacheDir(),
      stateDir: path.resolve(base, config.stateDir ?? ".nbxen"),
      ...(config.xenPackageFiles
        ? { xenPackageFiles: config.xenPackageFiles.map((f) => path.resolve(base, f)) }
        : {}),
    },
  };
}
