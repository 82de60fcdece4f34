// HOWTO: "Installation of NetBSD" — install the OS as usual, then boot it from its own disk.
import assert from "node:assert/strict";
import { facts, guest, reach } from "./session.ts";

describe("HOWTO: Installation of NetBSD (the dom0's OS, before Xen)", function () {
  this.timeout(60 * 60_000);
  before(() => reach("install-os"));

  it("the installed OS runs and answers as the box's OS", async () => {
    const r = await guest("uname -s");
    assert.equal(r.exitCode, 0);
    assert.equal(r.output.trim(), facts().os === "netbsd" ? "NetBSD" : "Linux");
  });

  it("its root file system is writable", async () => {
    const r = await guest("touch /nbxen-probe && rm /nbxen-probe && echo writable");
    assert.deepEqual(r, { exitCode: 0, output: "writable\n" });
  });

  it("it reached the network through its NIC (DHCP from QEMU's user network)", async () => {
    const r = await guest(facts().pingCommand("10.0.2.2"));
    assert.equal(r.exitCode, 0, r.output);
  });
});
