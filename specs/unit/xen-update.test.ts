// A locally built Xen pair read from its package files, the update-xen target, the package tree for a
// local pair's dependencies, and the update's dom0 commands.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { fetchXenPackageTree, netbsdRelease, type PackageStore } from "../../images/catalog/netbsd.ts";
import { LocalXenPackageError, readLocalXenPair } from "../../images/catalog/netbsd-local-packages.ts";
import { installXenPackages, updateXenCommands } from "../../harness/boxes/netbsd/dom0-commands.ts";
import { expectedXenVersion, resolveXenUpdateTarget } from "../../harness/boxes/netbsd/update-xen.ts";
import { UsageError } from "../../lib/errors.ts";

/** A binary package as pkg_create(1) lays it out: +CONTENTS first, then a file. */
function writePackage(dir: string, pkgname: string, depends: string[] = []): string {
  const work = mkdtempSync(path.join(os.tmpdir(), "nbxen-localpkg-"));
  writeFileSync(
    path.join(work, "+CONTENTS"),
    [`@name ${pkgname}`, ...depends.map((d) => `@pkgdep ${d}`), "@cwd /usr/pkg", "share/doc/x"].join("\n") +
      "\n",
  );
  mkdirSync(path.join(work, "share/doc"), { recursive: true });
  writeFileSync(path.join(work, "share/doc/x"), pkgname);
  const file = path.join(dir, `${pkgname}.tgz`);
  execFileSync("tar", ["-czf", file, "-C", work, "+CONTENTS", "share/doc/x"]);
  rmSync(work, { recursive: true, force: true });
  return file;
}

describe("a locally built Xen pair", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "nbxen-local-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the pair from a directory: PKGNAMEs from @name, dependencies from @pkgdep, each file's SHA256", async () => {
    const k = writePackage(dir, "xenkernel420-4.20.2");
    writePackage(dir, "xentools420-4.20.2", ["libyajl>=2.0", "python311>=3.11"]);
    writeFileSync(path.join(dir, "README"), "not a package\n");
    const pair = await readLocalXenPair([dir]);
    assert.equal(pair.nnn, "420");
    assert.equal(pair.kernel.pkgname, "xenkernel420-4.20.2");
    assert.deepEqual(pair.tools.depends, ["libyajl>=2.0", "python311>=3.11"]);
    assert.equal(pair.kernel.sha256, createHash("sha256").update(readFileSync(k)).digest("hex"));
  });

  it("refuses what is not one xenkernelNNN with its xentoolsNNN, naming what it found", async () => {
    const k420 = writePackage(dir, "xenkernel420-4.20.2");
    const t415 = writePackage(dir, "xentools415-4.15.5");
    await assert.rejects(readLocalXenPair([k420, t415]), /xenkernel420 goes with xentools420/);
    await assert.rejects(
      readLocalXenPair([k420]),
      /found 1 kernel package\(s\): xenkernel420-4\.20\.2.*0 tools/,
    );
    const other = writePackage(dir, "libyajl-2.1.0");
    await assert.rejects(readLocalXenPair([k420, other]), (e: unknown) => {
      assert.ok(e instanceof LocalXenPackageError && e instanceof UsageError);
      assert.equal(e.path, other);
      assert.match(e.message, /libyajl-2\.1\.0, not a xenkernelNNN or xentoolsNNN/);
      return true;
    });
  });

  it("refuses a file that is not a package, and a path that does not exist", async () => {
    const junk = path.join(dir, "xenkernel420-1.tgz");
    writeFileSync(junk, "not a tar archive\n");
    await assert.rejects(readLocalXenPair([junk]), /not a pkgsrc binary package: tar cannot read \+CONTENTS/);
    await assert.rejects(readLocalXenPair([path.join(dir, "nope")]), /nope: no such file or directory/);
    const empty = path.join(dir, "empty");
    mkdirSync(empty);
    await assert.rejects(readLocalXenPair([empty]), /holds no xenkernelNNN-\*\.tgz/);
  });

  it("the update target: a pair by name, local files, or a clear error", async () => {
    const rel = netbsdRelease("netbsd-10.1");
    const byName = await resolveXenUpdateTarget(rel, ["xenkernel415"]);
    assert.equal(byName.kind, "pair");
    assert.equal(byName.rel.xen.toolsPkg, "xentools415");
    writePackage(dir, "xenkernel420-4.20.2");
    writePackage(dir, "xentools420-4.20.2");
    const local = await resolveXenUpdateTarget(rel, [dir]);
    assert.equal(local.kind, "local");
    assert.equal(local.rel.xen.xenGzPath, "/usr/pkg/xen420-kernel/xen.gz");
    await assert.rejects(resolveXenUpdateTarget(rel, []), /say what to update to/);
    await assert.rejects(resolveXenUpdateTarget(rel, ["xenkernel415", dir]), /not both/);
  });

  it("the Xen version xl info must report after the update", () => {
    const rel = netbsdRelease("netbsd-10.1");
    assert.equal(expectedXenVersion(rel, "xenkernel420-4.20.2nb1"), "4.20.2");
    assert.equal(expectedXenVersion(rel, "xenkernel420-20250821nb1"), "4.20");
    assert.equal(expectedXenVersion(rel, "xenkernel420-4.19.1"), "4.20");
  });

  it("the package tree for a local pair needs only its dependencies, not the pair", async () => {
    const summary = gzipSync(
      "PKGNAME=libyajl-2.1.0nb1\nFILE_NAME=libyajl-2.1.0nb1.tgz\n\nPKGNAME=python311-3.11.13\nFILE_NAME=python311-3.11.13.tgz\n",
    );
    writeFileSync(path.join(dir, "pkg_summary.gz"), summary);
    const fetched: string[] = [];
    const store: PackageStore = {
      async fetch(spec) {
        fetched.push(path.basename(spec.name));
        return {
          name: spec.name,
          path: path.join(dir, "pkg_summary.gz"),
          size: 1,
          checksum: { algorithm: "sha256", hex: "0".repeat(64) },
          url: spec.url,
          fromCache: false,
        };
      },
      listDirectory: () => Promise.reject(new Error("no listing")),
    };
    const got = await fetchXenPackageTree(store, netbsdRelease("netbsd-10.1"), {
      local: { pkgnames: ["xenkernel421-4.21.0", "xentools421-4.21.0"], depends: ["libyajl>=2.0"] },
    });
    assert.deepEqual(got.xenPackages, ["xenkernel421-4.21.0", "xentools421-4.21.0"]);
    assert.deepEqual(fetched, ["pkg_summary.gz", "libyajl-2.1.0nb1.tgz"]);
    await assert.rejects(
      fetchXenPackageTree(store, netbsdRelease("netbsd-10.1"), {
        local: { pkgnames: ["xenkernel421-1", "xentools421-1"], depends: ["libnope>=1"] },
      }),
      /holds the dependencies of xenkernel421-1 and xentools421-1 \(libnope>=1\)/,
    );
  });

  it("the update's commands: the old tools then kernel deleted, the new pair added, the new xen.gz in /", () => {
    const rel = netbsdRelease("netbsd-10.1");
    const install = installXenPackages(rel, "http://h/All", {
      howto: "updating-xen",
      files: ["http://h/local-xen/xenkernel420-4.20.2.tgz", "http://h/local-xen/xentools420-4.20.2.tgz"],
    });
    const cmds = updateXenCommands(["xenkernel420-4.20.1", "xentools420-4.20.1"], install, rel).map(
      (c) => c.sh,
    );
    assert.equal(cmds[0], "pkg_delete -v xentools420-4.20.1 xenkernel420-4.20.1");
    assert.match(
      cmds[2]!,
      /^PKG_PATH='http:\/\/h\/All' pkg_add -v 'http:\/\/h\/local-xen\/xenkernel420-4\.20\.2\.tgz' 'http:\/\/h\/local-xen\/xentools420-4\.20\.2\.tgz'$/,
    );
    assert.ok(cmds.includes("cp /usr/pkg/xen420-kernel/xen.gz /"));
    assert.ok(cmds.some((c) => c === "cp /usr/pkg/share/examples/rc.d/xencommons /etc/rc.d/xencommons"));
    assert.ok(cmds.indexOf("cp /usr/pkg/xen420-kernel/xen.gz /") > 2);
  });
});
