// HOWTO: networking for domUs — bridge0 with the NIC on it (/etc/ifconfig.bridge0 on NetBSD).
import assert from "node:assert/strict";
import { facts, guest, reach } from "./session.ts";

describe("HOWTO: Networking (bridge0 in the dom0)", function () {
  this.timeout(60 * 60_000);
  before(() => reach("network"));

  it("the bridge exists with the dom0's NIC on it", async () => {
    const r = await guest(facts().bridgeMembersCommand);
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output, new RegExp(`\\b${facts().nic}\\b`));
  });

  it("the dom0 reaches the network through the bridge", async () => {
    const r = await guest(facts().pingCommand("10.0.2.2"));
    assert.equal(r.exitCode, 0, r.output);
  });
});
