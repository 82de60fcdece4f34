import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { copyFileSync } from "node:fs";
import { basename } from "node:path";
import {
  MissingSetError,
  SETS_ISO_VOLUME_ID,
  XorrisoMissingError,
  buildSetsIso,
} from "../../images/media/sets-iso.ts";
import { NETBSD_RELEASES, sysinstSelectedSetFiles } from "../../images/catalog/netbsd.ts";
import { ArtifactStore } from "../../images/store/index.ts";
import { fetchRelease } from "../../harness/boxes/netbsd/box-files.ts";
import { UsageError } from "../../lib/errors.ts";
import { makeNetbsdMirror, serveNetbsdMirror } from "./fixtures/netbsd-mirror.ts";

const SETS: Record<string, number> = {
  "kern-GENERIC.tgz": 70_000,
  "base.tar.xz": 150_000,
  "etc.tgz": 3_000,
  "modules.tar.xz": 1,
};

/** File paths in the ISO as one of its trees shows them ("nojoliet": Rock Ridge; "ecma119": plain ISO 9660). */
async function listIso(iso: string, tree: "nojoliet" | "ecma119"): Promise<string[]> {
  const r = await execa("xorriso", ["-read_fs", tree, "-indev", iso, "-find", "/", "-type", "f"], {
    reject: false,
  });
  assert.equal(r.exitCode, 0, r.stderr);
  return r.stdout
    .split("\n")
    .map((l) => l.trim().replace(/^'(.*)'$/, "$1"))
    .filter((l) => l.startsWith("/"))
    .sort();
}

describe("sets ISO", function () {
  this.timeout(60_000);
  let dir: string;
  let setsDir: string;

  before(async function () {
    const probe = await execa("xorriso", ["-version"], { reject: false });
    if (probe.exitCode !== 0) {
      console.log("    skipped: xorriso is not installed (apt-get install xorriso)");
      this.skip();
    }
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "sets-iso-"));
    setsDir = join(dir, "sets");
    mkdirSync(setsDir);
    for (const [name, size] of Object.entries(SETS)) writeFileSync(join(setsDir, name), randomBytes(size));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("holds amd64/binary/sets/ with the exact long mixed-case names, read back through Rock Ridge", async () => {
    const out = join(dir, "sets.iso");
    await buildSetsIso({ setsDir, arch: "amd64", out });
    assert.ok(existsSync(out));
    assert.ok(!existsSync(`${out}.part`));
    assert.deepEqual(
      await listIso(out, "nojoliet"),
      Object.keys(SETS)
        .map((n) => `/amd64/binary/sets/${n}`)
        .sort(),
    );
    // The plain ISO 9660 tree has only 8.3 names: without Rock Ridge sysinst would not find the sets.
    const plain = await listIso(out, "ecma119");
    assert.ok(plain.includes("/AMD64/BINARY/SETS/KERN_GEN.TGZ"), plain.join(" "));
    assert.ok(!plain.some((p) => p.endsWith("kern-GENERIC.tgz")));

    const pvd = await execa("xorriso", ["-indev", out, "-pvd_info"], { reject: false });
    assert.match(pvd.stdout, new RegExp(`Volume Id\\s*:\\s*${SETS_ISO_VOLUME_ID}`));
  });

  it("stores the bytes unchanged", async () => {
    const out = join(dir, "sets.iso");
    await buildSetsIso({ setsDir, arch: "amd64", out });
    const extracted = join(dir, "kern.tgz");
    const r = await execa(
      "xorriso",
      ["-osirrox", "on", "-indev", out, "-extract", "/amd64/binary/sets/kern-GENERIC.tgz", extracted],
      {
        reject: false,
      },
    );
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok(readFileSync(extracted).equals(readFileSync(join(setsDir, "kern-GENERIC.tgz"))));
  });

  it("replaces an existing ISO atomically and leaves no .part behind on failure", async () => {
    const out = join(dir, "sets.iso");
    writeFileSync(out, "old");
    await buildSetsIso({ setsDir, arch: "amd64", out });
    assert.notEqual(readFileSync(out, "utf8").slice(0, 3), "old");

    const badOut = join(dir, "no-such-dir", "sets.iso");
    await assert.rejects(buildSetsIso({ setsDir, arch: "amd64", out: badOut }));
    assert.ok(!existsSync(`${badOut}.part`));
  });

  it("says to install xorriso when it is missing", async () => {
    await assert.rejects(
      buildSetsIso({ setsDir, arch: "amd64", out: join(dir, "x.iso"), xorriso: join(dir, "no-xorriso") }),
      (e: unknown) => e instanceof XorrisoMissingError && /install xorriso/.test(e.message),
    );
    assert.ok(!existsSync(join(dir, "x.iso.part")));
  });

  it("refuses to write a CD without a set sysinst will select, naming it as sysinst would", async () => {
    const out = join(dir, "sets.iso");
    await assert.rejects(
      buildSetsIso({
        setsDir,
        arch: "amd64",
        out,
        requiredSets: ["kern-GENERIC.tgz", "modules.tgz", "base.tgz", "etc.tgz"],
      }),
      (e: unknown) =>
        e instanceof MissingSetError &&
        e.missing.join() === "modules.tgz,base.tgz" &&
        /Release set modules does not exist\./.test(e.message),
    );
    assert.ok(!existsSync(out) && !existsSync(`${out}.part`));
  });

  for (const rel of NETBSD_RELEASES) {
    it(`${rel.box}: the CD built from the release's fetched sets holds every set sysinst selects`, async () => {
      const mirror = await makeNetbsdMirror(join(dir, "mirror"), rel);
      const { server, url } = await serveNetbsdMirror(mirror);
      try {
        const store = new ArtifactStore({ cacheDir: join(dir, "cache"), mirror: url });
        const files = await fetchRelease(store, rel);
        const staging = join(dir, "staging");
        mkdirSync(staging);
        for (const [name, path] of files)
          if (name.includes("/binary/sets/")) copyFileSync(path, join(staging, basename(name)));
        const out = join(dir, "sets.iso");
        await buildSetsIso({
          setsDir: staging,
          arch: "amd64",
          out,
          requiredSets: sysinstSelectedSetFiles(rel),
        });
        const onCd = await listIso(out, "nojoliet");
        const missing = sysinstSelectedSetFiles(rel).filter((f) => !onCd.includes(`/amd64/binary/sets/${f}`));
        assert.deepEqual(missing, [], `sysinst would stop at "Release set ... does not exist."`);
      } finally {
        await server.close();
      }
    });
  }

  it("refuses an empty or missing sets directory", async () => {
    const empty = join(dir, "empty");
    mkdirSync(empty);
    await assert.rejects(
      buildSetsIso({ setsDir: empty, arch: "amd64", out: join(dir, "e.iso") }),
      UsageError,
    );
    await assert.rejects(
      buildSetsIso({ setsDir: join(dir, "nope"), arch: "amd64", out: join(dir, "e.iso") }),
      UsageError,
    );
  });
});
