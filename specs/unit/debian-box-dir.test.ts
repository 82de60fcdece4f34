// A Debian box's directory: which boxes are used as they are, which are rebuilt, and one build at a
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
  DebianBoxMetaError,
  readDebianBox,
} from "../../images/debian/box.ts";
import { DEBIAN_RELEASES, type DebianRelease } from "../../images/debian/releases.ts";
import { acquireLock } from "../../images/store/lock.ts";

const [bookworm, trixie] = DEBIAN_RELEASES as [DebianRelease, DebianRelease];

function meta(format: number | undefined, release = bookworm): string {
  return JSON.stringify({
    box: release.box,
    ...(format === undefined ? {} : { format }),
    suite: release.suite,
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

async function writeBox(dir: string, format: number | undefined, release = bookworm): Promise<void> {
  for (const f of DEBIAN_BOX_FILES) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), f === "box.json" ? meta(format, release) : "x");
  }
}

describe("Debian box directory", () => {
  let work: string;
  beforeEach(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "nbx-debian-dir-"));
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("reads a complete box of this harness's format", async () => {
    await writeBox(work, DEBIAN_BOX_FORMAT);
    const box = await readDebianBox(work, bookworm);
    assert.equal(box.meta.format, DEBIAN_BOX_FORMAT);
    assert.equal(box.disk, path.join(work, "disk.qcow2"));
  });

  it("refuses a box of another release, naming the box it expected", async () => {
    await writeBox(work, DEBIAN_BOX_FORMAT, bookworm);
    await assert.rejects(readDebianBox(work, trixie), (e: unknown) => {
      assert.ok(e instanceof DebianBoxMetaError);
      assert.equal(e.field, "box");
      assert.match(e.message, /"box" is debian-12, not debian-13/);
      return true;
    });
    await writeFile(path.join(work, "box.json"), meta(DEBIAN_BOX_FORMAT, { ...trixie, suite: "bookworm" }));
    await assert.rejects(readDebianBox(work, trixie), /"suite" is bookworm, not trixie \(debian-13\)/);
    await writeBox(work, DEBIAN_BOX_FORMAT, trixie);
    assert.equal((await readDebianBox(work, trixie)).meta.box, "debian-13");
  });

  it("names the release's box in its errors", async () => {
    await writeBox(work, DEBIAN_BOX_FORMAT - 1, trixie);
    await assert.rejects(
      readDebianBox(work, trixie),
      /The debian-13 box in .*: its format is 1, this harness needs/,
    );
    await rm(path.join(work, "vmlinuz"));
    await assert.rejects(readDebianBox(work, trixie), /The debian-13 box in .* is incomplete: vmlinuz/);
  });

  it("calls a box without a format (built before formats) or of another format outdated", async () => {
    await writeBox(work, undefined);
    await assert.rejects(readDebianBox(work, bookworm), (e: unknown) => {
      assert.ok(e instanceof DebianBoxOutdatedError);
      assert.equal(e.format, undefined);
      assert.match(e.message, /rebuilt on the next run/);
      return true;
    });
    await writeBox(work, DEBIAN_BOX_FORMAT + 1);
    await assert.rejects(readDebianBox(work, bookworm), DebianBoxOutdatedError);
  });

  it("uses a box another run finished while this one waited for the build lock, without building", async () => {
    const dir = path.join(work, "debian-12");
    const lines: string[] = [];
    const lock = await acquireLock(`${dir}.lock`);
    let settled = false;
    const build = buildDebianBox(dir, bookworm, { log: (l) => lines.push(l) }).finally(
      () => (settled = true),
    );
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
