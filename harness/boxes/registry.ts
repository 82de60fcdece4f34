import { UsageError } from "../../lib/errors.ts";
import { NETBSD_RELEASES } from "../../images/catalog/netbsd.ts";
import { DEFAULT_BOX } from "../config/schema.ts";
import type { Box } from "./box.ts";

export interface BoxEntry {
  name: string;
  description: string;
  load(): Promise<Box>;
}

/** Every box the harness knows. Boxes load lazily: a NetBSD run never imports the Debian builder. */
export function boxCatalog(): BoxEntry[] {
  return [
    ...NETBSD_RELEASES.map((r) => ({
      name: r.box,
      description: `NetBSD ${r.version} dom0 + ${r.xen.kernelPkg}/${r.xen.toolsPkg}${r.box === DEFAULT_BOX ? " (the HOWTO's recommendation)" : ""}`,
      load: async () => (await import("./netbsd/box.ts")).netbsdBox(r),
    })),
    {
      name: "debian-12",
      description: "reference box: Debian 12 + Debian's Xen 4.17, Linux dom0",
      load: async () => (await import("./debian12/box.ts")).debian12Box(),
    },
  ];
}

export async function getBox(name: string): Promise<Box> {
  const entry = boxCatalog().find((b) => b.name === name);
  if (!entry)
    throw new UsageError(
      `unknown box ${JSON.stringify(name)}; known boxes: ${boxCatalog()
        .map((b) => b.name)
        .join(", ")}`,
    );
  return entry.load();
}
