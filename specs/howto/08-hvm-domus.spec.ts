// HOWTO: "For HVM guests, the VMX cpu feature (Intel) or VT?? (amd64) is needed."
import assert from "node:assert/strict";
import { current, guest, reach } from "./session.ts";

describe("HOWTO: HVM domUs", function () {
  this.timeout(60 * 60_000);
  before(() => reach("hvm-domu"));

  it("Xen reports the virtualization capabilities it found", async function () {
    const r = await guest("xl info | sed -n 's/^virt_caps *: *//p'");
    assert.equal(r.exitCode, 0, r.output);
    if (r.output.trim() === "") {
      // Older xl (Xen 4.2) lists only HVM capabilities in virt_caps, so without VMX/SVM the line is empty.
      console.log(
        "      pending: xl info's virt_caps is empty: this Xen lists no pv token and the CPU offers no HVM",
      );
      this.skip();
    }
    assert.match(r.output, /\bpv\b/);
  });

  it("an HVM domU boots when the CPU and Xen allow it", async function () {
    const s = current();
    const caps = (await guest("xl info | sed -n 's/^virt_caps *: *//p'")).output;
    if (!/\bhvm\b/.test(caps)) {
      console.log(
        `      pending: Xen reports no HVM support (virt_caps "${caps.trim()}"): ${s.ctx.accel.hvmReason}`,
      );
      this.skip();
    }
    if (!s.box.tryHvmDomU) {
      console.log(`      pending: box ${s.box.name} has no HVM guest to boot yet`);
      this.skip();
    }
    const refused = await s.box.tryHvmDomU(s.runner.state);
    if (refused) {
      console.log(`      pending: the CPU offers SVM/VMX, but Xen refuses HVM guests here: ${refused}`);
      this.skip();
    }
  });
});
