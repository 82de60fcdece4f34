// HOWTO: "For HVM guests, the VMX cpu feature (Intel) or VT?? (amd64) is needed."
import assert from "node:assert/strict";
import { current, guest, reach } from "./session.ts";

describe("HOWTO: HVM domUs", function () {
  this.timeout(60 * 60_000);
  before(() => reach("hvm-domu"));

  it("Xen reports whether the CPU can run HVM guests, and the harness predicted it", async function () {
    const r = await guest("xl info | sed -n 's/^virt_caps *: *//p'");
    assert.equal(r.exitCode, 0, r.output);
    const hvm = /\bhvm\b/.test(r.output);
    assert.equal(
      hvm,
      current().ctx.accel.hvmCapable,
      `virt_caps "${r.output.trim()}" vs the accelerator's prediction`,
    );
  });

  it("an HVM domU boots", async function () {
    const accel = current().ctx.accel;
    if (!accel.hvmCapable) {
      console.log(`      pending: ${accel.hvmReason}`);
      this.skip();
    }
    assert.fail("HVM domUs need a device model (qemu-system-xen) the reference box does not install yet");
  });
});
