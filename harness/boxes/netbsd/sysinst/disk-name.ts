/**
 * The NetBSD device name of a disk the harness attaches, from the QEMU options it attaches it with
 * (harness/machine/qemu-args.ts: `-drive if=ide|virtio,index=N` on QEMU's `pc` machine). Sources in
 * docs/netbsd-sysinst.md:
 * - if=ide: the PIIX IDE controller's channels are atabus0/atabus1 and GENERIC has `wd* at atabus?
 *   drive ?`, so hard disks are wd0, wd1, ... in attach order (index order on that controller);
 *   CD-ROMs attach as cd* at atapibus and do not take a wd number.
 * - if=virtio: virtio-blk is ld(4) on virtio, so ld0, ld1, ... in attach order.
 * (A USB stick, umass, attaches through scsibus and would be sd0: never a disk the harness attaches.)
 */
import { HarnessError } from "../../../../lib/errors.ts";
import type { DiskSpec } from "../../../machine/qemu-args.ts";

const PREFIX: Record<DiskSpec["interface"], string> = { ide: "wd", virtio: "ld" };

export function netbsdDiskName(disks: readonly Pick<DiskSpec, "interface">[], index = 0): string {
  const disk = disks[index];
  if (!disk)
    throw new HarnessError(
      `no disk ${index} among the machine's ${disks.length} disk(s): nothing to install NetBSD on`,
    );
  const unit = disks.slice(0, index).filter((d) => d.interface === disk.interface).length;
  return `${PREFIX[disk.interface]}${unit}`;
}
