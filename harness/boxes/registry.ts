import { UsageError } from "../../lib/errors.ts";
import { NETBSD_RELEASES, withXenPackage } from "../../images/catalog/netbsd.ts";
import { DEFAULT_BOX } from "../config/schema.ts";
import type { Box } from "./box.ts";

export interface BoxEntry {
  name: string;
  description: string;
  /** The box with the Xen `xenPackage` names (undefined: the box's own). */
  load(xenPackage?: string): Promise<Box>;
}

/** Every box the harness knows. Boxes load lazily: a NetBSD run never imports the Debian builder. */
export function boxCatalog(): BoxEntry[] {
  return [
    ...NETBSD_RELEASES.map((r) => ({
      name: r.box,
      description: `NetBSD ${r.version} dom0 + ${r.xen.kernelPkg}/${r.xen.toolsPkg}${r.box === DEFAULT_BOX ? " (the HOWTO's recommendation)" : ""}`,
      load: async (xenPackage?: string) => {
        if (xenPackage === "debian")
          throw new UsageError(
            `xenPackage "debian" is the debian-12 box's own Xen; ${r.box} installs a pkgsrc xenkernelNNN ` +
              `(default ${r.xen.kernelPkg}): name one, or leave xenPackage unset`,
          );
        return (await import("./netbsd/box.ts")).netbsdBox(withXenPackage(r, xenPackage));
      },
    })),
    {
      name: "debian-12",
      description: "reference box: Debian 12 + Debian's Xen 4.17, Linux dom0",
      load: async (xenPackage?: string) => {
        if (xenPackage !== undefined && xenPackage !== "debian")
          throw new UsageError(
            `xenPackage ${JSON.stringify(xenPackage)} is a NetBSD pkgsrc package; debian-12 runs Debian's own ` +
              `Xen 4.17: set xenPackage to "debian" or leave it unset, or pick a netbsd-* box`,
          );
        return (await import("./debian12/box.ts")).debian12Box();
      },
    },
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
