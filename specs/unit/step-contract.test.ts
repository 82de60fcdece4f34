import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { boxCatalog } from "../../harness/boxes/registry.ts";
import { HOWTO_STEP_IDS, UPDATE_XEN_STEP, stepContractViolation } from "../../harness/boxes/step-contract.ts";

describe("HOWTO step contract: the steps the specs reach exist on every box", () => {
  for (const entry of boxCatalog()) {
    it(`${entry.name} has every HOWTO step id, in HOWTO order`, async () => {
      const box = await entry.load();
      assert.equal(stepContractViolation(box), undefined);
    });
  }

  it("a box missing a step, or with two in the wrong order, is reported by name", () => {
    const step = (name: string) => ({ name, title: name, howto: [], run: async () => undefined });
    const ids = [...HOWTO_STEP_IDS];
    const missing = { name: "x", steps: () => ids.filter((i) => i !== "network").map(step) };
    assert.match(stepContractViolation(missing) ?? "", /box x has no step network/);
    const swapped = [...ids];
    [swapped[1], swapped[2]] = [swapped[2]!, swapped[1]!];
    assert.match(
      stepContractViolation({ name: "y", steps: () => swapped.map(step) }) ?? "",
      /runs boot-xen before install-xen/,
    );
  });

  it("every HOWTO spec reaches only contract step ids", () => {
    const dir = path.resolve("specs/howto");
    const reached: string[] = [];
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".spec.ts"))) {
      for (const m of readFileSync(path.join(dir, f), "utf8").matchAll(/reach\("([^"]+)"\)/g))
        reached.push(m[1]!);
    }
    assert.ok(reached.length >= 8, `found ${reached.length} reach() calls`);
    for (const r of reached)
      assert.ok(
        r === UPDATE_XEN_STEP || (HOWTO_STEP_IDS as readonly string[]).includes(r),
        `a spec reaches ${r}`,
      );
  });
});
