/**
 * The artifact cache's file system fills up during a download: a real 1 MiB tmpfs mounted by the test
 * (as root), a real HTTP server sending 3 MiB. Pending, with the reason, where mounting is not allowed.
 */
import assert from "node:assert/strict";
import { readdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { ArtifactStore, CacheFullError } from "../../images/store/index.ts";
import { FlakyHttpServer } from "./fixtures/flaky-http-server.ts";

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(path.relative(dir, p));
  }
  return out;
}

describe("faults: the artifact cache's file system is full", function () {
  this.timeout(60_000);
  let mountPoint: string;
  let mounted = false;
  let server: FlakyHttpServer;

  before(async function () {
    mountPoint = await mkdtemp(path.join(os.tmpdir(), "nbxen-enospc-"));
    const r = await execa("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", mountPoint], {
      reject: false,
    });
    if (r.exitCode !== 0) {
      console.log(`      pending: cannot mount a small tmpfs here (${(r.stderr || r.message || "").trim()})`);
      this.skip();
    }
    mounted = true;
    server = await FlakyHttpServer.start({ size: 3 * 1024 * 1024 });
  });

  after(async () => {
    await server?.close();
    if (mounted) await execa("umount", [mountPoint]);
    await rm(mountPoint, { recursive: true, force: true });
  });

  it("names ENOSPC and the cache, leaves no partial file (final name or .part), and works once there is room", async () => {
    const store = new ArtifactStore({ cacheDir: mountPoint, retries: 2 });
    const spec = {
      name: "box/payload.bin",
      url: server.payloadUrl,
      checksum: { algorithm: "sha512" as const, hex: server.sha512 },
    };
    await assert.rejects(store.fetch(spec), (e: Error) => {
      assert.ok(e instanceof CacheFullError, String(e));
      assert.match(e.message, new RegExp(`no space left for the artifact cache ${mountPoint} \\(ENOSPC\\)`));
      assert.match(e.message, /dist\/payload\.bin/);
      assert.match(e.message, /Free space there, or set cacheDir \(NBXEN_CACHE_DIR\)/);
      return true;
    });
    const left = (await walk(mountPoint)).filter((f) => !f.endsWith(".lock"));
    assert.deepEqual(left, [], "nothing half-downloaded stays in the cache");
    assert.equal(await store.has(spec.name), false);
    assert.equal(
      server.requests.filter((r) => r.path.endsWith("payload.bin")).length,
      1,
      "a full disk is not retried",
    );

    await execa("mount", ["-o", "remount,size=8m", mountPoint]);
    const got = await store.fetch(spec);
    assert.equal(got.size, 3 * 1024 * 1024);
    assert.equal(
      (await store.verify()).every((v) => v.ok),
      true,
    );
  });
});
