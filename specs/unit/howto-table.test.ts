import assert from "node:assert/strict";
import { boxCatalog } from "../../harness/boxes/registry.ts";
import { HOWTO_LINE_IDS, howtoLine } from "../../harness/howto/lines.ts";
import { refId } from "../../harness/howto/refs.ts";
import { declaredOutcomes } from "../../harness/steps/howto-outcomes.ts";

describe("the HOWTO table and the boxes' declarations", () => {
  it("every line has a section, a text and at least one revision", () => {
    for (const id of HOWTO_LINE_IDS) {
      const l = howtoLine(id);
      assert.ok(l.section && l.text && l.revisions.length > 0, id);
    }
  });

  for (const entry of boxCatalog()) {
    it(`${entry.name}: each line is declared by one step at most, and every line is accounted for`, async () => {
      const box = await entry.load();
      const steps = box.steps();
      const outcomes = declaredOutcomes(box.name, steps);
      assert.deepEqual(
        outcomes.map((o) => o.id),
        HOWTO_LINE_IDS,
      );
      const declared = new Set(steps.flatMap((s) => s.howto.map(refId)));
      for (const id of HOWTO_LINE_IDS)
        assert.ok(
          declared.has(id) || howtoLine(id).unexercised !== undefined,
          `${box.name} does not declare ${id}, and the table gives no reason why no box exercises it`,
        );
      for (const o of outcomes) if (o.status !== "verified") assert.ok(o.note, `${o.id} has a reason`);
    });
  }

  it("the two kinds of box line up: the same ids, in the same order, each with a status", async () => {
    const [netbsd, debian] = await Promise.all([
      boxCatalog()
        .find((b) => b.name === "netbsd-6.1.5")!
        .load(),
      boxCatalog()
        .find((b) => b.name === "debian-12")!
        .load(),
    ]);
    const a = declaredOutcomes(netbsd.name, netbsd.steps());
    const b = declaredOutcomes(debian.name, debian.steps());
    assert.deepEqual(
      a.map((o) => o.id),
      b.map((o) => o.id),
    );
    // netbsd-6.1.5 installs the HOWTO's xenkernel42; the reference box deviates.
    assert.equal(a.find((o) => o.id === "xenkernel42-recommended")?.status, "verified");
    assert.equal(b.find((o) => o.id === "xenkernel42-recommended")?.status, "deviation");
    assert.equal(b.find((o) => o.id === "makedev-xen")?.status, "not-exercised");
  });
});
