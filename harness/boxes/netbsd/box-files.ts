import { copyFile, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import {
  describeReleaseSources,
  fetchXenPackageTree,
  releaseArtifacts,
  type NetbsdRelease,
  type LocallyBuiltPair,
  type XenPackagesFetched,
} from "../../../images/catalog/netbsd.ts";
import type { LocalXenPair } from "../../../images/catalog/netbsd-local-packages.ts";
import type { ArtifactStore } from "../../../images/store/index.ts";
import type { Typing } from "../../console/shell.ts";
import type { BoxContext } from "../box.ts";
import { XEN_DOM0_MAX_TYPED_BYTES } from "../xen-console.ts";

/** What the NetBSD box definition and its steps share: the root password, typing, fetching. */

/** The root password the harness gives every NetBSD box (mixed case and long: passwd(1) accepts it at once). */
export const NETBSD_ROOT_PASSWORD = "Nbxen-Root-1";
/**
 * NetBSD serial consoles drop characters typed too fast, and under Xen the dom0's input passes through
 * Xen's serial ring, which drops what does not fit.
 */
export const NETBSD_TYPING: Typing = { keyDelayMs: 5, maxTypedBytes: XEN_DOM0_MAX_TYPED_BYTES };

/**
 * The release files the box needs, fetched (and verified against the release's SHA512 files) into the
 * cache, from the CDN or else the archive; `log` hears which tree served them.
 */
export async function fetchRelease(
  store: ArtifactStore,
  rel: NetbsdRelease,
  log?: (line: string) => void,
): Promise<Map<string, string>> {
  const paths = new Map<string, string>();
  const fetched = [];
  for (const spec of releaseArtifacts(rel)) {
    const got = await store.fetch(spec);
    fetched.push(got);
    paths.set(spec.name, got.path);
  }
  log?.(describeReleaseSources(rel, fetched));
  return paths;
}

/** pkg_summary.gz, then the Xen packages and their dependencies, from the package tree the catalog chooses. */
export function fetchXenPackages(
  store: ArtifactStore,
  rel: NetbsdRelease,
  pkgsrcBranch?: string,
  log?: (line: string) => void,
  local?: LocalXenPair,
): Promise<XenPackagesFetched> {
  return fetchXenPackageTree(store, rel, {
    ...(pkgsrcBranch !== undefined ? { pkgsrcBranch } : {}),
    ...(log ? { log } : {}),
    ...(local ? { local: locallyBuilt(local) } : {}),
  });
}

/** What the package tree must hold for a local pair: its dependencies. */
export function locallyBuilt(pair: LocalXenPair): LocallyBuiltPair {
  return {
    pkgnames: [pair.kernel.pkgname, pair.tools.pkgname],
    depends: [...pair.kernel.depends, ...pair.tools.depends],
  };
}

/**
 * Copies a local pair into the machine's directory (what is installed cannot change under the run) and
 * serves it at /local-xen/; returns the package URLs the dom0 fetches.
 */
export async function serveLocalPair(
  ctx: Pick<BoxContext, "machineDir" | "server">,
  pair: LocalXenPair,
): Promise<string[]> {
  const dir = path.join(ctx.machineDir, "local-xen");
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const urls: string[] = [];
  for (const p of [pair.kernel, pair.tools]) {
    const name = `${p.pkgname}.tgz`;
    await copyFile(p.file, path.join(dir, name));
    urls.push(`${ctx.server.guestUrl}/local-xen/${name}`);
  }
  ctx.server.mount("/local-xen/", dir);
  return urls;
}
