import { UsageError } from "../../lib/errors.ts";
import { NETBSD_RELEASES, withXenPackage } from "../../images/catalog/netbsd.ts";
import { DEBIAN_RELEASES, describeDebianRelease } from "../../images/debian/releases.ts";
import { DEFAULT_BOX } from "../config/schema.ts";
import type { Box } from "./box.ts";

export interface BoxEntry {
  name: string;
  description: string;
  /** The box with the Xen `xenPackage` names (undefined: the box's own). */
  load(xenPackage?: string): Promise<Box>;
}

/** The xenPackage that names a Debian box's own Xen (or unset). */
export const DEBIAN_XEN_PACKAGE = "debian";

/** Every box the harness knows. Boxes load lazily: a NetBSD run never imports the Debian builder. */
export function boxCatalog(): BoxEntry[] {
  const debianBoxes = DEBIAN_RELEASES.map((r) => r.box).join(", ");
  return [
    ...NETBSD_RELEASES.map((r) => ({
      name: r.box,
      description: `NetBSD ${r.version} dom0 + ${r.xen.kernelPkg}/${r.xen.toolsPkg}${r.box === DEFAULT_BOX ? " (the HOWTO's recommendation)" : ""}`,
      load: async (xenPackage?: string) => {
        if (xenPackage === DEBIAN_XEN_PACKAGE)
          throw new UsageError(
            `xenPackage "debian" is a Debian box's own Xen (${debianBoxes}); ${r.box} installs a pkgsrc xenkernelNNN ` +
              `(default ${r.xen.kernelPkg}): name one, or leave xenPackage unset`,
          );
        return (await import("./netbsd/box.ts")).netbsdBox(withXenPackage(r, xenPackage));
      },
    })),
    ...DEBIAN_RELEASES.map((r) => ({
      name: r.box,
      description: describeDebianRelease(r),
      load: async (xenPackage?: string) => {
        if (xenPackage !== undefined && xenPackage !== DEBIAN_XEN_PACKAGE)
          throw new UsageError(
            `xenPackage ${JSON.stringify(xenPackage)} is a NetBSD pkgsrc package; ${r.box} runs Debian's own ` +
              `Xen ${r.xenVersion} (${r.suite}'s ${r.hypervisorPackage}): set xenPackage to "debian" or leave it unset, or pick a netbsd-* box`,
          );
        return (await import("./debian/box.ts")).debianBox(r);
      },
    })),
  ];
}

/** The box `name`, with the Xen `xenPackage` (config `xenPackage`, `nbxen up --xen`) names. */
export async function getBox(name: string, xenPackage?: string): Promise<Box> {
  const entry = boxCatalog().find((b) => b.name === name);
  if (!entry)
    throw new UsageError(
      `unknown box ${JSON.stringify(name)}; known boxes: ${boxCatalog()
        .map((b) => b.name)
        .join(", ")}`,
    );
  return entry.load(xenPackage);
}
