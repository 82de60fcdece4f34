import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalArtifactServer } from "../../images/store/index.ts";

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A request with the path sent byte for byte (fetch() and URL would normalise "/../"). */
function raw(
  server: LocalArtifactServer,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
) {
  const { hostname, port } = new URL(server.url);
  return new Promise<RawResponse>((resolve, reject) => {
    const req = http.request(
      { host: hostname, port, path, method: options.method ?? "GET", headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("LocalArtifactServer", () => {
  let work: string;
  let pkgDir: string;
  let server: LocalArtifactServer;
  const payload = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  const SECRET = "top secret, outside every mount";

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "nbxen-server-"));
    pkgDir = join(work, "packages");
    await mkdir(join(pkgDir, "All"), { recursive: true });
    await writeFile(join(pkgDir, "All", "xenkernel42-4.2.5.tgz"), payload);
    await writeFile(join(pkgDir, "All", "with space.tgz"), "spaced");
    await writeFile(join(work, "secret.txt"), SECRET);
    await symlink(join(work, "secret.txt"), join(pkgDir, "All", "escape.tgz"));
    server = await LocalArtifactServer.start();
    server.mount("/pkgsrc", pkgDir);
  });

  after(async () => {
    await server.close();
    await rm(work, { recursive: true, force: true });
  });

  it("has a loopback URL and the matching guest URL for QEMU user networking", () => {
    const port = new URL(server.url).port;
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(Number(port) > 0);
    assert.equal(server.guestUrl, `http://10.0.2.2:${port}`);
  });

  it("serves a whole file with its length and range support", async () => {
    const response = await raw(server, "/pkgsrc/All/xenkernel42-4.2.5.tgz");
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, payload);
    assert.equal(response.headers["content-length"], "1000");
    assert.equal(response.headers["accept-ranges"], "bytes");
  });

  it('serves paths with "." segments, as apt asks a flat repository (/repo/./Packages)', async () => {
    const response = await raw(server, "/pkgsrc/./All/./xenkernel42-4.2.5.tgz");
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, payload);
  });

  it("serves byte ranges: bounded, open-ended and suffix", async () => {
    const path = "/pkgsrc/All/xenkernel42-4.2.5.tgz";
    const bounded = await raw(server, path, { headers: { range: "bytes=10-19" } });
    assert.equal(bounded.status, 206);
    assert.equal(bounded.headers["content-range"], "bytes 10-19/1000");
    assert.deepEqual(bounded.body, payload.subarray(10, 20));

    const open = await raw(server, path, { headers: { range: "bytes=990-" } });
    assert.equal(open.status, 206);
    assert.equal(open.headers["content-range"], "bytes 990-999/1000");
    assert.deepEqual(open.body, payload.subarray(990));

    const suffix = await raw(server, path, { headers: { range: "bytes=-5" } });
    assert.equal(suffix.status, 206);
    assert.deepEqual(suffix.body, payload.subarray(995));
  });

  it("answers 416 to a range past the end", async () => {
    const response = await raw(server, "/pkgsrc/All/xenkernel42-4.2.5.tgz", {
      headers: { range: "bytes=1000-" },
    });
    assert.equal(response.status, 416);
    assert.equal(response.headers["content-range"], "bytes */1000");
  });

  it("answers HEAD with headers and no body", async () => {
    const response = await raw(server, "/pkgsrc/All/xenkernel42-4.2.5.tgz", { method: "HEAD" });
    assert.equal(response.status, 200);
    assert.equal(response.headers["content-length"], "1000");
    assert.equal(response.body.length, 0);
  });

  it("decodes percent-encoded names", async () => {
    const response = await raw(server, "/pkgsrc/All/with%20space.tgz");
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), "spaced");
  });

  it("answers 404 for missing files and unmounted prefixes, 405 for other methods", async () => {
    assert.equal((await raw(server, "/pkgsrc/All/xentools42-4.2.5.tgz")).status, 404);
    assert.equal((await raw(server, "/other/file")).status, 404);
    assert.equal((await raw(server, "/pkgsrcX/All/xenkernel42-4.2.5.tgz")).status, 404);
    assert.equal((await raw(server, "/pkgsrc/All/xenkernel42-4.2.5.tgz", { method: "POST" })).status, 405);
  });

  it("refuses paths that escape the mounted directory", async () => {
    for (const path of [
      "/pkgsrc/../secret.txt",
      "/pkgsrc/All/../../secret.txt",
      "/pkgsrc/%2e%2e/secret.txt",
      "/pkgsrc/All/%2E%2E%2F..%2Fsecret.txt",
      "/pkgsrc/All/..%5c..%5csecret.txt",
      "/pkgsrc/All/escape.tgz",
    ]) {
      const response = await raw(server, path);
      assert.ok([400, 403].includes(response.status), `${path} -> ${response.status}`);
      assert.ok(!response.body.toString().includes(SECRET), `${path} leaked the file`);
    }
  });

  it("lists a directory and redirects a directory path without its slash", async () => {
    const redirect = await raw(server, "/pkgsrc/All");
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, "/pkgsrc/All/");
    const listing = await raw(server, "/pkgsrc/All/");
    assert.equal(listing.status, 200);
    assert.match(listing.body.toString(), /href="xenkernel42-4\.2\.5\.tgz"/);
    assert.match(listing.body.toString(), /href="with%20space\.tgz"/);
  });

  it("logs every request with its status", async () => {
    const before = server.requests.length;
    await raw(server, "/pkgsrc/All/xenkernel42-4.2.5.tgz", { method: "HEAD" });
    await raw(server, "/pkgsrc/nope");
    assert.deepEqual(server.requests.slice(before), [
      { method: "HEAD", path: "/pkgsrc/All/xenkernel42-4.2.5.tgz", status: 200 },
      { method: "GET", path: "/pkgsrc/nope", status: 404 },
    ]);
  });

  it("closes idempotently and supports await using", async () => {
    let url: string;
    {
      await using temporary = await LocalArtifactServer.start({ port: 0 });
      temporary.mount("/", pkgDir);
      url = temporary.url;
      const response = await fetch(`${url}/All/with%20space.tgz`);
      assert.equal(await response.text(), "spaced");
      await temporary.close();
    }
    await assert.rejects(fetch(`${url}/All/with%20space.tgz`));
  });
});
