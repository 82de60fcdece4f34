import assert from "node:assert/strict";
import { qemuArgs, runUuid, type QemuMachineSpec } from "../../harness/machine/qemu-args.ts";
import { parseSnapshotTable } from "../../harness/machine/machine.ts";

const base: QemuMachineSpec = {
  name: "debian-12",
  runId: "20261125T100000-abcdef",
  accelerator: "tcg",
  cpu: "qemu64",
  memoryMiB: 2048,
  cpus: 1,
  disks: [{ file: "/s/disk.qcow2", format: "qcow2", interface: "virtio" }],
  cdroms: ["/c/boot-com.iso", "/c/sets.iso"],
  boot: "cdrom",
  net: { model: "e1000" },
  rng: true,
  qmpSocket: "/s/sock/qmp.sock",
  pidFile: "/s/qemu.pid",
};

function after(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

describe("qemuArgs", () => {
  it("puts the serial console on the pty, control on QMP, and starts paused", () => {
    const a = qemuArgs(base);
    assert.deepEqual(after(a, "-chardev"), ["serial,id=con0,path=/dev/stdin"]);
    assert.deepEqual(after(a, "-serial"), ["chardev:con0"]);
    assert.deepEqual(after(a, "-monitor"), ["none"]);
    assert.deepEqual(after(a, "-qmp"), ["unix:/s/sock/qmp.sock,server=on,wait=off"]);
    assert.ok(a.includes("-S"));
    assert.ok(!a.includes("-nographic"), "-nographic would multiplex the monitor on the console");
  });

  it("uses the accelerator and CPU model it is given", () => {
    const a = qemuArgs(base);
    assert.deepEqual(after(a, "-accel"), ["tcg"]);
    assert.deepEqual(after(a, "-cpu"), ["qemu64"]);
  });

  it("attaches disks, read-only CDs in order, the boot order, NIC with an ssh forward on loopback, and the RNG", () => {
    const a = qemuArgs(base);
    const drives = after(a, "-drive");
    assert.match(drives[0]!, /^file=\/s\/disk\.qcow2,format=qcow2,if=virtio,index=0/);
    assert.match(drives[1]!, /^file=\/c\/boot-com\.iso,format=raw,media=cdrom,if=ide,index=2,readonly=on$/);
    assert.match(drives[2]!, /^file=\/c\/sets\.iso,.*index=3,readonly=on$/);
    assert.deepEqual(after(a, "-boot"), ["order=d"]);
    assert.deepEqual(after(a, "-netdev"), ["user,id=net0,ipv6=off"]);
    assert.deepEqual(after(a, "-device"), ["e1000,netdev=net0", "virtio-rng-pci,rng=rng0"]);
  });

  it("boots a kernel directly when asked", () => {
    const a = qemuArgs({
      ...base,
      boot: "disk",
      kernel: { kernel: "/k/vmlinuz", initrd: "/k/initrd", append: "console=ttyS0" },
    });
    assert.deepEqual(after(a, "-kernel"), ["/k/vmlinuz"]);
    assert.deepEqual(after(a, "-initrd"), ["/k/initrd"]);
    assert.deepEqual(after(a, "-append"), ["console=ttyS0"]);
    assert.deepEqual(after(a, "-boot"), ["order=c"]);
  });

  it("derives a UUID from the run id, which the reaper recognises", () => {
    assert.match(runUuid(base.runId), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.notEqual(runUuid("20261125T100000-abcdef"), runUuid("20261125T100000-abcdee"));
    assert.ok(qemuArgs(base).includes(runUuid(base.runId)));
  });
});

describe("parseSnapshotTable (HMP info snapshots)", () => {
  it("reads the tags", () => {
    const out = [
      "List of snapshots present on all disks:",
      "ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT",
      "--        install-os         67.2 MiB 2026-11-25 10:00:00 00:01:02.123",
      "--        boot-loader        70.1 MiB 2026-11-25 10:02:00 00:00:40.000",
    ].join("\r\n");
    assert.deepEqual(parseSnapshotTable(out), ["install-os", "boot-loader"]);
    assert.deepEqual(parseSnapshotTable("There is no snapshot available.\r\n"), []);
  });
});
