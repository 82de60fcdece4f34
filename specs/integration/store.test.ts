import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { UsageError } from "../../lib/errors.ts";
import {
  ArtifactStore,
  ChecksumEntryMissingError,
  ChecksumMismatchError,
  DownloadError,
  LocalArtifactServer,
  type ArtifactSpec,
  type DownloadProgress,
} from "../../images/store/index.ts";
import { FlakyHttpServer, PAYLOAD_PATH, startBlackhole } from "./fixtures/flaky-http-server.ts";

const STORE_INDEX = fileURLToPath(new URL("../../images/store/index.ts", import.meta.url));
const NAME = "netbsd-6.1.5/amd64/binary/sets/payload.bin";

/** A port nothing listens on: bind, note the port, close. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function sha512(data: Buffer): string {
  return createHash("sha512").update(data).digest("hex");
}

describe("ArtifactStore", function () {
  let work: string;
  let cacheDir: string;
  let servers: { close(): Promise<void> }[];
  const logs: string[] = [];

  async function flaky(options: ConstructorParameters<typeof Object>[0] = {}) {
    const server = await FlakyHttpServer.start(options);
    servers.push(server);
    return server;
  }

  function store(options: Partial<ConstructorParameters<typeof ArtifactStore>[0]> = {}) {
    return new ArtifactStore({ cacheDir, retries: 4, log: (line) => logs.push(line), ...options });
  }

  function specFor(server: FlakyHttpServer, extra: Partial<ArtifactSpec> = {}): ArtifactSpec {
    return {
      name: NAME,
      url: server.payloadUrl,
      checksum: { algorithm: "sha512", hex: server.sha512 },
      ...extra,
    };
  }

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), "nbxen-store-"));
    cacheDir = join(work, "cache");
    servers = [];
    logs.length = 0;
  });

  afterEach(async function () {
    if (this.currentTest?.state === "failed") console.log(`    store log:\n      ${logs.join("\n      ")}`);
    await Promise.all(servers.map((s) => s.close()));
    await rm(work, { recursive: true, force: true });
  });

  it("downloads, verifies, records a sidecar, and lists the artifact", async () => {
    const server = await flaky();
    const progress: DownloadProgress[] = [];
    const result = await store({ onProgress: (p) => progress.push(p) }).fetch(specFor(server));

    assert.equal(result.fromCache, false);
    assert.equal(result.path, join(cacheDir, ...NAME.split("/")));
    assert.equal(result.size, server.content.length);
    assert.deepEqual(result.checksum, { algorithm: "sha512", hex: server.sha512 });
    assert.equal(result.url, server.payloadUrl);
    assert.equal(sha512(await readFile(result.path)), server.sha512);

    const meta = JSON.parse(await readFile(`${result.path}.meta.json`, "utf8"));
    assert.equal(meta.url, server.payloadUrl);
    assert.equal(meta.algorithm, "sha512");
    assert.equal(meta.hex, server.sha512);
    assert.equal(meta.size, server.content.length);
    assert.ok(!Number.isNaN(Date.parse(meta.fetchedAt)));

    assert.equal(progress.at(-1)?.receivedBytes, server.content.length);
    assert.equal(progress.at(-1)?.totalBytes, server.content.length);
    assert.equal(progress.at(-1)?.name, NAME);

    const s = store();
    assert.equal(await s.has(NAME), true);
    assert.equal(await s.has("netbsd-6.1.5/other"), false);
    const listed = await s.list();
    assert.deepEqual(
      listed.map((a) => [a.name, a.size, a.fromCache]),
      [[NAME, server.content.length, true]],
    );
    assert.deepEqual(await filesUnder(cacheDir), [result.path, `${result.path}.meta.json`].sort());
  });

  it("resumes with a Range request after the connection drops mid-file", async () => {
    const server = await flaky({ dropFirst: 1 });
    const progress: DownloadProgress[] = [];
    const result = await store({ onProgress: (p) => progress.push(p) }).fetch(specFor(server));

    const gets = server.payloadGets();
    assert.equal(gets.length, 2);
    assert.equal(gets[0]!.range, undefined);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? "")?.[1]);
    assert.ok(resumedAt > 0, `second request should resume, got range ${gets[1]!.range}`);
    assert.equal(gets[1]!.status, 206);
    assert.equal(sha512(await readFile(result.path)), server.sha512);
    assert.ok(progress.some((p) => p.attempt === 2));
  });

  it("restarts from zero when the server answers a Range request with 200", async () => {
    const server = await flaky({ dropFirst: 1, honourRange: false });
    const result = await store().fetch(specFor(server));
    const gets = server.payloadGets();
    assert.equal(gets.length, 2);
    assert.match(gets[1]!.range ?? "", /^bytes=\d+-$/);
    assert.equal(gets[1]!.status, 200);
    assert.equal(sha512(await readFile(result.path)), server.sha512);
  });

  it("continues a .part left by an earlier run", async () => {
    const server = await flaky();
    const s = store();
    const half = 1024 * 1024;
    await mkdir(dirname(s.pathOf(NAME)), { recursive: true });
    await writeFile(`${s.pathOf(NAME)}.part`, server.content.subarray(0, half));

    const result = await s.fetch(specFor(server));
    assert.deepEqual(
      server.payloadGets().map((g) => [g.range, g.status]),
      [[`bytes=${half}-`, 206]],
    );
    assert.equal(sha512(await readFile(result.path)), server.sha512);
  });

  it("starts over once when a resumed earlier .part turns out to be from another file", async () => {
    const server = await flaky();
    const s = store();
    await mkdir(dirname(s.pathOf(NAME)), { recursive: true });
    await writeFile(`${s.pathOf(NAME)}.part`, Buffer.alloc(1024 * 1024, 1));

    const result = await s.fetch(specFor(server));
    assert.deepEqual(
      server.payloadGets().map((g) => [g.range, g.status]),
      [
        [`bytes=${1024 * 1024}-`, 206],
        [undefined, 200],
      ],
    );
    assert.equal(sha512(await readFile(result.path)), server.sha512);
  });

  it("times out a stalled connection and resumes", async () => {
    const server = await flaky({ stallFirst: 1 });
    const result = await store({ requestTimeoutMs: 500 }).fetch(specFor(server));
    const gets = server.payloadGets();
    assert.equal(gets.length, 2);
    assert.match(gets[1]!.range ?? "", /^bytes=[1-9]\d*-$/);
    assert.equal(sha512(await readFile(result.path)), server.sha512);
    assert.ok(
      logs.some((l) => /stalled/.test(l)),
      logs.join("\n"),
    );
  });

  it("retries after HTTP 500 answers", async () => {
    const server = await flaky({ failFirst: 2 });
    const result = await store().fetch(specFor(server));
    assert.deepEqual(
      server.payloadGets().map((g) => g.status),
      [500, 500, 200],
    );
    assert.equal(sha512(await readFile(result.path)), server.sha512);
  });

  it("rejects a wrong body with ChecksumMismatchError and leaves nothing in the cache", async () => {
    const server = await flaky({ wrongBody: true });
    const error = await store()
      .fetch(specFor(server))
      .then(
        () => assert.fail("fetch should fail"),
        (e: unknown) => e,
      );
    assert.ok(error instanceof ChecksumMismatchError, String(error));
    assert.equal(error.url, server.payloadUrl);
    assert.equal(error.name, NAME);
    assert.equal(error.algorithm, "sha512");
    assert.equal(error.expected, server.sha512);
    assert.notEqual(error.actual, server.sha512);
    assert.match(error.actual, /^[0-9a-f]{128}$/);
    assert.ok(error.message.includes(server.payloadUrl));
    assert.ok(error.message.includes(error.expected) && error.message.includes(error.actual));
    assert.deepEqual(await filesUnder(cacheDir), []);
    assert.equal(await store().has(NAME), false);
  });

  it("fails fast on 404 without retrying", async () => {
    const server = await flaky();
    const url = `${server.url}/dist/missing.iso`;
    const error = await store()
      .fetch(specFor(server, { url }))
      .then(
        () => assert.fail("fetch should fail"),
        (e: unknown) => e,
      );
    assert.ok(error instanceof DownloadError, String(error));
    assert.equal(error.status, 404);
    assert.equal(error.attempts, 1);
    assert.equal(error.url, url);
    assert.ok(error.message.includes(url));
    assert.match(error.message, /404/);
    assert.match(error.message, /--mirror/);
    assert.equal(server.requests.length, 1);
    assert.deepEqual(await filesUnder(cacheDir), []);
  });

  it("gives up on an unreachable port within seconds, naming the URL", async () => {
    const url = `http://127.0.0.1:${await closedPort()}/pub/NetBSD/boot-com.iso`;
    const started = Date.now();
    const error = await store()
      .fetch({ name: "x/boot-com.iso", url, checksum: { algorithm: "sha256", hex: "0".repeat(64) } })
      .then(
        () => assert.fail("fetch should fail"),
        (e: unknown) => e,
      );
    const elapsed = Date.now() - started;
    assert.ok(error instanceof DownloadError, String(error));
    assert.equal(error.url, url);
    assert.equal(error.attempts, 5);
    assert.equal(error.status, undefined);
    assert.match(error.message, /ECONNREFUSED/);
    assert.ok(error.message.includes(url));
    // The backoff totals about 3 s; the bound only guards against minutes-long retry schedules.
    assert.ok(elapsed < 15_000, `took ${elapsed} ms`);
  });

  it("gives up on a host that never completes the handshake after one retry", async function () {
    this.timeout(60_000);
    const blackhole = await startBlackhole();
    servers.push(blackhole);
    const url = `http://127.0.0.1:${blackhole.port}/pub/NetBSD/boot-com.iso`;
    const error = await store({ connectTimeoutMs: 1000 })
      .fetch({ name: "x/boot-com.iso", url, checksum: { algorithm: "sha256", hex: "0".repeat(64) } })
      .then(
        () => assert.fail("fetch should fail"),
        (e: unknown) => e,
      );
    assert.ok(error instanceof DownloadError, String(error));
    assert.equal(error.url, url);
    assert.equal(error.attempts, 2);
    assert.match(error.message, /could not connect within 1000 ms/);
  });

  describe("checksum files", () => {
    it("takes the expected SHA512 from a BSD-style checksum file", async () => {
      const server = await flaky();
      const result = await store().fetch({
        name: NAME,
        url: server.payloadUrl,
        checksumFile: { url: `${server.url}/dist/SHA512`, algorithm: "sha512", entry: "payload.bin" },
      });
      assert.deepEqual(result.checksum, { algorithm: "sha512", hex: server.sha512 });
      assert.deepEqual(
        server.requests.map((r) => r.path),
        ["/dist/SHA512", PAYLOAD_PATH],
      );
    });

    it("takes the expected SHA256 from a GNU-style checksum file", async () => {
      const server = await flaky();
      const result = await store().fetch({
        name: NAME,
        url: server.payloadUrl,
        checksumFile: { url: `${server.url}/dist/SHA256SUMS`, algorithm: "sha256", entry: "payload.bin" },
      });
      assert.deepEqual(result.checksum, { algorithm: "sha256", hex: server.sha256 });
      assert.equal(sha512(await readFile(result.path)), server.sha512);
    });

    it("names the checksum file and entry when the entry is missing, and downloads nothing", async () => {
      const server = await flaky();
      const checksumUrl = `${server.url}/dist/SHA512`;
      await assert.rejects(
        store().fetch({
          name: NAME,
          url: server.payloadUrl,
          checksumFile: { url: checksumUrl, algorithm: "sha512", entry: "kern-XEN3_DOM0.tgz" },
        }),
        (error: unknown) =>
          error instanceof ChecksumEntryMissingError &&
          error.checksumUrl === checksumUrl &&
          error.entry === "kern-XEN3_DOM0.tgz" &&
          error.message.includes(checksumUrl),
      );
      assert.equal(server.payloadGets().length, 0);
    });

    it("does not trust an MD5-only entry", async () => {
      const server = await flaky();
      await assert.rejects(
        store().fetch({
          name: NAME,
          url: server.payloadUrl,
          checksumFile: { url: `${server.url}/dist/SHA512`, algorithm: "sha512", entry: "md5only.bin" },
        }),
        (error: unknown) => error instanceof ChecksumEntryMissingError && /MD5/.test(error.message),
      );
      assert.equal(server.payloadGets().length, 0);
    });
  });

  it("serves a cached artifact without any request, also from a new store instance", async () => {
    const server = await flaky();
    const spec: ArtifactSpec = {
      name: NAME,
      url: server.payloadUrl,
      checksumFile: { url: `${server.url}/dist/SHA512`, algorithm: "sha512", entry: "payload.bin" },
    };
    const first = await store().fetch(spec);
    const requestsAfterFirst = server.requests.length;
    const second = await store().fetch(spec);
    assert.equal(first.fromCache, false);
    assert.equal(second.fromCache, true);
    assert.equal(second.path, first.path);
    assert.deepEqual(second.checksum, first.checksum);
    assert.equal(server.requests.length, requestsAfterFirst);
  });

  it("fetches again when the catalog's checksum no longer matches the cached file", async () => {
    const server = await flaky();
    await store().fetch(specFor(server));
    const wrong = "f".repeat(128);
    await assert.rejects(
      store().fetch(specFor(server, { checksum: { algorithm: "sha512", hex: wrong } })),
      ChecksumMismatchError,
    );
    assert.equal(server.payloadGets().length, 2);
  });

  it("trusts on first use only when asked: records the SHA-256 it got and holds the copy to it", async () => {
    const server = await flaky();
    const spec: ArtifactSpec = {
      name: "pkgsrc/pkg_summary.gz",
      url: server.payloadUrl,
      trustOnFirstUse: true,
    };
    const s = store();
    const got = await s.fetch(spec);
    assert.deepEqual(got.checksum, {
      algorithm: "sha256",
      hex: createHash("sha256").update(server.content).digest("hex"),
    });
    assert.ok(logs.some((l) => /publishes no checksum/.test(l)));
    assert.equal((await s.fetch(spec)).fromCache, true);
    const bytes = await readFile(got.path);
    bytes[0] = bytes[0]! ^ 0x01;
    await writeFile(got.path, bytes);
    assert.equal((await s.verify()).find((r) => r.name === spec.name)?.ok, false);
  });

  it("verify() finds a file corrupted on disk after caching", async () => {
    const server = await flaky();
    const s = store();
    const ok = await s.fetch(specFor(server));
    const other = await s.fetch(specFor(server, { name: "netbsd-6.1.5/amd64/copy.bin" }));
    assert.deepEqual(
      (await s.verify()).map((r) => r.ok),
      [true, true],
    );

    const bytes = await readFile(ok.path);
    bytes[1000] = bytes[1000]! ^ 0x01;
    await writeFile(ok.path, bytes);

    const results = await s.verify();
    const bad = results.find((r) => r.name === NAME);
    assert.equal(bad?.ok, false);
    assert.equal(bad?.algorithm, "sha512");
    assert.equal(bad?.expected, server.sha512);
    assert.equal(bad?.actual, sha512(bytes));
    assert.match(bad?.problem ?? "", /checksum/);
    assert.equal(results.find((r) => r.name === other.name)?.ok, true);

    await rm(other.path);
    assert.equal((await s.verify()).find((r) => r.name === other.name)?.problem, "file missing");
  });

  it("remove() deletes artifacts by name prefix and counts them", async () => {
    const server = await flaky({ size: 64 * 1024 });
    const s = store();
    for (const name of ["netbsd-9.4/a.bin", "netbsd-9.4/sub/b.bin", "netbsd-10.1/c.bin"]) {
      await s.fetch(specFor(server, { name }));
    }
    await writeFile(`${s.pathOf("netbsd-9.4/d.bin")}.part`, "partial");
    assert.equal(await s.remove("netbsd-9.4/"), 2);
    assert.deepEqual(
      (await s.list()).map((a) => a.name),
      ["netbsd-10.1/c.bin"],
    );
    assert.deepEqual((await filesUnder(cacheDir)).map((f) => f.slice(cacheDir.length + 1)).sort(), [
      "netbsd-10.1/c.bin",
      "netbsd-10.1/c.bin.meta.json",
    ]);
  });

  it("refuses names that leave the cache and specs without any checksum", async () => {
    const s = store();
    for (const name of ["../x", "/etc/passwd", "a/../../x", "a//b", "a/b.part", ""]) {
      assert.throws(() => s.pathOf(name), UsageError, name);
    }
    await assert.rejects(s.fetch({ name: "a/b", url: "http://127.0.0.1:9/b" }), UsageError);
  });

  it("breaks a stale lock left by a dead process", async () => {
    const server = await flaky({ size: 64 * 1024 });
    const s = store();
    const dead = await execa(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
    await mkdir(dirname(s.pathOf(NAME)), { recursive: true });
    const { hostname } = await import("node:os");
    await writeFile(`${s.pathOf(NAME)}.lock`, `${dead.stdout}\n${hostname()}\ndeadbeef\n`);

    const result = await s.fetch(specFor(server));
    assert.equal(result.fromCache, false);
    assert.ok(
      logs.some((l) => l.includes("stale lock")),
      logs.join("\n"),
    );
    await assert.rejects(stat(`${s.pathOf(NAME)}.lock`), { code: "ENOENT" });
  });

  it("two processes fetching the same artifact download it once", async function () {
    this.timeout(90_000);
    const server = await flaky({ gated: true });
    const child = `
      const [, storeIndex, cacheDir, url, hex] = process.argv;
      const { ArtifactStore } = await import(storeIndex);
      const store = new ArtifactStore({ cacheDir, log: (line) => console.error(line) });
      const result = await store.fetch({ name: ${JSON.stringify(NAME)}, url, checksum: { algorithm: "sha512", hex } });
      console.log(JSON.stringify(result));
    `;
    const spawn = () =>
      execa(
        process.execPath,
        [
          "--import",
          "tsx",
          "--input-type=module",
          "-e",
          child,
          STORE_INDEX,
          cacheDir,
          server.payloadUrl,
          server.sha512,
        ],
        { buffer: true, all: false },
      );

    const first = spawn();
    await waitFor("the first child's request", () => server.payloadRequestsArrived === 1);
    const second = spawn();
    let secondErr = "";
    second.stderr?.on("data", (chunk: Buffer) => (secondErr += chunk.toString()));
    await waitFor("the second child to wait on the lock", () => secondErr.includes("waiting for lock"));
    server.release();

    const [a, b] = await Promise.all([first, second]);
    const results = [JSON.parse(a.stdout), JSON.parse(b.stdout)];
    assert.deepEqual(
      results.map((r) => r.fromCache),
      [false, true],
    );
    assert.equal(results[0].path, results[1].path);
    assert.equal(server.payloadGets().length, 1);
    assert.equal(server.payloadRequestsArrived, 1);
    assert.equal(sha512(await readFile(results[0].path)), server.sha512);
    await assert.rejects(stat(`${results[0].path}.lock`), { code: "ENOENT" });
  });

  describe("mirror", () => {
    let mirrorDir: string;
    let content: Buffer;
    let spec: ArtifactSpec;

    beforeEach(async () => {
      mirrorDir = join(work, "mirror");
      const setsDir = join(mirrorDir, "NetBSD-6.1.5", "amd64", "binary", "sets");
      await mkdir(setsDir, { recursive: true });
      content = Buffer.alloc(200_000, 42);
      await writeFile(join(setsDir, "base.tgz"), content);
      await writeFile(join(setsDir, "SHA512"), `SHA512 (base.tgz) = ${sha512(content)}\n`);
      const unreachable = `http://127.0.0.1:${await closedPort()}/pub/NetBSD-archive`;
      spec = {
        name: "netbsd-6.1.5/amd64/binary/sets/base.tgz",
        url: `${unreachable}/NetBSD-6.1.5/amd64/binary/sets/base.tgz`,
        mirrorPath: "NetBSD-6.1.5/amd64/binary/sets/base.tgz",
        checksumFile: {
          url: `${unreachable}/NetBSD-6.1.5/amd64/binary/sets/SHA512`,
          mirrorPath: "NetBSD-6.1.5/amd64/binary/sets/SHA512",
          algorithm: "sha512",
          entry: "base.tgz",
        },
      };
    });

    it("copies the artifact and its checksum file from a mirror directory", async () => {
      const result = await store({ mirror: mirrorDir }).fetch(spec);
      assert.equal(result.fromCache, false);
      assert.equal(result.url, `file://${join(mirrorDir, spec.mirrorPath!)}`);
      assert.deepEqual(await readFile(result.path), content);
      assert.equal((await store().fetch(spec)).fromCache, true);
    });

    it("fetches the artifact and its checksum file from a mirror URL", async () => {
      const mirror = await LocalArtifactServer.start();
      servers.push(mirror);
      mirror.mount("/pub/NetBSD-archive", mirrorDir);
      const result = await store({ mirror: `${mirror.url}/pub/NetBSD-archive/` }).fetch(spec);
      assert.equal(result.url, `${mirror.url}/pub/NetBSD-archive/${spec.mirrorPath}`);
      assert.deepEqual(await readFile(result.path), content);
      assert.deepEqual(
        mirror.requests.map((r) => [r.path, r.status]),
        [
          [`/pub/NetBSD-archive/${spec.checksumFile!.mirrorPath}`, 200],
          [`/pub/NetBSD-archive/${spec.mirrorPath}`, 200],
        ],
      );
    });

    it("names the mirror file when the mirror directory lacks it", async () => {
      await rm(join(mirrorDir, spec.mirrorPath!));
      await assert.rejects(
        store({ mirror: mirrorDir }).fetch(spec),
        (error: unknown) => error instanceof DownloadError && error.url.endsWith(spec.mirrorPath!),
      );
      assert.deepEqual(await filesUnder(cacheDir), []);
    });
  });
});
