// HOWTO: "Installation of Xen" — `pkg_add xenkernel42 xentools42` (the reference box: Debian's Xen 4.17).
import assert from "node:assert/strict";
import { facts, guest, reach } from "./session.ts";

describe("HOWTO: Installation of Xen (pkg_add xenkernel42 xentools42)", function () {
  this.timeout(60 * 60_000);
  before(() => reach("install-xen"));

  it("every Xen package is installed", async () => {
    for (const pkg of facts().xenPackages) {
      const r = await guest(facts().packageInstalledCommand(pkg));
      assert.equal(r.exitCode, 0, `${pkg} is not installed: ${r.output}`);
    }
  });

  it("the package installed the hypervisor image", async () => {
    const r = await guest(
      `test -s ${facts().packagedXenKernelPath ?? facts().xenKernelPath} && echo present`,
    );
    assert.deepEqual(r, { exitCode: 0, output: "present\n" });
  });

  it("the xl tool is installed", async () => {
    const r = await guest("command -v xl");
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output, /\/xl\n$/);
  });
});
