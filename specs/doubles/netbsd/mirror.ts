/**
 * TEST DOUBLE: a local mirror for `--mirror` laid out like NetBSD's tree and pkgsrc's package tree, for
 * the installed-NetBSD double: the release files (SHA512 files in BSD format), the Xen kernels as
 * gzip'd placeholders the double recognises, and the pkgsrc package directory with pkg_summary.gz.
 * Nothing in it is a NetBSD binary.
 */
import path from "node:path";
import {
  kernelFileName,
  pkgsrcAllPath,
  releaseMirrorPath,
  setFileName,
  XEN_KERNELS,
  type NetbsdRelease,
} from "../../../images/catalog/netbsd.ts";
import { placeholder, writeDir } from "../../integration/fixtures/netbsd-mirror.ts";
import { kernelImage, writeLocalXenPair, writePackageDir } from "./packages.ts";

export async function makeDoubleMirror(
  root: string,
  rel: NetbsdRelease,
  opts: { pkgsrcBranch?: string } = {},
): Promise<string> {
  const inArch = (p: string) => path.join(root, releaseMirrorPath(rel, p));
  await writeDir(inArch("installation/cdrom"), { "boot-com.iso": placeholder("boot-com.iso") });
  await writeDir(
    inArch("binary/sets"),
    Object.fromEntries(rel.sets.map((s) => [setFileName(rel, s), placeholder(`set ${s}`)])),
  );
  await writeDir(
    inArch("binary/kernel"),
    Object.fromEntries(XEN_KERNELS.map((k) => [kernelFileName(k), kernelImage(k, rel.version)])),
  );
  writePackageDir(path.join(root, "pkgsrc", "packages", pkgsrcAllPath(rel, opts.pkgsrcBranch)), rel);
  return root;
}

// node --import tsx specs/doubles/netbsd/mirror.ts BOX DIR [PKGSRC_BRANCH]: used by `make specs-double`,
// which also has DIR/local-xen/: a locally built pair of the box's Xen, for the update-xen spec.
if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  const { netbsdRelease } = await import("../../../images/catalog/netbsd.ts");
  const [box, dir, branch] = process.argv.slice(2);
  if (!box || !dir) {
    process.stderr.write("usage: mirror.ts BOX DIR [PKGSRC_BRANCH]\n");
    process.exit(2);
  }
  await makeDoubleMirror(dir, netbsdRelease(box), branch ? { pkgsrcBranch: branch } : {});
  writeLocalXenPair(path.join(dir, "local-xen"), netbsdRelease(box));
  process.stdout.write(`${dir}\n`);
}
