/**
 * TEST DOUBLE: binary packages laid out like a pkgsrc package directory (pkg_summary.gz + *.tgz), built
 * at test time. Each .tgz has the metadata files pkg_add reads (+CONTENTS with @name/@cwd/@pkgdep and the
 * file list, +COMMENT, +DESC, +BUILD_INFO; pkg_create(1)) and the double's files: the hypervisor image
 * (a gzip the double's boot loader recognises) or the Xen tools (sh scripts standing in for xl,
 * xenstored and the rc.d scripts). They are not NetBSD binaries.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { xenPair, type NetbsdRelease, type XenPair } from "../../../images/catalog/netbsd.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * The Xen pairs each box's package directory holds: the release's default, and for 10.1 also
 * xenkernel415 (pkgsrc built it for NetBSD 10.0 until 2025Q3), so a run can choose it (xenPackage).
 */
export const DOUBLE_XEN_PAIRS: Readonly<Record<string, readonly string[]>> = {
  "netbsd-6.1.5": ["42"],
  "netbsd-9.4": ["415"],
  "netbsd-10.1": ["420", "415"],
};

/** The Xen release a pair's packages carry (pkgsrc sysutils/xenkernel42, 415, 420; versions illustrative). */
export function xenVersionOf(pair: Pick<XenPair, "kernelPkg">): string {
  return { xenkernel42: "4.2.5", xenkernel415: "4.15.5", xenkernel420: "4.20.1" }[pair.kernelPkg] ?? "4.20.1";
}

/** What the double's hypervisor image holds: its identity, read back by the double's boot loader. */
export function xenImage(version: string): Buffer {
  return gzipSync(
    Buffer.from(`NBXEN-DOUBLE-XEN version=${version}\n(not a Xen binary: a test double's placeholder)\n`),
  );
}

/** A release kernel as the double's mirror serves it: gzip'd (as binary/kernel/*.gz are) with its config name. */
export function kernelImage(ident: string, release: string): Buffer {
  return gzipSync(
    Buffer.from(
      `NBXEN-DOUBLE-KERNEL ident=${ident} release=${release}\n(not a NetBSD kernel: a test double's placeholder)\n`,
    ),
  );
}

interface PkgDef {
  pkgname: string;
  comment: string;
  depends: string[];
  /** path under @cwd -> content */
  files: Record<string, Buffer | string>;
  install?: string;
  display?: string;
}

function walk(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) out.push(...walk(p, base));
    else out.push(path.relative(base, p));
  }
  return out.sort();
}

function xenPairPackages(rel: NetbsdRelease, pair: XenPair, v = xenVersionOf(pair)): PkgDef[] {
  const kernelDir = path.posix.relative("/usr/pkg", path.posix.dirname(pair.xenGzPath));
  const python = rel.major === 6 ? "python27-2.7.9" : "python311-3.11.13";
  const toolsDir = path.join(HERE, "pkgfiles", "xentools");
  const tools: Record<string, string> = {};
  for (const f of walk(toolsDir)) {
    tools[f] = readFileSync(path.join(toolsDir, f), "utf8")
      .replaceAll("@PREFIX@", "/usr/pkg")
      .replaceAll("@PKG_SYSCONFDIR@", "/usr/pkg/etc/xen");
  }
  tools["share/examples/xen/xl.conf"] = '## Global XL config file ##\n#autoballoon="auto"\n';
  return [
    {
      pkgname: `${pair.kernelPkg}-${v}`,
      comment: `Xen ${v} Kernel`,
      depends: [],
      files: { [`${kernelDir}/xen.gz`]: xenImage(v) },
      display:
        `===========================================================================\n` +
        `The Xen hypervisor is in ${pair.xenGzPath}; copy it to / and add it to /boot.cfg.\n` +
        `===========================================================================\n`,
    },
    {
      pkgname: `${pair.toolsPkg}-${v}`,
      comment: `Userland Tools for Xen ${v}`,
      depends: [`${python.replace(/-[^-]*$/, "")}>=${rel.major === 6 ? "2.7" : "3.11"}`, "libyajl>=2.0"],
      files: tools,
      install: `#!/bin/sh\ncase "$2" in POST-INSTALL) mkdir -p /usr/pkg/etc/xen && cp -p /usr/pkg/share/examples/xen/xl.conf /usr/pkg/etc/xen/xl.conf ;; esac\n`,
      display:
        `===========================================================================\n` +
        `The following files should be created for ${pair.toolsPkg}-${v}:\n\n` +
        `\t/etc/rc.d/xencommons (m=0755)\n\t    [/usr/pkg/share/examples/rc.d/xencommons]\n` +
        `\t/etc/rc.d/xendomains (m=0755)\n\t    [/usr/pkg/share/examples/rc.d/xendomains]\n` +
        `===========================================================================\n`,
    },
  ];
}

/** The packages of the box's package directory: each of its Xen pairs, then their dependencies. */
function xenPackages(rel: NetbsdRelease): PkgDef[] {
  const python = rel.major === 6 ? "python27-2.7.9" : "python311-3.11.13";
  const pairs = DOUBLE_XEN_PAIRS[rel.box];
  if (pairs === undefined) throw new Error(`DOUBLE_XEN_PAIRS names no Xen pair for ${rel.box}`);
  return [
    ...pairs.flatMap((nnn) => xenPairPackages(rel, xenPair(nnn))),
    {
      pkgname: python,
      comment: "Interpreted, interactive, object-oriented programming language",
      depends: [],
      files: {
        [`bin/${python.split("-")[0]}`]: "#!/bin/sh\necho 'python: a test double placeholder' >&2\nexit 1\n",
      },
    },
    {
      pkgname: "libyajl-2.1.0nb1",
      comment: "Small JSON library written in ANSI C",
      depends: [],
      files: { "lib/libyajl.so.2": "placeholder\n" },
    },
  ];
}

function buildPackage(def: PkgDef): Buffer {
  const dir = mkdtempSync(path.join(os.tmpdir(), "nbxen-pkg-"));
  try {
    const contents = [`@name ${def.pkgname}`, ...def.depends.map((d) => `@pkgdep ${d}`), "@cwd /usr/pkg"];
    for (const [f, body] of Object.entries(def.files)) {
      mkdirSync(path.join(dir, path.dirname(f)), { recursive: true });
      writeFileSync(path.join(dir, f), body, {
        mode: /^(s?bin|libexec|share\/examples\/rc\.d)\//.test(f) ? 0o755 : 0o644,
      });
      contents.push(f);
    }
    writeFileSync(path.join(dir, "+CONTENTS"), contents.join("\n") + "\n");
    writeFileSync(path.join(dir, "+COMMENT"), def.comment + "\n");
    writeFileSync(path.join(dir, "+DESC"), `${def.comment} (test double package)\n`);
    writeFileSync(
      path.join(dir, "+BUILD_INFO"),
      "OPSYS=NetBSD\nMACHINE_ARCH=x86_64\nPKGTOOLS_VERSION=20091115\n",
    );
    if (def.install) writeFileSync(path.join(dir, "+INSTALL"), def.install, { mode: 0o755 });
    if (def.display) writeFileSync(path.join(dir, "+DISPLAY"), def.display);
    const meta = readdirSync(dir)
      .filter((f) => f.startsWith("+"))
      .sort();
    const rest = Object.keys(def.files);
    return execFileSync("tar", ["-czf", "-", "-C", dir, "--owner=0", "--group=0", ...meta, ...rest], {
      maxBuffer: 64 << 20,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes the package directory (All/) with pkg_summary.gz for `rel` into `allDir`. */
export function writePackageDir(allDir: string, rel: NetbsdRelease): void {
  mkdirSync(allDir, { recursive: true });
  const summary: string[] = [];
  for (const def of xenPackages(rel)) {
    const tgz = buildPackage(def);
    const file = `${def.pkgname}.tgz`;
    writeFileSync(path.join(allDir, file), tgz);
    summary.push(
      [
        `PKGNAME=${def.pkgname}`,
        ...def.depends.map((d) => `DEPENDS=${d}`),
        `COMMENT=${def.comment}`,
        `FILE_NAME=${file}`,
        `FILE_SIZE=${tgz.length}`,
        `FILE_CKSUM=sha512 ${createHash("sha512").update(tgz).digest("hex")}`,
        "",
      ].join("\n"),
    );
  }
  writeFileSync(path.join(allDir, "pkg_summary.gz"), gzipSync(Buffer.from(summary.join("\n"))));
}

/**
 * A locally built Xen pair, as a pkgsrc maintainer's packages directory has it after `make package`:
 * the release's default pair at the next patch version (illustrative), two .tgz files and no
 * pkg_summary. Returns the files.
 */
export function writeLocalXenPair(dir: string, rel: NetbsdRelease): string[] {
  mkdirSync(dir, { recursive: true });
  const v = xenVersionOf(rel.xen).replace(/[0-9]+$/, (n) => String(Number(n) + 1));
  return xenPairPackages(rel, rel.xen, v).map((def) => {
    const file = path.join(dir, `${def.pkgname}.tgz`);
    writeFileSync(file, buildPackage(def));
    return file;
  });
}
