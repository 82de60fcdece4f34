import { constants } from "node:fs";
import { access, mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, posix, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { HarnessError, UsageError } from "../../lib/errors.ts";
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
import {
  copyToFile,
  downloadToFile,
  DownloadError,
  fetchText,
  MIRROR_HINT,
  type TransferOptions,
} from "./download.ts";
import { acquireLock } from "./lock.ts";

/**
 * Another place that may hold the same file, tried when the one before it does not have it or cannot
 * be reached (NetBSD moves a release from cdn.netbsd.org to archive.netbsd.org once its successor ships).
 */
export interface ArtifactAlternate {
  url: string;
  /** Path relative to a mirror root for this place. */
  mirrorPath?: string;
  /** This place's checksum file (entry and algorithm are the spec's `checksumFile`'s). */
  checksumFile?: { url: string; mirrorPath?: string };
}

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
  /** Further places, in order, tried after `url` (and after `mirrorPath` under a mirror). */
  alternates?: ArtifactAlternate[];
}
export interface CachedArtifact {
  name: string;
  path: string;
  size: number;
  checksum: ExpectedChecksum;
  /** Where the cached bytes came from (the place that served them, recorded in the cache's metadata). */
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
/** One place to fetch an artifact from: the file and the checksum file that vouches for it. */
interface Place {
  source: Source;
  checksum?: Source;
}

/** No place an artifact may come from has it (or could be reached). */
export class ArtifactUnavailableError extends HarnessError {
  constructor(
    readonly artifact: string,
    /** Each place tried, in order, with why it did not serve the artifact. */
    readonly tried: { url: string; reason: string }[],
    hint: string,
    cause: unknown,
  ) {
    super(
      `${artifact} could not be fetched from any of its ${tried.length} places:\n` +
        tried.map((t) => `  - ${t.url}: ${t.reason}`).join("\n") +
        `\n${hint}`,
      { cause },
    );
  }
}

/** A 404/410 answer, or a file missing from a mirror directory. */
function isNotFound(error: unknown): boolean {
  return error instanceof DownloadError && (error.status === 404 || error.status === 410);
}

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
      const places = this.placesFor(spec);
      const tried: { url: string; reason: string }[] = [];
      for (const [index, place] of places.entries()) {
        try {
          const result = await this.fetchFrom(spec, path, place);
          if (index > 0 && !result.fromCache) {
            this.log(`${spec.name}: served by ${place.source.url} (place ${index + 1} of ${places.length})`);
          }
          return result;
        } catch (error) {
          // A wrong checksum or a local problem is an answer, not an absence: another place must not mask it.
          const movesOn = error instanceof DownloadError || error instanceof ChecksumEntryMissingError;
          if (places.length === 1 || !movesOn) throw error;
          const reason = isNotFound(error) ? "not there (404)" : this.withoutHints((error as Error).message);
          tried.push({ url: place.source.url, reason });
          if (index + 1 < places.length) {
            this.log(`${spec.name}: ${place.source.url}: ${reason}; trying ${places[index + 1]!.source.url}`);
          } else {
            throw new ArtifactUnavailableError(spec.name, tried, this.unavailableHint(), error);
          }
        }
      }
      throw new UsageError(`Artifact ${spec.name} names no place to fetch it from`);
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

  private async fetchFrom(spec: ArtifactSpec, path: string, place: Place): Promise<CachedArtifact> {
    if (!spec.checksum && !spec.checksumFile && spec.trustOnFirstUse)
      return await this.downloadTrustingFirstUse(spec, path, place.source);
    const expected = await this.expectedChecksum(spec, place);
    const adopted = await this.adoptUnrecorded(spec, path, expected, place.source.url);
    if (adopted) return adopted;
    return await this.download(spec, path, expected, place.source);
  }

  /** The spec's places in order, each resolved against the mirror; places that resolve alike count once. */
  private placesFor(spec: ArtifactSpec): Place[] {
    const raw = [
      {
        url: spec.url,
        mirrorPath: spec.mirrorPath,
        checksumFile: spec.checksumFile,
      },
      ...(spec.alternates ?? []),
    ];
    const places: Place[] = [];
    for (const alt of raw) {
      const source = this.sourceFor(alt.url, alt.mirrorPath);
      if (places.some((p) => p.source.url === source.url)) continue;
      const place: Place = { source };
      if (alt.checksumFile)
        place.checksum = this.sourceFor(alt.checksumFile.url, alt.checksumFile.mirrorPath);
      places.push(place);
    }
    return places;
  }

  /**
   * Names in a directory of a mirror tree: an HTTP index page's links, or a mirror directory's entries.
   * For choosing among directories that come and go (pkgsrc's quarterly package trees).
   */
  async listDirectory(url: string, mirrorPath?: string): Promise<{ url: string; names: string[] }> {
    const source = this.sourceFor(url.replace(/\/*$/, "/"), mirrorPath);
    if (source.kind === "file") {
      try {
        return { url: source.url, names: (await readdir(source.path)).sort() };
      } catch (error) {
        throw new DownloadError(source.url, {
          attempts: 1,
          ...((error as NodeJS.ErrnoException).code === "ENOENT" ? { status: 404 } : {}),
          reason: `cannot list the mirror directory (${(error as Error).message})`,
          hint: `Check that --mirror ${this.mirror} is laid out like the upstream tree.`,
          cause: error,
        });
      }
    }
    const html = await fetchText(source.url, this.transferOptions());
    const base = new URL(source.url.endsWith("/") ? source.url : `${source.url}/`);
    const names = new Set<string>();
    for (const m of html.matchAll(/href\s*=\s*["']([^"']*)["']/gi)) {
      // Index pages link entries relatively, by absolute path or by full URL: keep what names a direct
      // child of the listed directory (not parents, sorting links or other hosts).
      let target: URL;
      try {
        target = new URL(m[1]!.replace(/&amp;/g, "&"), base);
      } catch {
        continue;
      }
      if (target.origin !== base.origin || target.search !== "" || !target.pathname.startsWith(base.pathname))
        continue;
      const rest = target.pathname.slice(base.pathname.length).replace(/\/$/, "");
      if (rest === "" || rest.includes("/")) continue;
      try {
        names.add(decodeURIComponent(rest));
      } catch {
        names.add(rest);
      }
    }
    return { url: source.url, names: [...names].sort() };
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
    url: string,
  ): Promise<CachedArtifact | undefined> {
    if (!(await exists(path))) return undefined;
    const actual = await hashFile(path, expected.checksum.algorithm);
    if (actual !== expected.checksum.hex) {
      await rm(path, { force: true });
      return undefined;
    }
    this.log(`adopting ${spec.name}: the file in the cache matches its checksum`);
    const meta = await this.writeMeta(path, spec.name, url, expected.checksum, (await stat(path)).size);
    return this.toCached(meta, path, true);
  }

  private async download(
    spec: ArtifactSpec,
    path: string,
    expected: { checksum: ExpectedChecksum },
    source: Source,
  ): Promise<CachedArtifact> {
    const part = `${path}.part`;
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

  private async downloadTrustingFirstUse(
    spec: ArtifactSpec,
    path: string,
    source: Source,
  ): Promise<CachedArtifact> {
    const part = `${path}.part`;
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
          status: 404,
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

  /** A nested error's message without the advice the aggregate error gives once. */
  private withoutHints(message: string): string {
    let out = message;
    for (const hint of [MIRROR_HINT, this.transferOptions().hint]) if (hint) out = out.split(hint).join("");
    return out.replace(/ Check that --mirror \S+ is laid out like the upstream tree\./g, "").trim();
  }

  private unavailableHint(): string {
    if (this.mirror === undefined) return MIRROR_HINT;
    return (
      `Check that --mirror ${this.mirror} is laid out like a NetBSD host's pub/ (NetBSD/NetBSD-X.Y/, ` +
      `NetBSD-archive/NetBSD-X.Y/, pkgsrc/packages/, pkgsrc-archive/packages/) and holds the file.`
    );
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

  private async expectedChecksum(spec: ArtifactSpec, place: Place): Promise<{ checksum: ExpectedChecksum }> {
    if (spec.checksum) {
      return { checksum: { algorithm: spec.checksum.algorithm, hex: spec.checksum.hex.toLowerCase() } };
    }
    const file = spec.checksumFile!;
    const source = place.checksum ?? this.sourceFor(file.url, file.mirrorPath);
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
              ...((error as NodeJS.ErrnoException).code === "ENOENT" ? { status: 404 } : {}),
              reason: `cannot read the checksum file from the mirror directory (${(error as Error).message})`,
              hint: `Check that --mirror ${this.mirror} is laid out like the upstream tree.`,
              cause: error,
            });
          }
        }
        return parseChecksumFile(await fetchText(source.url, this.transferOptions()));
      })();
      this.checksumLists.set(source.url, list);
      // A checksum file that is not there stays not there for this store's life (one 404 per directory,
      // not one per file); any other failure may be retried by the next fetch.
      list.catch((error: unknown) => {
        if (!isNotFound(error)) this.checksumLists.delete(source.url);
      });
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
