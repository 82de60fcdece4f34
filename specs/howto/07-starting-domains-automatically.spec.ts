// HOWTO: "Starting domains automatically" — xendomains starts the listed domUs at dom0 boot.
import assert from "node:assert/strict";
import { current, facts, guest, reach } from "./session.ts";

describe("HOWTO: Starting domains automatically (xendomains)", function () {
  this.timeout(60 * 60_000);
  before(() => reach("autostart"));

  it("the autostart configuration names each autostart domU", async function () {
    const names = current()
      .ctx.config.domUs.filter((d) => d.autostart)
      .map((d) => d.name);
    if (names.length === 0) {
      console.log("      pending: no domU has autostart: true in the configuration");
      this.skip();
    }
    const r = await guest(facts().autostartConfigCommand);
    assert.equal(r.exitCode, 0, r.output);
    for (const n of names) assert.match(r.output, new RegExp(`\\b${n}\\b`));
  });

  it("after the dom0 rebooted, each autostart domU is running", async function () {
    const names = current()
      .ctx.config.domUs.filter((d) => d.autostart)
      .map((d) => d.name);
    if (names.length === 0) this.skip();
    for (const n of names) {
      const r = await guest(`xl list ${n}`);
      assert.equal(r.exitCode, 0, `${n} is not running: ${r.output}`);
    }
  });
});
