import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseSideBySide, splitRow } from "../../harness/howto/side-by-side.ts";

const N = "\u00a0";
const TEXT = readFileSync(
  new URL("../../docs/howto/netbsd-xen-howto.side-by-side.txt", import.meta.url),
  "utf8",
);

describe("side-by-side HOWTO text", () => {
  const p = parseSideBySide(TEXT);
  const at = (rev: "old" | "new", row: number) =>
    p.revisions[rev].find((l) => l.where === `row ${row}`)?.text;

  it("finds the two hunks and where each starts in each revision", () => {
    assert.deepEqual(p.hunks, [
      { old: 27, new: 27, row: 1 },
      { old: 359, new: 503, row: 140 },
    ]);
    assert.deepEqual(p.ambiguousRows, []);
    assert.equal(p.revisions.old.length, 40);
    assert.equal(p.revisions.new.length, 131);
  });

  it("gives an unchanged line to both revisions, with its double spaces", () => {
    assert.equal(at("old", 10), "The dom0 can start one or more domUs.  (Booting is explained in detail");
    assert.equal(at("new", 10), at("old", 10));
  });

  it("tells a changed line's two sides apart where a double space looks like the separator", () => {
    assert.equal(at("old", 18), "architecture.");
    assert.equal(at("new", 18), "architecture.  This HOWTO presumes familiarity with installing NetBSD");
    assert.equal(at("old", 70), "without also installing Xen itself.");
  });

  it("gives a line only one revision has to that revision", () => {
    assert.equal(at("old", 5), undefined);
    assert.equal(at("new", 5), "guests, the VMX cpu feature (Intel) or VT?? (amd64) is needed.  TODO:");
    assert.equal(at("old", 114), "(or newer) as you usually do on x86 hardware. The binary releases are");
    assert.equal(at("new", 114), undefined);
    assert.equal(at("new", 42), "Xen command program");
    assert.equal(at("old", 42), "This HOWTO presumes familiarity with installing NetBSD on i386/amd64");
  });

  it("keeps indented code indented", () => {
    assert.equal(at("old", 128), "    Done.");
    assert.equal(at("new", 144), "    # /usr/pkg/etc/xen/vif-bridge");
  });

  it("never takes a cell the HTML rendering could not have produced", () => {
    // `  b` as a cell would be rendered "NBSP b", so this row is an empty left cell and a right one.
    assert.deepEqual(splitRow(`${N} ${N}b. ${N}c`), {
      split: { left: "", right: "b.  c" },
      ambiguous: false,
    });
  });

  it("splits a one-sided row with a double space at its empty cell", () => {
    assert.deepEqual(splitRow(`${N}a. ${N}b ${N}`), {
      split: { left: "a.  b", right: "" },
      ambiguous: false,
    });
  });

  it("says so when it has to guess", () => {
    assert.equal(splitRow(`${N}a. ${N}b. ${N}c.`)?.ambiguous, true);
  });
});
