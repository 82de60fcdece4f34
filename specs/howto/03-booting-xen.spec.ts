// HOWTO: "Booting Xen" — the boot loader's Xen entry (menu=Xen:load /netbsd-XEN3_DOM0.gz ...;multiboot /xen.gz dom0_mem=...)
import assert from "node:assert/strict";
import { current, facts, guest, reach } from "./session.ts";

describe("HOWTO: Booting Xen with the dom0 kernel", function () {
  this.timeout(60 * 60_000);
  before(() => reach("boot-xen"));

  it("the hypervisor image is where the boot loader loads it", async () => {
    const r = await guest(`test -s ${facts().xenKernelPath} && echo present`);
    assert.deepEqual(r, { exitCode: 0, output: "present\n" });
  });

  it("the boot configuration makes the Xen entry the default", async () => {
    const r = await guest(facts().bootConfigCommand);
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output, facts().xenDefaultBootPattern);
  });

  it("the OS now runs as Xen's dom0", async () => {
    const r = await guest(facts().runningUnderXenCommand);
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output, facts().runningUnderXenPattern);
  });

  it("Xen printed its banner at boot (xl dmesg)", async () => {
    const r = await guest("xl dmesg | grep -m1 'Xen version'");
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output, /Xen version \d+\.\d+/);
  });

  it("the dom0 has the memory the configuration gave it (dom0_mem)", async () => {
    const r = await guest("xl list Domain-0 | awk 'NR==2 {print $3}'");
    assert.equal(r.exitCode, 0, r.output);
    const want = current().ctx.config.dom0MemoryMiB;
    const got = Number(r.output.trim());
    assert.ok(
      Math.abs(got - want) <= want * 0.1,
      `Domain-0 has ${got} MiB, the configuration says ${want} MiB`,
    );
  });
});
