import { createReadStream } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";

/** QEMU's user-mode network (slirp) exposes the host's loopback to the guest at this address. */
export const QEMU_USER_NET_HOST = "10.0.2.2";

export interface ServedRequest {
  method: string;
  path: string;
  status: number;
}

interface Mount {
  prefix: string;
  directory: string;
}

type ByteRange = { start: number; end: number };

/**
 * Parse a single "bytes=a-b" / "bytes=a-" / "bytes=-n" range against a file size.
 * Returns undefined to serve the whole file (no header, several ranges, or a malformed one, as RFC 9110
 * allows ignoring), or "unsatisfiable".
 */
function parseRange(header: string | undefined, size: number): ByteRange | "unsatisfiable" | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function contentType(path: string): string {
  if (path.endsWith(".html")) return "text/html; charset=utf-8";
  if (/(\.txt|\/SHA512|\/SHA256|\/MD5|SUMS)$/.test(path)) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

/**
 * Static HTTP server for artifacts, bound to loopback. A QEMU user-net guest reaches it at
 * http://10.0.2.2:PORT. Serves GET/HEAD with single byte ranges and simple directory listings.
 */
export class LocalArtifactServer implements AsyncDisposable {
  readonly url: string;
  readonly guestUrl: string;
  readonly port: number;
  requests: ServedRequest[] = [];
  private readonly mounts: Mount[] = [];
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: http.Server,
    host: string,
  ) {
    this.port = (server.address() as AddressInfo).port;
    this.url = `http://${host.includes(":") ? `[${host}]` : host}:${this.port}`;
    this.guestUrl = `http://${QEMU_USER_NET_HOST}:${this.port}`;
  }

  static async start(opts: { host?: string; port?: number } = {}): Promise<LocalArtifactServer> {
    const host = opts.host ?? "127.0.0.1";
    const server = http.createServer();
    await new Promise<void>((resolvePromise, reject) => {
      server.once("error", reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off("error", reject);
        resolvePromise();
      });
    });
    const instance = new LocalArtifactServer(server, host);
    server.on("request", (req, res) => {
      instance.handle(req, res).catch(() => {
        if (!res.headersSent) instance.reply(req, res, 500, "internal error\n");
        else res.destroy();
      });
    });
    return instance;
  }

  /** Serve `directory` under `urlPrefix` ("/pkgsrc" serves directory/x at /pkgsrc/x). Longest prefix wins. */
  mount(urlPrefix: string, directory: string): void {
    const prefix = `/${urlPrefix.replace(/^\/+|\/+$/g, "")}`.replace(/^\/$/, "");
    const existing = this.mounts.findIndex((m) => m.prefix === prefix);
    if (existing >= 0) this.mounts.splice(existing, 1);
    this.mounts.push({ prefix, directory: resolve(directory) });
    this.mounts.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolvePromise) => {
      this.server.close(() => resolvePromise());
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private reply(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    body: string,
    headers = {},
  ) {
    this.log(req, status);
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers });
    res.end(req.method === "HEAD" ? undefined : body);
  }

  private log(req: http.IncomingMessage, status: number): void {
    this.requests.push({ method: req.method ?? "?", path: req.url ?? "", status });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") {
      this.reply(req, res, 405, "method not allowed\n", { allow: "GET, HEAD" });
      return;
    }
    const target = await this.resolveTarget(req.url ?? "/");
    if (typeof target === "number") {
      this.reply(req, res, target, `${http.STATUS_CODES[target] ?? "error"}\n`);
      return;
    }
    const info = await stat(target.file);
    if (info.isDirectory()) {
      if (!target.urlPath.endsWith("/")) {
        this.reply(req, res, 301, "moved\n", { location: `${target.urlPath}/` });
        return;
      }
      await this.listDirectory(req, res, target.file, target.urlPath);
      return;
    }
    if (!info.isFile()) {
      this.reply(req, res, 404, "not found\n");
      return;
    }
    const range = parseRange(req.headers.range, info.size);
    const common = {
      "accept-ranges": "bytes",
      "content-type": contentType(target.file),
      "last-modified": info.mtime.toUTCString(),
    };
    if (range === "unsatisfiable") {
      this.reply(req, res, 416, "range not satisfiable\n", { "content-range": `bytes */${info.size}` });
      return;
    }
    const { start, end } = range ?? { start: 0, end: info.size - 1 };
    const status = range ? 206 : 200;
    this.log(req, status);
    res.writeHead(status, {
      ...common,
      "content-length": String(end - start + 1),
      ...(range ? { "content-range": `bytes ${start}-${end}/${info.size}` } : {}),
    });
    if (req.method === "HEAD" || info.size === 0) {
      res.end();
      return;
    }
    try {
      await pipeline(createReadStream(target.file, { start, end }), res);
    } catch {
      // The client went away mid-body; nothing to answer.
    }
  }

  /** Map a request path to a file inside a mount, or an HTTP status. Refuses anything that leaves the mount. */
  private async resolveTarget(rawUrl: string): Promise<{ file: string; urlPath: string } | number> {
    const rawPath = rawUrl.split(/[?#]/, 1)[0] ?? "/";
    let urlPath: string;
    try {
      urlPath = decodeURIComponent(rawPath);
    } catch {
      return 400;
    }
    if (urlPath.includes("\0") || urlPath.includes("\\")) return 400;
    if (urlPath.split("/").some((s) => s === "..")) return 403;
    // "." segments are harmless and common: apt asks flat repositories for "/repo/./Packages".
    urlPath = urlPath.replace(/\/(?:\.\/)+/g, "/").replace(/\/\.$/, "/");

    const mount = this.mounts.find(
      (m) => m.prefix === "" || urlPath === m.prefix || urlPath.startsWith(`${m.prefix}/`),
    );
    if (!mount) return 404;
    const rest = urlPath.slice(mount.prefix.length).split("/").filter(Boolean);
    const candidate = join(mount.directory, ...rest);
    let real: string;
    let root: string;
    try {
      [real, root] = await Promise.all([realpath(candidate), realpath(mount.directory)]);
    } catch {
      return 404;
    }
    // A symlink inside the mount must not lead out of it.
    if (real !== root && !real.startsWith(root.endsWith(sep) ? root : `${root}${sep}`)) return 403;
    return { file: real, urlPath };
  }

  private async listDirectory(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    dir: string,
    urlPath: string,
  ) {
    const entries = (await readdir(dir, { withFileTypes: true }))
      .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
      .sort();
    const items = entries
      .map(
        (name) =>
          `<a href="${escapeHtml(encodeURIComponent(name.replace(/\/$/, "")) + (name.endsWith("/") ? "/" : ""))}">${escapeHtml(name)}</a>`,
      )
      .join("\n");
    const body = `<!DOCTYPE html>\n<html><head><title>Index of ${escapeHtml(urlPath)}</title></head><body>\n<h1>Index of ${escapeHtml(urlPath)}</h1>\n<pre>\n${items}\n</pre></body></html>\n`;
    this.reply(req, res, 200, body, { "content-type": "text/html; charset=utf-8" });
  }
}
