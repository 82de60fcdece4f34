import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import {
  fetchXenPackageTree,
  findXenPair,
  listXenPairs,
  netbsdRelease,
  parsePkgSummary,
  PkgsrcTreeMissingError,
  withXenPackage,
  xenPair,
  XenPackageUnknownError,
  type PackageStore,
} from "../../images/catalog/netbsd.ts";
import { netbsdFacts } from "../../harness/boxes/netbsd/box.ts";
import { getBox } from "../../harness/boxes/registry.ts";
import { UsageError } from "../../lib/errors.ts";

// Two complete pairs (xenkernel420 in two revisions), and a xenkernel418 whose tools are missing.
const SUMMARY = `PKGNAME=xenkernel420-20250821
FILE_NAME=xenkernel420-20250821.tgz

PKGNAME=xenkernel420-20250821nb1
FILE_NAME=xenkernel420-20250821nb1.tgz

PKGNAME=xentools420-20250821nb1
FILE_NAME=xentools420-20250821nb1.tgz

PKGNAME=xenkernel415-4.15.5
FILE_NAME=xenkernel415-4.15.5.tgz

PKGNAME=xentools415-4.15.5
FILE_NAME=xentools415-4.15.5.tgz

PKGNAME=xenkernel418-4.18.3
FILE_NAME=xenkernel418-4.18.3.tgz

PKGNAME=xenstoretools-4.18
FILE_NAME=xenstoretools-4.18.tgz
`;

/** A package store over one pkg_summary.gz: no directory listing, so the release's default branch is tried. */
async function storeWith(dir: string, summary: string): Promise<PackageStore & { urls: string[] }> {
  const file = path.join(dir, "pkg_summary.gz");
  await writeFile(file, gzipSync(summary));
  const urls: string[] = [];
  return {
    urls,
    async fetch(spec) {
      urls.push(spec.url);
      if (!spec.name.endsWith("/pkg_summary.gz")) {
        const pkg = path.join(dir, path.basename(spec.name));
        await writeFile(pkg, "placeholder\n");
        return {
          name: spec.name,
          path: pkg,
          size: 12,
          checksum: spec.checksum!,
          url: spec.url,
          fromCache: false,
        };
      }
      return {
        name: spec.name,
        path: file,
        size: 1,
        checksum: spec.checksum!,
        url: spec.url,
        fromCache: false,
      };
    },
    listDirectory() {
      return Promise.reject(new Error("no listing here"));
    },
  };
}

describe("Xen pairs: listing and choosing", () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-xenpair-"))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("lists the pairs pkg_summary holds with their newest PKGNAMEs, a kernel without its tools apart", () => {
    assert.deepEqual(listXenPairs(parsePkgSummary(SUMMARY)), {
      pairs: [
        { name: "xenkernel415", kernel: "xenkernel415-4.15.5", tools: "xentools415-4.15.5" },
        { name: "xenkernel420", kernel: "xenkernel420-20250821nb1", tools: "xentools420-20250821nb1" },
      ],
      unpaired: ["xenkernel418-4.18.3"],
    });
    assert.equal(findXenPair(parsePkgSummary(SUMMARY), xenPair("418")), undefined);
  });

  it("derives a pair from its number: tools, Xen version, xen.gz path, xend before Xen 4.5", () => {
    assert.deepEqual(xenPair("415"), {
      kernelPkg: "xenkernel415",
      toolsPkg: "xentools415",
      xenVersion: "4.15",
      xenGzPath: "/usr/pkg/xen415-kernel/xen.gz",
      rcdScripts: ["xen-watchdog", "xencommons", "xendomains"],
      chosen: false,
    });
    assert.equal(xenPair("42").xenGzPath, "/usr/pkg/xen42-kernel/xen.gz");
    assert.ok(xenPair("42").rcdScripts.includes("xend"));
    assert.equal(xenPair("420").xenVersion, "4.20");
  });

  it("keeps the release's default pair when nothing is chosen, and the box facts follow a chosen one", () => {
    const rel = netbsdRelease("netbsd-10.1");
    assert.equal(withXenPackage(rel, undefined), rel);
    assert.equal(netbsdFacts(rel).expectedXenVersion, "4.20");
    const chosen = withXenPackage(rel, "xenkernel415");
    assert.equal(chosen.xen.chosen, true);
    const facts = netbsdFacts(chosen);
    assert.deepEqual(facts.xenPackages, ["xenkernel415", "xentools415"]);
    assert.equal(facts.expectedXenVersion, "4.15");
    assert.equal(facts.packagedXenKernelPath, "/usr/pkg/xen415-kernel/xen.gz");
    assert.equal(rel.xen.kernelPkg, "xenkernel420", "the catalog's release is not changed");
  });

  it("refuses a name that is not xenkernelNNN, naming what to give", () => {
    assert.throws(
      () => withXenPackage(netbsdRelease("netbsd-9.4"), "xen415"),
      (e: unknown) =>
        e instanceof UsageError &&
        /"xen415" is not a Xen package for netbsd-9\.4: name a pkgsrc xenkernelNNN/.test(e.message),
    );
  });

  it("the boxes refuse the other kind's Xen: debian for NetBSD, a pkgsrc name for a Debian box", async () => {
    await assert.rejects(
      getBox("netbsd-10.1", "debian"),
      (e: unknown) =>
        e instanceof UsageError &&
        /"debian" is a Debian box's own Xen \(debian-12, debian-13\)/.test(e.message),
    );
    for (const [box, xen] of [
      ["debian-12", "Xen 4.17 \\(bookworm's xen-hypervisor-4.17-amd64\\)"],
      ["debian-13", "Xen 4.20 \\(trixie's xen-hypervisor-4.20-amd64\\)"],
    ] as const) {
      await assert.rejects(
        getBox(box, "xenkernel420"),
        (e: unknown) =>
          e instanceof UsageError &&
          new RegExp(`"xenkernel420" is a NetBSD pkgsrc package; ${box} runs Debian's own ${xen}`).test(
            e.message,
          ),
      );
      assert.equal((await getBox(box, "debian")).name, box);
      assert.equal((await getBox(box)).name, box);
    }
    const box = await getBox("netbsd-10.1", "xenkernel415");
    assert.deepEqual(box.facts.xenPackages, ["xenkernel415", "xentools415"]);
    assert.match(
      box.steps().find((s) => s.name === "install-xen")!.title,
      /pkg_add xenkernel415 xentools415/,
    );
  });

  it("fetches the chosen pair and says its exact PKGNAMEs", async () => {
    const store = await storeWith(dir, SUMMARY);
    const got = await fetchXenPackageTree(
      store,
      withXenPackage(netbsdRelease("netbsd-10.1"), "xenkernel415"),
    );
    assert.deepEqual(got.xenPackages, ["xenkernel415-4.15.5", "xentools415-4.15.5"]);
    assert.ok(store.urls.some((u) => u.endsWith("/xentools415-4.15.5.tgz")));
    assert.ok(!store.urls.some((u) => /xen(kernel|tools)420/.test(u)), "the other pair is not fetched");
    const byDefault = await fetchXenPackageTree(await storeWith(dir, SUMMARY), netbsdRelease("netbsd-10.1"));
    assert.deepEqual(byDefault.xenPackages, ["xenkernel420-20250821nb1", "xentools420-20250821nb1"]);
  });

  it("a chosen pair no tree holds is a UsageError naming it, the release, the tree and the pairs there", async () => {
    const store = await storeWith(dir, SUMMARY);
    const rel = withXenPackage(netbsdRelease("netbsd-10.1"), "xenkernel418");
    await assert.rejects(fetchXenPackageTree(store, rel), (e: unknown) => {
      assert.ok(e instanceof XenPackageUnknownError && e instanceof UsageError, String(e));
      assert.equal(e.cliExitCode, 2);
      assert.equal(
        e.message,
        'xenPackage "xenkernel418": no package tree for NetBSD 10.1 (x86_64) holds xenkernel418 with xentools418. The pairs there:\n' +
          "  - NetBSD/x86_64/10.0_2025Q3/All (https://cdn.netbsd.org/pub/pkgsrc/packages/NetBSD/x86_64/10.0_2025Q3/All/pkg_summary.gz): " +
          "xenkernel415 (xenkernel415-4.15.5, xentools415-4.15.5), xenkernel420 (xenkernel420-20250821nb1, xentools420-20250821nb1); " +
          "without their tools: xenkernel418-4.18.3\n" +
          'Choose one of xenkernel415, xenkernel420 with "xenPackage" in nbxen.config.json or `nbxen up --xen NAME`, ' +
          "or leave it unset for NetBSD 10.1's default, xenkernel420.",
      );
      return true;
    });
  });

  it("the default pair missing stays a tree problem (PkgsrcTreeMissingError, exit 1), not bad input", async () => {
    const store = await storeWith(dir, "PKGNAME=xenkernel415-4.15.5\n\nPKGNAME=xentools415-4.15.5\n");
    await assert.rejects(
      fetchXenPackageTree(store, netbsdRelease("netbsd-10.1")),
      (e: unknown) => e instanceof PkgsrcTreeMissingError && !(e instanceof UsageError),
    );
  });
});
