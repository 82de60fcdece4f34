import { createReadStream, createWriteStream } from "node:fs";
import { open, stat, truncate } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import pRetry, { AbortError } from "p-retry";
import { HarnessError } from "../../lib/errors.ts";

export const MIRROR_HINT =
  "If the file cannot be fetched from there, pass --mirror <directory|url> pointing at a local copy of the tree.";
const MAX_REDIRECTS = 5;
const MAX_TEXT_BYTES = 16 * 1024 * 1024;
/** Local file-system failures that a retry cannot fix. */
const LOCAL_FATAL_CODES = new Set(["ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EISDIR", "ENOTDIR"]);

export class DownloadError extends HarnessError {
  readonly url: string;
  readonly status?: number;
  readonly attempts: number;
  constructor(
    url: string,
    fields: { status?: number; attempts: number; reason: string; hint?: string; cause?: unknown },
  ) {
    const tries = `${fields.attempts} attempt${fields.attempts === 1 ? "" : "s"}`;
    super(`Download of ${url} failed after ${tries}: ${fields.reason}. ${fields.hint ?? MIRROR_HINT}`, {
      cause: fields.cause,
    });
    this.url = url;
    if (fields.status !== undefined) this.status = fields.status;
    this.attempts = fields.attempts;
  }
}

/** An HTTP answer that is not what we asked for. Internal; surfaces as DownloadError. */
class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    statusText: string,
  ) {
    super(`HTTP ${status}${statusText ? ` ${statusText}` : ""}`);
  }
}

export interface TransferOptions {
  retries: number;
  /** Abort an attempt when an established connection is silent this long. */
  stallTimeoutMs: number;
  /** Abort an attempt whose TCP connection is not up after this long (default min(stall, 5000)). */
  connectTimeoutMs?: number;
  log?: (line: string) => void;
  /** Message appended to a DownloadError; defaults to a --mirror suggestion. */
  hint?: string;
}

export interface FileTransferOptions extends TransferOptions {
  onProgress?: (receivedBytes: number, totalBytes: number | undefined, attempt: number) => void;
}

export interface FileTransferResult {
  size: number;
  attempts: number;
  /** True when the first attempt continued a .part left by an earlier run. */
  resumedEarlierPart: boolean;
}

function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** No TCP connection in time: a host that drops packets. Retried once only, so it fails in seconds. */
class ConnectTimeoutError extends Error {
  constructor(ms: number) {
    super(`could not connect within ${ms} ms (host unreachable or packets dropped)`);
  }
}
const CONNECT_TIMEOUT_ATTEMPTS = 2;

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

/** GET a URL, following redirects; resolves once headers arrive. The stall timer stays armed on the body. */
function request(
  url: string,
  headers: Record<string, string>,
  options: TransferOptions,
  redirectsLeft = MAX_REDIRECTS,
) {
  const { stallTimeoutMs } = options;
  const connectTimeoutMs = options.connectTimeoutMs ?? Math.min(stallTimeoutMs, 5000);
  return new Promise<{ response: http.IncomingMessage; finalUrl: string }>((resolve, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (error) {
      reject(new AbortError(new Error(`invalid URL: ${describe(error)}`)));
      return;
    }
    const client = parsed.protocol === "https:" ? https : parsed.protocol === "http:" ? http : undefined;
    if (!client) {
      reject(new AbortError(new Error(`unsupported protocol ${parsed.protocol}`)));
      return;
    }
    const req = client.get(parsed, {
      headers: { "user-agent": "netbsd-xen-harness", ...headers },
      agent: false,
    });
    // req.setTimeout only starts once the socket is connected; a dropped SYN needs its own timer.
    const connectTimer = setTimeout(
      () => req.destroy(new ConnectTimeoutError(connectTimeoutMs)),
      connectTimeoutMs,
    );
    req.on("socket", (socket) => {
      if (socket.connecting) socket.once("connect", () => clearTimeout(connectTimer));
      else clearTimeout(connectTimer);
    });
    req.on("close", () => clearTimeout(connectTimer));
    let body: http.IncomingMessage | undefined;
    req.setTimeout(stallTimeoutMs, () => {
      const stalled = new Error(`no data for ${stallTimeoutMs} ms (connection stalled)`);
      // Destroying the response too makes a reader of the body see this error instead of a bare "aborted".
      body?.destroy(stalled);
      req.destroy(stalled);
    });
    req.on("error", reject);
    req.on("response", (response) => {
      body = response;
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if ([301, 302, 303, 307, 308].includes(status) && location) {
        response.resume();
        req.destroy();
        if (redirectsLeft === 0) {
          reject(new AbortError(new Error(`too many redirects`)));
          return;
        }
        const next = new URL(location, parsed).toString();
        request(next, headers, options, redirectsLeft - 1).then(resolve, reject);
        return;
      }
      resolve({ response, finalUrl: url });
    });
  });
}

function statusError(response: http.IncomingMessage): Error {
  response.resume();
  const error = new HttpStatusError(response.statusCode ?? 0, response.statusMessage ?? "");
  return isRetryableStatus(error.status) ? error : new AbortError(error);
}

async function sizeOrZero(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw error;
  }
}

/** Content-Range "bytes 100-199/1000" gives start 100 and total 1000; "bytes (star)/1000" only the total. */
function parseContentRange(value: string | undefined): { start?: number; total?: number } {
  const match = /^bytes (?:(\d+)-\d+|\*)\/(\d+|\*)$/.exec(value?.trim() ?? "");
  if (!match) return {};
  const result: { start?: number; total?: number } = {};
  if (match[1] !== undefined) result.start = Number(match[1]);
  if (match[2] !== "*") result.total = Number(match[2]);
  return result;
}

function contentLength(response: http.IncomingMessage): number | undefined {
  const value = response.headers["content-length"];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

/** Run attempts under p-retry and turn the final failure into a DownloadError naming the URL. */
async function withRetries<T>(
  url: string,
  options: TransferOptions,
  attempt: (attemptNumber: number) => Promise<T>,
  madeProgress: () => boolean = () => false,
): Promise<{ value: T; attempts: number }> {
  let attempts = 0;
  try {
    const value = await pRetry(
      async (attemptNumber) => {
        attempts = attemptNumber;
        try {
          return await attempt(attemptNumber);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code && LOCAL_FATAL_CODES.has(code) && (error as NodeJS.ErrnoException).syscall) {
            throw new AbortError(error as Error);
          }
          throw error;
        }
      },
      {
        retries: options.retries,
        minTimeout: 200,
        maxTimeout: 5000,
        factor: 2,
        randomize: false,
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft > 0) {
            options.log?.(`attempt ${attemptNumber} for ${url} failed: ${describe(error)}; retrying`);
          }
        },
        // An attempt that moved the .part forward does not use up the budget: a link that drops
        // every few hundred MiB still finishes, and progress is bounded by the file's size.
        shouldConsumeRetry: () => !madeProgress(),
        shouldRetry: ({ error, attemptNumber }) =>
          !(error instanceof ConnectTimeoutError && attemptNumber >= CONNECT_TIMEOUT_ATTEMPTS),
      },
    );
    return { value, attempts };
  } catch (error) {
    if (error instanceof HarnessError) throw error;
    const status = error instanceof HttpStatusError ? error.status : undefined;
    const reason =
      status !== undefined && !isRetryableStatus(status)
        ? `${describe(error)} (not retried)`
        : describe(error);
    throw new DownloadError(url, {
      ...(status !== undefined ? { status } : {}),
      attempts: Math.max(attempts, 1),
      reason,
      ...(options.hint !== undefined ? { hint: options.hint } : {}),
      cause: error,
    });
  }
}

/**
 * Download `url` into `partPath`, resuming from whatever `partPath` already holds (Range: bytes=N-).
 * A 206 appends; a 200 restarts from zero. The finished file is fsynced. Verification is the caller's job.
 */
export async function downloadToFile(
  url: string,
  partPath: string,
  options: FileTransferOptions,
): Promise<FileTransferResult> {
  const initialSize = await sizeOrZero(partPath);
  let sizeBefore = initialSize;
  let sizeAfter = initialSize;

  const attempt = async (attemptNumber: number): Promise<number> => {
    const start = await sizeOrZero(partPath);
    sizeBefore = start;
    sizeAfter = start;
    if (start > 0) options.log?.(`resuming ${url} at byte ${start}`);
    const { response } = await request(url, start > 0 ? { range: `bytes=${start}-` } : {}, options);
    const status = response.statusCode ?? 0;

    let offset: number;
    let total: number | undefined;
    if (status === 206 && start > 0) {
      const range = parseContentRange(response.headers["content-range"]);
      if (range.start !== start) {
        response.resume();
        await truncate(partPath, 0);
        throw new Error(`server resumed at byte ${range.start ?? "?"} instead of ${start}; restarting`);
      }
      offset = start;
      total = range.total;
    } else if (status === 200) {
      if (start > 0) options.log?.(`server ignored the Range request for ${url}; restarting from zero`);
      offset = 0;
      total = contentLength(response);
    } else if (status === 416 && start > 0) {
      response.resume();
      const { total: whole } = parseContentRange(response.headers["content-range"]);
      if (whole === start) return start;
      await truncate(partPath, 0);
      throw new Error(`server refused range bytes=${start}- (file is ${whole ?? "?"} bytes); restarting`);
    } else {
      throw statusError(response);
    }

    let received = offset;
    options.onProgress?.(received, total, attemptNumber);
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        sizeAfter = received;
        options.onProgress?.(received, total, attemptNumber);
        callback(null, chunk);
      },
    });
    const output = createWriteStream(partPath, { flags: offset === 0 ? "w" : "a" });
    await pipeline(response, counter, output);
    if (total !== undefined && received !== total) {
      throw new Error(`connection closed at byte ${received} of ${total}`);
    }
    return received;
  };

  const { value: size, attempts } = await withRetries(url, options, attempt, () => sizeAfter > sizeBefore);
  await fsyncFile(partPath);
  return { size, attempts, resumedEarlierPart: initialSize > 0 };
}

/** GET a small text file (a checksum list) with the same retry rules. */
export async function fetchText(url: string, options: TransferOptions): Promise<string> {
  const { value } = await withRetries(url, options, async () => {
    const { response } = await request(url, {}, options);
    if (response.statusCode !== 200) throw statusError(response);
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of response as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length > MAX_TEXT_BYTES) {
        response.destroy();
        throw new AbortError(new Error(`larger than ${MAX_TEXT_BYTES} bytes; not a checksum file`));
      }
      chunks.push(chunk);
    }
    const expected = contentLength(response);
    if (expected !== undefined && expected !== length) {
      throw new Error(`connection closed at byte ${length} of ${expected}`);
    }
    return Buffer.concat(chunks).toString("utf8");
  });
  return value;
}

/** Copy a file from a mirror directory into `partPath` (no retries: a local file either is there or not). */
export async function copyToFile(
  sourcePath: string,
  partPath: string,
  onProgress?: (receivedBytes: number, totalBytes: number | undefined) => void,
): Promise<number> {
  const total = (await stat(sourcePath)).size;
  let received = 0;
  onProgress?.(0, total);
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      onProgress?.(received, total);
      callback(null, chunk);
    },
  });
  await pipeline(createReadStream(sourcePath), counter, createWriteStream(partPath, { flags: "w" }));
  await fsyncFile(partPath);
  return received;
}

export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
