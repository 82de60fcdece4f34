// HOWTO: "Updating Xen versions" — the HOWTO's text is "TODO: write"; what is checked here is the
// harness's own procedure (the update-xen step, `nbxen update-xen --to`), beyond the HOWTO.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import type { XenUpdateRecord } from "../../harness/boxes/box.ts";
import { current, facts, guest, reach } from "./session.ts";

const TARGET = process.env.NBXEN_UPDATE_XEN_TO;

describe("HOWTO: Updating Xen versions (beyond the HOWTO: update-xen)", function () {
  this.timeout(60 * 60_000);
  let update: XenUpdateRecord;

  before(async function () {
    if (!TARGET) {
      console.log(
        "      pending: no update target (NBXEN_UPDATE_XEN_TO=xenkernelNNN or the paths of a locally built pair; specs-double.sh sets one)",
      );
      this.skip();
    }
    await reach("update-xen");
    const done = current().runner.state.xenUpdate;
    assert.ok(done, "the update-xen step passed without recording what it did");
    update = done;
  });

  it("the new Xen runs: xl info's xen_version is the new pair's", async () => {
    const r = await guest("xl info | sed -n 's/^xen_version *: *//p'");
    assert.equal(r.exitCode, 0, r.output);
    assert.ok(
      r.output.trim().startsWith(update.expectXenVersion),
      `xen_version ${r.output.trim()}, expected ${update.expectXenVersion} (${update.to.join(" ")})`,
    );
  });

  it("the new pair is installed and the old one is gone", async () => {
    for (const p of update.to) {
      const r = await guest(facts().packageInstalledCommand(p));
      assert.equal(r.exitCode, 0, `${p} is not installed: ${r.output}`);
    }
    for (const p of update.from.filter((p) => !update.to.includes(p))) {
      const r = await guest(facts().packageInstalledCommand(p));
      assert.notEqual(r.exitCode, 0, `${p} is still installed`);
    }
  });

  it("the hypervisor Xen boots is the new kernel package's xen.gz", async () => {
    const nnn = /^xenkernel([0-9]+)-/.exec(update.to.find((p) => p.startsWith("xenkernel")) ?? "")?.[1];
    assert.ok(nnn, `no xenkernelNNN among ${update.to.join(" ")}`);
    const r = await guest(`cmp ${facts().xenKernelPath} /usr/pkg/xen${nnn}-kernel/xen.gz && echo same`);
    assert.equal(r.output.trim(), "same", r.output);
  });

  it("/boot.cfg still boots Xen by default", async () => {
    const r = await guest(facts().bootConfigCommand);
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output, facts().xenDefaultBootPattern);
  });

  it("each autostart domU came back after the reboot", async function () {
    if (update.domUs.length === 0) {
      console.log("      pending: no domU has autostart: true in the configuration");
      this.skip();
    }
    for (const n of update.domUs) {
      const r = await guest(`xl list ${n}`);
      assert.equal(r.exitCode, 0, `${n} is not running: ${r.output}`);
    }
  });

  it("a locally built pair is recorded with the SHA256 of each file given", function () {
    if (!update.localFiles) {
      console.log("      pending: the update came from the mirror by name, not from local files");
      this.skip();
    }
    const files = TARGET!.split(path.delimiter).flatMap((p) =>
      statSync(p).isDirectory()
        ? readdirSync(p)
            .filter((n) => /^xen(kernel|tools)[0-9]+-.*\.tgz$/.test(n))
            .map((n) => path.join(p, n))
        : [p],
    );
    const given = files.map((f) => createHash("sha256").update(readFileSync(f)).digest("hex"));
    assert.equal(given.length, 2, `expected the two files of a pair in ${TARGET}`);
    for (const f of update.localFiles!) assert.match(f.sha256, /^[0-9a-f]{64}$/, f.pkgname);
    for (const h of given)
      assert.ok(
        update.localFiles!.some((f) => f.sha256 === h),
        `no recorded package has the SHA256 ${h} of a file given`,
      );
  });
});
