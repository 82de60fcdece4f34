import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { HarnessError } from "../../lib/errors.ts";

export type HashAlgorithm = "sha512" | "sha256";
export interface ExpectedChecksum {
  algorithm: HashAlgorithm;
  hex: string;
}
export type ParsedAlgorithm = HashAlgorithm | "md5";
export interface ChecksumEntry {
  algorithm: ParsedAlgorithm;
  hex: string;
}

const HEX_LENGTH: Record<ParsedAlgorithm, number> = { md5: 32, sha256: 64, sha512: 128 };
const STRENGTH: Record<ParsedAlgorithm, number> = { md5: 0, sha256: 1, sha512: 2 };

// BSD style, as in NetBSD's SHA512/MD5 files: "SHA512 (base.tgz) = <hex>"
const BSD_LINE = /^(SHA512|SHA256|MD5) \((.+)\) = ([0-9a-fA-F]+)$/;
// GNU coreutils style: "<hex>  name" (text mode) or "<hex> *name" (binary mode)
const GNU_LINE = /^([0-9a-fA-F]+) [ *](.+)$/;

function algorithmForHexLength(length: number): ParsedAlgorithm | undefined {
  for (const [algorithm, expected] of Object.entries(HEX_LENGTH)) {
    if (expected === length) return algorithm as ParsedAlgorithm;
  }
  return undefined;
}

function normaliseEntryName(name: string): string {
  return name.startsWith("./") ? name.slice(2) : name;
}

/**
 * Parse a checksum file in BSD style (`SHA512 (file) = hex`) or GNU style (`hex  file`), mixed freely.
 * Keys are file names as listed (a leading "./" dropped). When a name appears with several algorithms,
 * the strongest wins. MD5 entries are returned so callers can report them, never to be trusted alone.
 * Lines that match neither style (comments, PGP armour, blanks) are ignored.
 */
export function parseChecksumFile(text: string): Map<string, ChecksumEntry> {
  const entries = new Map<string, ChecksumEntry>();
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    let name: string | undefined;
    let entry: ChecksumEntry | undefined;
    const bsd = BSD_LINE.exec(line);
    if (bsd) {
      const algorithm = bsd[1]!.toLowerCase() as ParsedAlgorithm;
      if (bsd[3]!.length !== HEX_LENGTH[algorithm]) continue;
      name = bsd[2]!;
      entry = { algorithm, hex: bsd[3]!.toLowerCase() };
    } else {
      const gnu = GNU_LINE.exec(line);
      if (!gnu) continue;
      const algorithm = algorithmForHexLength(gnu[1]!.length);
      if (!algorithm) continue;
      name = gnu[2]!;
      entry = { algorithm, hex: gnu[1]!.toLowerCase() };
    }
    const key = normaliseEntryName(name);
    const previous = entries.get(key);
    if (!previous || STRENGTH[entry.algorithm] > STRENGTH[previous.algorithm]) entries.set(key, entry);
  }
  return entries;
}

export async function hashFile(path: string, algorithm: HashAlgorithm): Promise<string> {
  const hash = createHash(algorithm);
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

export function isValidHex(algorithm: HashAlgorithm, hex: string): boolean {
  return hex.length === HEX_LENGTH[algorithm] && /^[0-9a-fA-F]+$/.test(hex);
}

export class ChecksumMismatchError extends HarnessError {
  readonly url: string;
  /** The artifact's name, as the contract asks; it shadows Error.name (use instanceof, not .name). */
  declare readonly name: string;
  readonly algorithm: HashAlgorithm;
  readonly expected: string;
  readonly actual: string;
  constructor(fields: {
    url: string;
    name: string;
    algorithm: HashAlgorithm;
    expected: string;
    actual: string;
  }) {
    super(
      `Checksum mismatch for ${fields.name} downloaded from ${fields.url}: ` +
        `expected ${fields.algorithm} ${fields.expected}, got ${fields.actual}. ` +
        `The download was discarded; if this persists the source or its checksum file is wrong.`,
    );
    this.url = fields.url;
    void this.stack; // format the stack header while name is still the class name
    this.name = fields.name;
    this.algorithm = fields.algorithm;
    this.expected = fields.expected;
    this.actual = fields.actual;
  }
}

export class ChecksumEntryMissingError extends HarnessError {
  readonly checksumUrl: string;
  readonly entry: string;
  constructor(checksumUrl: string, entry: string, detail: string) {
    super(`Checksum file ${checksumUrl} has no usable entry for "${entry}": ${detail}`);
    this.checksumUrl = checksumUrl;
    this.entry = entry;
  }
}
