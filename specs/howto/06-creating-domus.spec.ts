// HOWTO: "Creating unprivileged domains (domU)" — dd a disk, write the config, xl create, console, xl shutdown.
import assert from "node:assert/strict";
import { DomUNoAddressError, domainGoneCommand } from "../../harness/boxes/xl-commands.ts";
import { current, facts, guest, reach } from "./session.ts";

describe("HOWTO: Creating unprivileged domains (domU)", function () {
  this.timeout(60 * 60_000);
  before(() => reach("domu"));

  function domU() {
    const d = current().ctx.config.domUs[0];
    assert.ok(d, "the configuration has a domU");
    return d;
  }

  it("the domU config has the HOWTO's shape: kernel, memory, name, vif on the bridge, a file-backed disk", async () => {
    const d = domU();
    const r = await guest(`cat ${facts().domUConfigPath(d.name)}`);
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output, /^kernel = "\S+"/m);
    assert.match(r.output, new RegExp(`^memory = ${d.memoryMiB}$`, "m"));
    assert.match(r.output, new RegExp(`^name = "${d.name}"$`, "m"));
    assert.match(r.output, new RegExp(`^vif = \\[ 'bridge=${facts().bridge}' \\]$`, "m"));
    assert.match(r.output, /^disk = \[ 'file:\S+,\S+,w' \]$/m);
  });

  it("the domU's disk file has the configured size", async () => {
    const d = domU();
    const cfg = (await guest(`cat ${facts().domUConfigPath(d.name)}`)).output;
    const file = /disk = \[ 'file:([^,]+),/.exec(cfg)?.[1];
    assert.ok(file, "disk file named in the config");
    const r = await guest(facts().fileSizeCommand(file));
    assert.equal(r.exitCode, 0, r.output);
    assert.equal(Number(r.output.trim()), facts().domUDiskMiB(d.diskMiB) * 1024 * 1024);
  });

  it("xl create boots it: it shows in xl list, gets an address on the bridge, answers ping; xl shutdown ends it", async function () {
    const d = domU();
    const s = current();
    const wasRunning = (await guest(`xl list ${d.name}`)).exitCode === 0;
    if (wasRunning) {
      assert.equal((await guest(`xl shutdown -w ${d.name}`, 180_000)).exitCode, 0);
      assert.equal((await guest(domainGoneCommand(d.name), 120_000)).exitCode, 0);
    }
    let ip: string;
    try {
      ip = await s.box.startDomU(s.runner.state, d.name);
    } catch (error) {
      if (!(error instanceof DomUNoAddressError)) throw error;
      await guest(`xl shutdown -w ${d.name} || xl destroy ${d.name}`, 180_000);
      console.log(`      pending: ${error.message}`);
      this.skip();
    }
    const listed = await guest(`xl list ${d.name}`);
    assert.equal(listed.exitCode, 0, listed.output);
    assert.match(listed.output, new RegExp(`^${d.name}\\s+\\d+\\s+\\d+\\s+\\d+`, "m"));
    const ping = await guest(facts().pingCommand(ip), 60_000);
    assert.equal(ping.exitCode, 0, ping.output);
    const down = await guest(`xl shutdown -w ${d.name}`, 180_000);
    assert.equal(down.exitCode, 0, down.output);
    const gone = await guest(domainGoneCommand(d.name), 120_000);
    assert.equal(gone.exitCode, 0, `the domU is still listed after xl shutdown: ${gone.output}`);
    if (wasRunning)
      assert.equal((await guest(`xl create ${facts().domUConfigPath(d.name)}`, 180_000)).exitCode, 0);
  });
});
