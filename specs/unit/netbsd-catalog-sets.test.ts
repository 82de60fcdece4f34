/**
 * Sets: which ones sysinst's Minimal installation selects per branch, what their files are called per
 * release, and that what the harness fetches for the sets CD covers the selection. The selection is
 * data taken from sysinst's sources (docs/netbsd.md "Minimal selection"); the literal lists below pin it
 * to those sources, so an edit to the data that drifts from them fails here.
 */
import assert from "node:assert/strict";
import {
  FORCE_TGZ_SETS,
  NETBSD_RELEASES,
  SYSINST_MINIMAL_SETS,
  netbsdRelease,
  pkgsrcBranchCandidates,
  releaseArtifacts,
  setFileName,
  sysinstSelectedSetFiles,
} from "../../images/catalog/netbsd.ts";

describe("NetBSD catalog: sets", () => {
  it("models sysinst's Minimal selection per branch (SET_KERNEL_1 + SET_CORE)", () => {
    // distrib/utils/sysinst/defs.h (1.147, the 6.x line) and usr.sbin/sysinst/defs.h before 2020:
    // SET_CORE = SET_MODULES, SET_BASE, SET_ETC.
    assert.deepEqual(SYSINST_MINIMAL_SETS["netbsd-6"], ["kern-GENERIC", "modules", "base", "etc"]);
    assert.deepEqual(SYSINST_MINIMAL_SETS["netbsd-9"], ["kern-GENERIC", "modules", "base", "etc"]);
    // usr.sbin/sysinst/defs.h 1.79 (2022-01-30, before netbsd-10 branched): WITH_MODULES SET_BASE,
    // WITH_DTB SET_GPUFW, SET_ETC (no dtb on amd64).
    assert.deepEqual(SYSINST_MINIMAL_SETS["netbsd-10"], ["kern-GENERIC", "modules", "base", "gpufw", "etc"]);
  });

  it("names set files as sysinst looks for them: .tgz on 6.x, .tar.xz on 9.x/10.x, source sets always .tgz", () => {
    const six = netbsdRelease("netbsd-6.1.5");
    const nine = netbsdRelease("netbsd-9.4");
    const ten = netbsdRelease("netbsd-10.1");
    assert.deepEqual(sysinstSelectedSetFiles(six), [
      "kern-GENERIC.tgz",
      "modules.tgz",
      "base.tgz",
      "etc.tgz",
    ]);
    // The old catalog asked 9.4 for base.tgz, which no mirror has.
    assert.deepEqual(sysinstSelectedSetFiles(nine), [
      "kern-GENERIC.tar.xz",
      "modules.tar.xz",
      "base.tar.xz",
      "etc.tar.xz",
    ]);
    assert.deepEqual(sysinstSelectedSetFiles(ten), [
      "kern-GENERIC.tar.xz",
      "modules.tar.xz",
      "base.tar.xz",
      "gpufw.tar.xz",
      "etc.tar.xz",
    ]);
    assert.deepEqual([...FORCE_TGZ_SETS], ["syssrc", "src", "sharesrc", "gnusrc", "xsrc"]);
    assert.equal(setFileName(ten, "syssrc"), "syssrc.tgz");
    assert.equal(setFileName(ten, "comp"), "comp.tar.xz");
  });

  for (const rel of NETBSD_RELEASES) {
    it(`${rel.box}: the sets the harness fetches for the CD hold every set sysinst's ${rel.sysinstDistribution} installation selects`, () => {
      const fetched = releaseArtifacts(rel)
        .filter((a) => a.name.includes("/binary/sets/"))
        .map((a) => a.checksumFile!.entry);
      const missing = sysinstSelectedSetFiles(rel).filter((f) => !fetched.includes(f));
      assert.deepEqual(missing, [], `the CD would stop sysinst at "Release set ... does not exist."`);
      for (const a of releaseArtifacts(rel).filter((x) => x.name.includes("/binary/sets/")))
        assert.ok(a.url.endsWith(`/NetBSD-${rel.version}/amd64/binary/sets/${a.checksumFile!.entry}`));
    });
  }

  it("picks quarterly branches from a listing: this ABI only, newest first, none past the release's last branch", () => {
    const listing = [
      "../",
      "9.0/",
      "9.0_2025Q2/",
      "9.0_2025Q3/",
      "9.0_2025Q4/",
      "9.0_2026Q1",
      "9.0_current/",
      "10.0_2026Q2/",
      "9.5/",
    ];
    assert.deepEqual(pkgsrcBranchCandidates(netbsdRelease("netbsd-9.4"), listing), ["2025Q3", "2025Q2"]);
    assert.deepEqual(
      pkgsrcBranchCandidates(netbsdRelease("netbsd-10.1"), ["10.0_2025Q3", "10.0_2026Q2/", "10.0"]),
      ["2026Q2", "2025Q3"],
    );
    assert.deepEqual(pkgsrcBranchCandidates(netbsdRelease("netbsd-10.1"), ["9.0_2026Q2"]), []);
  });
});
