import path from "node:path";
import { buildDebianBox, type DebianBox } from "../../../images/debian/box.ts";
import type { DebianRelease } from "../../../images/debian/releases.ts";
import type { Typing } from "../../console/shell.ts";
import type { BoxContext } from "../box.ts";
import { XEN_DOM0_MAX_TYPED_BYTES } from "../xen-console.ts";

/**
 * Under Xen the dom0's console input passes through Xen's serial ring, which drops what does not fit
 * (seen under TCG): type in pieces that fit, with a small pause between keys.
 */
export const DEBIAN_TYPING: Typing = { keyDelayMs: 2, maxTypedBytes: XEN_DOM0_MAX_TYPED_BYTES };

/** Where a release's box is built and kept: <cache>/boxes/<box>. */
export function debianBoxDir(cacheDir: string, release: DebianRelease): string {
  return path.join(cacheDir, "boxes", release.box);
}

/** Builds (once, cached) and returns the box files: base disk, kernel, initrd, Xen package repository. */
export async function ensureDebianBox(
  ctx: Pick<BoxContext, "config" | "reporter">,
  release: DebianRelease,
): Promise<DebianBox> {
  return buildDebianBox(debianBoxDir(ctx.config.cacheDir, release), release, {
    log: (l) => ctx.reporter.info(l),
  });
}
