import { constants } from "node:fs";
import { access, mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, posix, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { HarnessError, UsageError } from "../../harness/util/errors.ts";
import {
  ChecksumEntryMissingError,
  ChecksumMismatchError,
  hashFile,
  isValidHex,
  parseChecksumFile,
  type ChecksumEntry,
  type ExpectedChecksum,
  type HashAlgorithm,
} from "./checksum.ts";
import { copyToFile, downloadToFile, DownloadError, fetchText, type TransferOptions } from "./download.ts";
import { acquireLock } from "./lock.ts";

export interface ArtifactSpec {
  /** Cache-relative path, also the key: "netbsd-6.1.5/amd64/installation/cdrom/boot-com.iso" */
  name: string;
  /** Primary URL. */
  url: string;
  /** Path relative to a mirror root, used when the store has a mirror ("NetBSD-6.1.5/amd64/..."). */
  mirrorPath?: string;
  /** A known checksum, or... */
  checksum?: ExpectedChecksum;
  /** ...a checksum file fetched at fetch time (BSD "SHA512 (base.tgz) = hex" or GNU "hex  base.tgz"). */
  checksumFile?: { url: string; mirrorPath?: string; algorithm: HashAlgorithm; entry: string };
  /**
   * For a file upstream publishes no checksum for (pkgsrc's pkg_summary.gz): accept what arrives, record
   * its SHA-256, and hold the cached copy to it from then on (`verify()`). Logged as unverified.
   */
  trustOnFirstUse?: boolean;
}
export interface CachedArtifact {
  name: string;
  path: string;
  size: number;
  checksum: ExpectedChecksum;
  url: string;
  fromCache: boolean;
}
export interface DownloadProgress {
  name: string;
  url: string;
  receivedBytes: number;
  totalBytes?: number;
  attempt: number;
}
export interface VerifyResult {
  name: string;
  path: string;
  ok: boolean;
  algorithm?: HashAlgorithm;
  expected?: string;
  actual?: string;
  problem?: string;
}
export interface ArtifactStoreOptions {
  cacheDir: string;
  /** A directory or an http(s) URL laid out like the upstream tree. */
  mirror?: string;
  /** Retries after the first attempt (default 4). */
  retries?: number;
  /** Stall timeout per attempt (default 30000). */
  requestTimeoutMs?: number;
  /** TCP connect timeout per attempt (default min(requestTimeoutMs, 5000)); a connect timeout is retried once. */
  connectTimeoutMs?: number;
  onProgress?: (p: DownloadProgress) => void;
  log?: (line: string) => void;
}

/** The sidecar `<path>.meta.json`. A cache entry exists only when both it and the data file exist. */
interface ArtifactMeta {
  name: string;
  url: string;
  algorithm: HashAlgorithm;
  hex: string;
  size: number;
  fetchedAt: string;
}

const META_SUFFIX = ".meta.json";
const RESERVED_SUFFIXES = [META_SUFFIX, ".part", ".lock", ".lock.break", ".tmp"];

/** Where an artifact or checksum file comes from: an URL, or a file in a mirror directory. */
type Source = { kind: "url"; url: string } | { kind: "file"; path: string; url: string };

function isUrl(value: string): boolean {
  return /^https?:\/\//i.test(value);
}

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The cache's file system is full: the download stopped and its partial file was removed. */
export class CacheFullError extends HarnessError {
  constructor(
    readonly cacheDir: string,
    readonly url: string,
    readonly code: string,
    cause: unknown,
  ) {
    super(
      `no space left for the artifact cache ${cacheDir} (${code}) while downloading ${url}; ` +
        `the partial file was removed. Free space there, or set cacheDir (NBXEN_CACHE_DIR) to a larger file system.`,
      { cause },
    );
  }
}

/** ENOSPC or EDQUOT when the error (or one it was caused by) is a full file system. */
function noSpaceCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOSPC" || code === "EDQUOT") return code;
  }
  return undefined;
}

export class ArtifactStore {
  readonly cacheDir: string;
  readonly mirror: string | undefined;
  private readonly retries: number;
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number | undefined;
  private readonly onProgress: ((p: DownloadProgress) => void) | undefined;
  private readonly log: (line: string) => void;
  /** Checksum files fetched during this store's life, by source URL. */
  private readonly checksumLists = new Map<string, Promise<Map<string, ChecksumEntry>>>();

  constructor(opts: ArtifactStoreOptions) {
    this.cacheDir = resolve(opts.cacheDir);
    this.mirror =
      opts.mirror === undefined ? undefined : isUrl(opts.mirror) ? opts.mirror : resolve(opts.mirror);
    this.retries = opts.retries ?? 4;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.connectTimeoutMs = opts.connectTimeoutMs;
    this.onProgress = opts.onProgress;
    this.log = opts.log ?? (() => {});
  }

  pathOf(name: string): string {
    const normalised = posix.normalize(name);
    if (
      name === "" ||
      name.includes("\\") ||
      name.includes("\0") ||
      normalised !== name ||
      posix.isAbsolute(name) ||
      name.split("/").some((part) => part === ".." || part === "." || part === "") ||
      RESERVED_SUFFIXES.some((suffix) => name.endsWith(suffix))
    ) {
      throw new UsageError(
        `Invalid artifact name "${name}": use a relative path like "netbsd-10.1/amd64/boot-com.iso" ` +
          `without "..", and not ending in ${RESERVED_SUFFIXES.join(", ")}`,
      );
    }
    return join(this.cacheDir, ...name.split("/"));
  }

  async fetch(spec: ArtifactSpec): Promise<CachedArtifact> {
    const path = this.pathOf(spec.name);
    this.checkSpec(spec);
    const quick = await this.cachedFor(spec, path);
    if (quick) return quick;

    await mkdir(dirname(path), { recursive: true });
    const lock = await acquireLock(`${path}.lock`, { log: this.log });
    try {
      // Another process may have fetched it while we waited.
      const afterWait = await this.cachedFor(spec, path);
      if (afterWait) return afterWait;
      if (!spec.checksum && !spec.checksumFile && spec.trustOnFirstUse)
        return await this.downloadTrustingFirstUse(spec, path);
      const expected = await this.expectedChecksum(spec);
      const adopted = await this.adoptUnrecorded(spec, path, expected);
      if (adopted) return adopted;
      return await this.download(spec, path, expected);
    } finally {
      await lock.release();
    }
  }

  async has(name: string): Promise<boolean> {
    const path = this.pathOf(name);
    return (await this.recorded(path)) !== undefined;
  }

  async list(): Promise<CachedArtifact[]> {
    const result: CachedArtifact[] = [];
    for (const metaPath of await this.metaFiles()) {
      const path = metaPath.slice(0, -META_SUFFIX.length);
      const meta = await this.recorded(path);
      if (meta) result.push(this.toCached(meta, path, true));
    }
    return result.sort((a, b) => a.name.localeCompare(b.name));
  }

  async verify(): Promise<VerifyResult[]> {
    const results: VerifyResult[] = [];
    for (const metaPath of await this.metaFiles()) {
      const path = metaPath.slice(0, -META_SUFFIX.length);
      const name = relative(this.cacheDir, path).split(sep).join("/");
      const meta = await this.readMeta(path);
      if (!meta) {
        results.push({ name, path, ok: false, problem: `unreadable metadata ${metaPath}` });
        continue;
      }
      const base = { name, path, algorithm: meta.algorithm, expected: meta.hex };
      let size: number;
      try {
        size = (await stat(path)).size;
      } catch {
        results.push({ ...base, ok: false, problem: "file missing" });
        continue;
      }
      const actual = await hashFile(path, meta.algorithm);
      if (actual !== meta.hex) {
        results.push({ ...base, ok: false, actual, problem: "checksum mismatch" });
      } else if (size !== meta.size) {
        results.push({ ...base, ok: false, actual, problem: `size ${size}, recorded ${meta.size}` });
      } else {
        results.push({ ...base, ok: true, actual });
      }
    }
    return results.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Remove cached artifacts whose name starts with `namePrefix` (with their metadata and partial downloads). */
  async remove(namePrefix: string): Promise<number> {
    let removed = 0;
    for (const file of await this.walk(this.cacheDir)) {
      const name = relative(this.cacheDir, file).split(sep).join("/");
      if (!name.startsWith(namePrefix) || name.endsWith(".lock") || name.endsWith(".lock.break")) continue;
      const isData = !RESERVED_SUFFIXES.some((suffix) => name.endsWith(suffix));
      await rm(file, { force: true });
      if (isData) removed += 1;
    }
    return removed;
  }

  private checkSpec(spec: ArtifactSpec): void {
    if (spec.checksum) {
      if (!isValidHex(spec.checksum.algorithm, spec.checksum.hex)) {
        throw new UsageError(
          `Artifact ${spec.name}: "${spec.checksum.hex}" is not a ${spec.checksum.algorithm} hex digest`,
        );
      }
    } else if (!spec.checksumFile && !spec.trustOnFirstUse) {
      throw new UsageError(
        `Artifact ${spec.name} has neither a checksum nor a checksum file; refusing to trust it`,
      );
    }
  }

  /** The cache entry, if present and consistent with what the spec expects. No network. */
  private async cachedFor(spec: ArtifactSpec, path: string): Promise<CachedArtifact | undefined> {
    const meta = await this.recorded(path);
    if (!meta) return undefined;
    if (spec.checksum) {
      const wanted = spec.checksum;
      if (meta.algorithm === wanted.algorithm) {
        if (meta.hex !== wanted.hex.toLowerCase()) {
          this.log(
            `cached ${spec.name} has a different ${wanted.algorithm} than the catalog; fetching again`,
          );
          return undefined;
        }
      } else if ((await hashFile(path, wanted.algorithm)) !== wanted.hex.toLowerCase()) {
        this.log(`cached ${spec.name} does not match the catalog's ${wanted.algorithm}; fetching again`);
        return undefined;
      }
    }
    return this.toCached(meta, path, true);
  }

  /** A data file without metadata (crash between rename and meta write, or copied in by hand). */
  private async adoptUnrecorded(
    spec: ArtifactSpec,
    path: string,
    expected: { checksum: ExpectedChecksum },
  ): Promise<CachedArtifact | undefined> {
    if (!(await exists(path))) return undefined;
    const actual = await hashFile(path, expected.checksum.algorithm);
    if (actual !== expected.checksum.hex) {
      await rm(path, { force: true });
      return undefined;
    }
    this.log(`adopting ${spec.name}: the file in the cache matches its checksum`);
    const meta = await this.writeMeta(path, spec.name, spec.url, expected.checksum, (await stat(path)).size);
    return this.toCached(meta, path, true);
  }

  private async download(
    spec: ArtifactSpec,
    path: string,
    expected: { checksum: ExpectedChecksum },
  ): Promise<CachedArtifact> {
    const part = `${path}.part`;
    const source = this.sourceFor(spec.url, spec.mirrorPath);
    const progress = (receivedBytes: number, totalBytes: number | undefined, attempt: number) =>
      this.onProgress?.({
        name: spec.name,
        url: source.url,
        receivedBytes,
        ...(totalBytes !== undefined ? { totalBytes } : {}),
        attempt,
      });

    let actual = await this.transfer(source, part, expected.checksum.algorithm, progress);
    if (actual.hex !== expected.checksum.hex && actual.resumedEarlierPart) {
      // The .part left by an earlier run may come from another version of the file: start over once.
      this.log(`checksum of resumed ${spec.name} is wrong; downloading again from zero`);
      await rm(part, { force: true });
      actual = await this.transfer(source, part, expected.checksum.algorithm, progress);
    }
    if (actual.hex !== expected.checksum.hex) {
      await rm(part, { force: true });
      throw new ChecksumMismatchError({
        url: source.url,
        name: spec.name,
        algorithm: expected.checksum.algorithm,
        expected: expected.checksum.hex,
        actual: actual.hex,
      });
    }

    await rm(`${path}${META_SUFFIX}`, { force: true });
    await rename(part, path);
    const meta = await this.writeMeta(path, spec.name, source.url, expected.checksum, actual.size);
    this.log(`cached ${spec.name} (${actual.size} bytes) from ${source.url}`);
    return this.toCached(meta, path, false);
  }

  private async downloadTrustingFirstUse(spec: ArtifactSpec, path: string): Promise<CachedArtifact> {
    const part = `${path}.part`;
    const source = this.sourceFor(spec.url, spec.mirrorPath);
    this.log(
      `${spec.name}: upstream publishes no checksum; recording the SHA-256 of what ${source.url} serves`,
    );
    const actual = await this.transfer(source, part, "sha256", (receivedBytes, totalBytes, attempt) =>
      this.onProgress?.({
        name: spec.name,
        url: source.url,
        receivedBytes,
        ...(totalBytes !== undefined ? { totalBytes } : {}),
        attempt,
      }),
    );
    await rm(`${path}${META_SUFFIX}`, { force: true });
    await rename(part, path);
    const meta = await this.writeMeta(
      path,
      spec.name,
      source.url,
      { algorithm: "sha256", hex: actual.hex },
      actual.size,
    );
    return this.toCached(meta, path, false);
  }

  /**
   * Fill `part` from the source and hash it. A full file system (ENOSPC, EDQUOT) ends it with a
   * CacheFullError and the .part removed: it is what filled the disk, and resuming cannot help.
   */
  private async transfer(
    source: Source,
    part: string,
    algorithm: HashAlgorithm,
    progress: (received: number, total: number | undefined, attempt: number) => void,
  ): Promise<{ hex: string; size: number; resumedEarlierPart: boolean }> {
    try {
      return await this.transferOnce(source, part, algorithm, progress);
    } catch (error) {
      const code = noSpaceCode(error);
      if (!code) throw error;
      await rm(part, { force: true });
      throw new CacheFullError(this.cacheDir, source.url, code, error);
    }
  }

  private async transferOnce(
    source: Source,
    part: string,
    algorithm: HashAlgorithm,
    progress: (received: number, total: number | undefined, attempt: number) => void,
  ): Promise<{ hex: string; size: number; resumedEarlierPart: boolean }> {
    let size: number;
    let resumedEarlierPart = false;
    if (source.kind === "file") {
      if (!(await exists(source.path))) {
        throw new DownloadError(source.url, {
          attempts: 1,
          reason: `not found in the mirror directory (${source.path})`,
          hint: `Check that --mirror ${this.mirror} is laid out like the upstream tree.`,
        });
      }
      this.log(`copying ${source.path}`);
      size = await copyToFile(source.path, part, (received, total) => progress(received, total, 1));
    } else {
      this.log(`downloading ${source.url}`);
      const result = await downloadToFile(source.url, part, {
        ...this.transferOptions(),
        onProgress: progress,
      });
      size = result.size;
      resumedEarlierPart = result.resumedEarlierPart;
    }
    return { hex: await hashFile(part, algorithm), size, resumedEarlierPart };
  }

  private transferOptions(): TransferOptions {
    return {
      retries: this.retries,
      stallTimeoutMs: this.requestTimeoutMs,
      ...(this.connectTimeoutMs !== undefined ? { connectTimeoutMs: this.connectTimeoutMs } : {}),
      log: this.log,
      ...(this.mirror !== undefined
        ? { hint: `Check that the mirror ${this.mirror} is reachable and laid out like the upstream tree.` }
        : {}),
    };
  }

  private sourceFor(url: string, mirrorPath: string | undefined): Source {
    if (this.mirror === undefined) return { kind: "url", url };
    if (mirrorPath === undefined) {
      this.log(`no mirror path for ${url}; using the primary URL`);
      return { kind: "url", url };
    }
    if (isUrl(this.mirror)) return { kind: "url", url: joinUrl(this.mirror, mirrorPath) };
    const relativePath = posix.normalize(mirrorPath.replace(/^\/+/, ""));
    if (relativePath.startsWith("../") || relativePath === "..") {
      throw new UsageError(`Mirror path "${mirrorPath}" leaves the mirror directory`);
    }
    const path = join(this.mirror, ...relativePath.split("/"));
    return { kind: "file", path, url: pathToFileURL(path).toString() };
  }

  private async expectedChecksum(spec: ArtifactSpec): Promise<{ checksum: ExpectedChecksum }> {
    if (spec.checksum) {
      return { checksum: { algorithm: spec.checksum.algorithm, hex: spec.checksum.hex.toLowerCase() } };
    }
    const file = spec.checksumFile!;
    const source = this.sourceFor(file.url, file.mirrorPath);
    const entries = await this.checksumList(source);
    const entry = entries.get(file.entry.replace(/^\.\//, ""));
    if (!entry) {
      const known = [...entries.keys()].slice(0, 5).join(", ");
      throw new ChecksumEntryMissingError(
        source.url,
        file.entry,
        entries.size === 0
          ? "the file lists no checksums"
          : `not listed (it lists ${known}${entries.size > 5 ? ", ..." : ""})`,
      );
    }
    if (entry.algorithm === "md5") {
      throw new ChecksumEntryMissingError(
        source.url,
        file.entry,
        "only an MD5 entry, which is not trusted on its own",
      );
    }
    if (entry.algorithm !== file.algorithm) {
      throw new ChecksumEntryMissingError(
        source.url,
        file.entry,
        `the entry is ${entry.algorithm}, the catalog expects ${file.algorithm}`,
      );
    }
    return { checksum: { algorithm: entry.algorithm, hex: entry.hex } };
  }

  private checksumList(source: Source): Promise<Map<string, ChecksumEntry>> {
    let list = this.checksumLists.get(source.url);
    if (!list) {
      list = (async () => {
        if (source.kind === "file") {
          try {
            return parseChecksumFile(await readFile(source.path, "utf8"));
          } catch (error) {
            throw new DownloadError(source.url, {
              attempts: 1,
              reason: `cannot read the checksum file from the mirror directory (${(error as Error).message})`,
              hint: `Check that --mirror ${this.mirror} is laid out like the upstream tree.`,
              cause: error,
            });
          }
        }
        return parseChecksumFile(await fetchText(source.url, this.transferOptions()));
      })();
      this.checksumLists.set(source.url, list);
      list.catch(() => this.checksumLists.delete(source.url));
    }
    return list;
  }

  private async readMeta(path: string): Promise<ArtifactMeta | undefined> {
    try {
      const meta = JSON.parse(await readFile(`${path}${META_SUFFIX}`, "utf8")) as Partial<ArtifactMeta>;
      if (
        typeof meta.url !== "string" ||
        (meta.algorithm !== "sha512" && meta.algorithm !== "sha256") ||
        typeof meta.hex !== "string" ||
        typeof meta.size !== "number"
      ) {
        return undefined;
      }
      return meta as ArtifactMeta;
    } catch {
      return undefined;
    }
  }

  /** Metadata of a complete entry: sidecar readable and the data file of the recorded size. */
  private async recorded(path: string): Promise<ArtifactMeta | undefined> {
    const meta = await this.readMeta(path);
    if (!meta) return undefined;
    try {
      return (await stat(path)).size === meta.size ? meta : undefined;
    } catch {
      return undefined;
    }
  }

  private async writeMeta(
    path: string,
    name: string,
    url: string,
    checksum: ExpectedChecksum,
    size: number,
  ): Promise<ArtifactMeta> {
    const meta: ArtifactMeta = {
      name,
      url,
      algorithm: checksum.algorithm,
      hex: checksum.hex,
      size,
      fetchedAt: new Date().toISOString(),
    };
    const temporary = `${path}${META_SUFFIX}.tmp`;
    await writeFile(temporary, `${JSON.stringify(meta, null, 2)}\n`);
    await rename(temporary, `${path}${META_SUFFIX}`);
    await fsyncDirectory(dirname(path));
    return meta;
  }

  private toCached(meta: ArtifactMeta, path: string, fromCache: boolean): CachedArtifact {
    const name = relative(this.cacheDir, path).split(sep).join("/");
    return {
      name,
      path,
      size: meta.size,
      checksum: { algorithm: meta.algorithm, hex: meta.hex },
      url: meta.url,
      fromCache,
    };
  }

  private async metaFiles(): Promise<string[]> {
    return (await this.walk(this.cacheDir)).filter((file) => file.endsWith(META_SUFFIX));
  }

  private async walk(directory: string): Promise<string[]> {
    let entries;
    try {
      entries = await readdir(directory, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const files: string[] = [];
    for (const entry of entries) {
      const full = join(directory, entry.name);
      if (entry.isDirectory()) files.push(...(await this.walk(full)));
      else if (entry.isFile()) files.push(full);
    }
    return files;
  }
}
