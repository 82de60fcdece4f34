import path from "node:path";
import { buildDebianBox, type DebianBox } from "../../../images/debian/box.ts";
import type { Typing } from "../../console/shell.ts";
import type { BoxContext } from "../box.ts";
import { XEN_DOM0_MAX_TYPED_BYTES } from "../xen-console.ts";

/** The debian-12 box's files and typing, used by its box definition and its steps alike. */
export const DEBIAN_BOX = "debian-12";
/**
 * Under Xen the dom0's console input passes through Xen's serial ring, which drops what does not fit
 * (seen under TCG): type in pieces that fit, with a small pause between keys.
 */
export const DEBIAN_TYPING: Typing = { keyDelayMs: 2, maxTypedBytes: XEN_DOM0_MAX_TYPED_BYTES };

export function debianBoxDir(cacheDir: string): string {
  return path.join(cacheDir, "boxes", DEBIAN_BOX);
}

/** Builds (once, cached) and returns the box files: base disk, kernel, initrd, Xen package repository. */
export async function ensureDebianBox(ctx: Pick<BoxContext, "config" | "reporter">): Promise<DebianBox> {
  return buildDebianBox(debianBoxDir(ctx.config.cacheDir), { log: (l) => ctx.reporter.info(l) });
}
