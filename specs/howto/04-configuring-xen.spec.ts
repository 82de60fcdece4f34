// HOWTO: "Configuring Xen" — xencommons running; `xl info`, `xl list` answer.
import assert from "node:assert/strict";
import { facts, guest, reach } from "./session.ts";

describe("HOWTO: Configuring Xen (xencommons, xl)", function () {
  this.timeout(60 * 60_000);
  before(() => reach("configure-xen"));

  it("the Xen services are running", async () => {
    const r = await guest(facts().xenServiceCommand);
    assert.equal(r.exitCode, 0, r.output);
  });

  it("xl info reports the version of the installed Xen package", async () => {
    const r = await guest(
      "xl info | awk -F': *' '/^xen_(major|minor)/ {v = v (v ? \".\" : \"\") $2} END {print v}'",
    );
    assert.equal(r.exitCode, 0, r.output);
    const expected = facts().expectedXenVersion;
    assert.match(r.output.trim(), /^\d+\.\d+$/);
    if (expected) assert.equal(r.output.trim(), expected);
  });

  it("xl list shows Domain-0", async () => {
    const r = await guest("xl list");
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output, /^Domain-0\s+0\s+\d+\s+\d+/m);
  });
});
