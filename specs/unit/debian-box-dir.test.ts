// The debian-12 box directory: which boxes are used as they are, which are rebuilt, and one build at a
// time per directory. The box files here are stand-ins of one byte (readDebianBox checks presence and
// box.json only); the lock is the real one.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  buildDebianBox,
  DEBIAN_BOX_FILES,
  DEBIAN_BOX_FORMAT,
  DebianBoxOutdatedError,
  readDebianBox,
} from "../../images/debian/box.ts";
import { acquireLock } from "../../images/store/lock.ts";

function meta(format: number | undefined): string {
  return JSON.stringify({
    box: "debian-12",
    ...(format === undefined ? {} : { format }),
    suite: "bookworm",
    kernelVersion: "6.1.0-56-amd64",
    rootLabel: "nbxroot",
    nic: "eth0",
    hostname: "nbxen-debian",
    rootPassword: "pw",
    xenVersion: "4.17.5",
    packages: 200,
    xenRepoPackages: 90,
    builtAt: "2026-11-25T00:00:00Z",
    kernelCmdline: "root=LABEL=nbxroot",
  });
}

async function writeBox(dir: string, format: number | undefined): Promise<void> {
  for (const f of DEBIAN_BOX_FILES) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), f === "box.json" ? meta(format) : "x");
  }
}

describe("debian-12 box directory", () => {
  let work: string;
  beforeEach(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "nbx-debian-dir-"));
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("reads a complete box of this harness's format", async () => {
    await writeBox(work, DEBIAN_BOX_FORMAT);
    const box = await readDebianBox(work);
    assert.equal(box.meta.format, DEBIAN_BOX_FORMAT);
    assert.equal(box.disk, path.join(work, "disk.qcow2"));
  });

  it("calls a box without a format (built before formats) or of another format outdated", async () => {
    await writeBox(work, undefined);
    await assert.rejects(readDebianBox(work), (e: unknown) => {
      assert.ok(e instanceof DebianBoxOutdatedError);
      assert.equal(e.format, undefined);
      assert.match(e.message, /rebuilt on the next run/);
      return true;
    });
    await writeBox(work, DEBIAN_BOX_FORMAT + 1);
    await assert.rejects(readDebianBox(work), DebianBoxOutdatedError);
  });

  it("uses a box another run finished while this one waited for the build lock, without building", async () => {
    const dir = path.join(work, "debian-12");
    const lines: string[] = [];
    const lock = await acquireLock(`${dir}.lock`);
    let settled = false;
    const build = buildDebianBox(dir, { log: (l) => lines.push(l) }).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(settled, false, "waits while another run holds the lock");
    await writeBox(dir, DEBIAN_BOX_FORMAT);
    await lock.release();
    const box = await build;
    assert.equal(box.dir, dir);
    assert.ok(
      lines.some((l) => l.includes("waiting for lock")),
      lines.join("\n"),
    );
    assert.ok(!lines.some((l) => l.startsWith("building")), lines.join("\n"));
  });
});
