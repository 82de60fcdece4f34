import assert from "node:assert/strict";
import {
  DEFAULT_PKGSRC_BRANCH,
  NETBSD_RELEASES,
  UnresolvedDependencyError,
  compareVersions,
  expandAlternatives,
  kernelUrl,
  netbsdRelease,
  parsePkgSummary,
  pkgMatch,
  pkgPath,
  pkgsrcArtifacts,
  releaseArtifacts,
  resolvePackageClosure,
} from "../../images/catalog/netbsd.ts";
import { UsageError } from "../../lib/errors.ts";

// A pkg_summary excerpt written by hand in the shape pkg_summary(5) gives (entries separated by a
// blank line, DEPENDS repeated), with the dependency forms pkgsrc really emits for xentools42:
// "python27>=2.7", "py27-lxml-[0-9]*", a {a,b} alternative, two versions of one package.
const SUMMARY = `PKGNAME=xenkernel42-4.2.5nb16
DEPENDS=
COMMENT=Xen 4.2.x Kernel
FILE_SIZE=1234567
PKGPATH=sysutils/xenkernel42

PKGNAME=xentools42-4.2.5nb30
DEPENDS=py27-curses>=0nb4
DEPENDS=py27-lxml-[0-9]*
DEPENDS=python27>=2.7.1nb2
DEPENDS=glib2>=2.34.0
DEPENDS=yajl>=2.0.0
DEPENDS={pciutils>=3.0.2nb1,pciutils-libpci>=3.0}
COMMENT=Userland Tools for Xen 4.2.x
FILE_NAME=xentools42-4.2.5nb30.tgz
PKGPATH=sysutils/xentools42

PKGNAME=python27-2.7.8
DEPENDS=libffi>=1.20
PKGPATH=lang/python27

PKGNAME=python27-2.7.9nb1
DEPENDS=libffi>=1.20
FILE_CKSUM=sha256 AB${"cd".repeat(31)}
PKGPATH=lang/python27

PKGNAME=py27-curses-2.7.9
DEPENDS=python27>=2.7
DEPENDS=ncurses>=5.3nb1

PKGNAME=py27-lxml-3.4.2
DEPENDS=libxml2>=2.9.1
DEPENDS=libxslt>=1.1.28
DEPENDS=python27>=2.7

PKGNAME=glib2-2.42.1
DEPENDS=gettext-lib>=0.18
DEPENDS=libffi>=1.20
DEPENDS=pcre>=8.30nb1

PKGNAME=yajl-2.1.0
PKGNAME_IGNORED_LINE_WITHOUT_VALUE

PKGNAME=pciutils-3.3.0

PKGNAME=libffi-3.2.1

PKGNAME=ncurses-5.9nb4

PKGNAME=libxml2-2.9.2nb1

PKGNAME=libxslt-1.1.28nb4
DEPENDS=libxml2>=2.6.27
DEPENDS=libgcrypt>=1.4.0

PKGNAME=libgcrypt-1.6.2
DEPENDS=libgpg-error>=1.0.0

PKGNAME=libgpg-error-1.17

PKGNAME=gettext-lib-0.19.3

PKGNAME=pcre-8.36

PKGNAME=unrelated-1.0
DEPENDS=missing-dep-[0-9]*
`;

describe("NetBSD catalog", () => {
  it("knows the three boxes, 6.1.5 with xenkernel42 as the HOWTO recommends", () => {
    assert.deepEqual(
      NETBSD_RELEASES.map((r) => r.box),
      ["netbsd-6.1.5", "netbsd-9.4", "netbsd-10.1"],
    );
    const def = netbsdRelease("netbsd-6.1.5");
    assert.equal(def.xen.kernelPkg, "xenkernel42");
    assert.equal(def.xen.toolsPkg, "xentools42");
    assert.equal(def.xen.xenGzPath, "/usr/pkg/xen42-kernel/xen.gz");
    assert.equal(netbsdRelease("netbsd-9.4").xen.xenGzPath, "/usr/pkg/xen415-kernel/xen.gz");
    assert.equal(netbsdRelease("netbsd-10.1").xen.kernelPkg, "xenkernel420");
    assert.equal(netbsdRelease("netbsd-10.1").setSuffix, ".tar.xz");
    assert.equal(netbsdRelease("netbsd-9.4").setSuffix, ".tar.xz");
    assert.equal(def.setSuffix, ".tgz");
    assert.equal(def.sysinstFlavor, "netbsd6");
    assert.equal(netbsdRelease("netbsd-9.4").sysinstFlavor, "netbsd9plus");
  });

  it("rejects an unknown box with a UsageError naming the known ones", () => {
    assert.throws(
      () => netbsdRelease("netbsd-7.0"),
      (e: unknown) =>
        e instanceof UsageError &&
        e.cliExitCode === 2 &&
        /netbsd-6\.1\.5, netbsd-9\.4, netbsd-10\.1/.test(e.message),
    );
  });

  it("lists boot-com.iso, the selected sets and the Xen kernels, each checked by its directory's SHA512, CDN first then the archive", () => {
    const rel = netbsdRelease("netbsd-6.1.5");
    const arts = releaseArtifacts(rel);
    const iso = arts.find((a) => a.name.endsWith("boot-com.iso"))!;
    assert.equal(
      iso.url,
      "https://cdn.netbsd.org/pub/NetBSD/NetBSD-6.1.5/amd64/installation/cdrom/boot-com.iso",
    );
    assert.equal(iso.mirrorPath, "NetBSD/NetBSD-6.1.5/amd64/installation/cdrom/boot-com.iso");
    assert.equal(iso.name, "netbsd-6.1.5/amd64/installation/cdrom/boot-com.iso");
    assert.deepEqual(iso.checksumFile, {
      url: "https://cdn.netbsd.org/pub/NetBSD/NetBSD-6.1.5/amd64/installation/cdrom/SHA512",
      mirrorPath: "NetBSD/NetBSD-6.1.5/amd64/installation/cdrom/SHA512",
      algorithm: "sha512",
      entry: "boot-com.iso",
    });
    assert.deepEqual(iso.alternates, [
      {
        url: "https://archive.netbsd.org/pub/NetBSD-archive/NetBSD-6.1.5/amd64/installation/cdrom/boot-com.iso",
        mirrorPath: "NetBSD-archive/NetBSD-6.1.5/amd64/installation/cdrom/boot-com.iso",
        checksumFile: {
          url: "https://archive.netbsd.org/pub/NetBSD-archive/NetBSD-6.1.5/amd64/installation/cdrom/SHA512",
          mirrorPath: "NetBSD-archive/NetBSD-6.1.5/amd64/installation/cdrom/SHA512",
        },
      },
      {
        // A --mirror laid out the old way (NetBSD-X.Y/ at its root); without a mirror the same URL as above.
        url: "https://archive.netbsd.org/pub/NetBSD-archive/NetBSD-6.1.5/amd64/installation/cdrom/boot-com.iso",
        mirrorPath: "NetBSD-6.1.5/amd64/installation/cdrom/boot-com.iso",
        checksumFile: {
          url: "https://archive.netbsd.org/pub/NetBSD-archive/NetBSD-6.1.5/amd64/installation/cdrom/SHA512",
          mirrorPath: "NetBSD-6.1.5/amd64/installation/cdrom/SHA512",
        },
      },
    ]);
    assert.deepEqual(
      arts.filter((a) => a.name.includes("/binary/sets/")).map((a) => a.checksumFile!.entry),
      ["kern-GENERIC.tgz", "modules.tgz", "base.tgz", "etc.tgz"],
    );
    assert.deepEqual(
      arts.filter((a) => a.name.includes("/binary/kernel/")).map((a) => a.mirrorPath),
      [
        "NetBSD/NetBSD-6.1.5/amd64/binary/kernel/netbsd-XEN3_DOM0.gz",
        "NetBSD/NetBSD-6.1.5/amd64/binary/kernel/netbsd-XEN3_DOMU.gz",
        "NetBSD/NetBSD-6.1.5/amd64/binary/kernel/netbsd-INSTALL_XEN3_DOMU.gz",
      ],
    );
    for (const a of arts) assert.ok(a.checksumFile!.url.endsWith("/SHA512"));
    assert.equal(new Set(arts.map((a) => a.name)).size, arts.length);
  });

  it("asks 9.4 and 10.1 for .tar.xz sets, and honours a set list override", () => {
    const nine = releaseArtifacts(netbsdRelease("netbsd-9.4"));
    const base9 = nine.find((a) => a.name.includes("/binary/sets/base."))!;
    assert.equal(base9.url, "https://cdn.netbsd.org/pub/NetBSD/NetBSD-9.4/amd64/binary/sets/base.tar.xz");
    assert.equal(
      base9.alternates![0]!.url,
      "https://archive.netbsd.org/pub/NetBSD-archive/NetBSD-9.4/amd64/binary/sets/base.tar.xz",
    );
    assert.ok(!nine.some((a) => a.name.endsWith(".tgz")), "no 9.4 set is a .tgz");
    const rel = netbsdRelease("netbsd-10.1");
    const arts = releaseArtifacts(rel, { sets: ["base", "etc", "kern-GENERIC", "modules", "src"] });
    const base = arts.find((a) => a.name.endsWith("base.tar.xz"))!;
    assert.equal(base.url, "https://cdn.netbsd.org/pub/NetBSD/NetBSD-10.1/amd64/binary/sets/base.tar.xz");
    assert.equal(
      base.checksumFile!.url,
      "https://cdn.netbsd.org/pub/NetBSD/NetBSD-10.1/amd64/binary/sets/SHA512",
    );
    assert.ok(arts.some((a) => a.name.endsWith("/modules.tar.xz")));
    assert.ok(
      arts.some((a) => a.name.endsWith("/src.tgz")),
      "a source set stays .tgz (force_tgz)",
    );
    assert.equal(arts.length, 1 + 5 + 3);
  });

  it("gives kernel URLs on the mirror or on the harness's server", () => {
    const rel = netbsdRelease("netbsd-9.4");
    assert.equal(
      kernelUrl(rel, "XEN3_DOM0"),
      "https://cdn.netbsd.org/pub/NetBSD/NetBSD-9.4/amd64/binary/kernel/netbsd-XEN3_DOM0.gz",
    );
    assert.equal(
      kernelUrl(rel, "XEN3_DOMU", "http://10.0.2.2:8080/"),
      "http://10.0.2.2:8080/netbsd-9.4/amd64/binary/kernel/netbsd-XEN3_DOMU.gz",
    );
  });

  it("builds PKG_PATH per release, with a configurable quarterly branch for 9.x/10.x", () => {
    const six = netbsdRelease("netbsd-6.1.5");
    const nine = netbsdRelease("netbsd-9.4");
    const ten = netbsdRelease("netbsd-10.1");
    assert.equal(pkgPath(six), "https://cdn.netbsd.org/pub/pkgsrc/packages/NetBSD/amd64/6.1.5/All");
    assert.equal(
      pkgPath(nine),
      `https://cdn.netbsd.org/pub/pkgsrc/packages/NetBSD/x86_64/9.0_${DEFAULT_PKGSRC_BRANCH}/All`,
    );
    assert.equal(
      pkgPath(ten, { pkgsrcBranch: "2024Q4" }),
      "https://cdn.netbsd.org/pub/pkgsrc/packages/NetBSD/x86_64/10.0_2024Q4/All",
    );
    assert.equal(
      pkgPath(ten, { pkgsrcBranch: "" }),
      "https://cdn.netbsd.org/pub/pkgsrc/packages/NetBSD/x86_64/10.0/All",
    );
    assert.equal(
      pkgPath(ten, { serverUrl: "http://10.0.2.2:8080" }),
      `http://10.0.2.2:8080/pkgsrc/packages/NetBSD/x86_64/10.0_${DEFAULT_PKGSRC_BRANCH}/All`,
    );
    assert.equal(
      pkgPath(six, { serverUrl: "http://10.0.2.2:8080/" }),
      "http://10.0.2.2:8080/pkgsrc/packages/NetBSD/amd64/6.1.5/All",
    );
  });

  it("parses pkg_summary entries", () => {
    const s = parsePkgSummary(SUMMARY);
    const tools = s.find((e) => e.PKGNAME.startsWith("xentools42"))!;
    assert.equal(tools.FILE_NAME, "xentools42-4.2.5nb30.tgz");
    assert.deepEqual(tools.DEPENDS, [
      "py27-curses>=0nb4",
      "py27-lxml-[0-9]*",
      "python27>=2.7.1nb2",
      "glib2>=2.34.0",
      "yajl>=2.0.0",
      "{pciutils>=3.0.2nb1,pciutils-libpci>=3.0}",
    ]);
    const kernel = s.find((e) => e.PKGNAME.startsWith("xenkernel42"))!;
    assert.deepEqual(kernel.DEPENDS, []); // an empty DEPENDS= line adds nothing
    const py = s.find((e) => e.PKGNAME === "python27-2.7.9nb1")!;
    assert.deepEqual(py.checksum, { algorithm: "sha256", hex: `ab${"cd".repeat(31)}` });
    assert.equal(s.length, 18);
  });

  it("matches dependency patterns the way pkg_add does in the common forms", () => {
    assert.ok(pkgMatch("python27>=2.7", "python27-2.7.9nb1"));
    assert.ok(!pkgMatch("python27>=2.7", "python27-2.6.9"));
    assert.ok(!pkgMatch("python27>=2.7", "python34-3.4.2"));
    assert.ok(pkgMatch("py27-lxml-[0-9]*", "py27-lxml-3.4.2"));
    assert.ok(!pkgMatch("py27-lxml-[0-9]*", "py27-lxml-extra-1.0"));
    assert.ok(pkgMatch("py27-curses>=0nb4", "py27-curses-2.7.9"));
    assert.ok(pkgMatch("{py27,py34}-curses>=2.7", "py34-curses-3.4.2"));
    assert.ok(pkgMatch("glib2>=2.34.0<3", "glib2-2.42.1"));
    assert.ok(!pkgMatch("glib2>=2.34.0<2.40", "glib2-2.42.1"));
    assert.ok(pkgMatch("xentools42-4.2.5nb30", "xentools42-4.2.5nb30"));
    assert.ok(!pkgMatch("xentools42-4.2.5nb30", "xentools42-4.2.5nb29"));
    assert.deepEqual(expandAlternatives("{a,b{c,d}}-1"), ["a-1", "bc-1", "bd-1"]);
  });

  it("orders versions like pkg_install's dewey comparison", () => {
    assert.ok(compareVersions("2.7.9nb1", "2.7.9") > 0);
    assert.ok(compareVersions("2.7.10", "2.7.9") > 0);
    assert.ok(compareVersions("1.0alpha1", "1.0beta1") < 0);
    assert.ok(compareVersions("1.0rc1", "1.0") < 0);
    assert.ok(compareVersions("1.0", "1.0pl1") < 0);
    assert.ok(compareVersions("1.0a", "1.0") > 0);
    assert.equal(compareVersions("4.2.5", "4.2.5"), 0);
  });

  it("resolves the Xen packages' closure, dependencies first, picking the newest match", () => {
    const s = parsePkgSummary(SUMMARY);
    const files = resolvePackageClosure(s, ["xenkernel42", "xentools42"]);
    assert.equal(files[0], "xenkernel42-4.2.5nb16.tgz");
    assert.equal(files[files.length - 1], "xentools42-4.2.5nb30.tgz");
    assert.ok(files.includes("python27-2.7.9nb1.tgz"));
    assert.ok(!files.includes("python27-2.7.8.tgz"));
    for (const f of [
      "py27-lxml-3.4.2.tgz",
      "libxslt-1.1.28nb4.tgz",
      "libgpg-error-1.17.tgz",
      "pciutils-3.3.0.tgz",
      "pcre-8.36.tgz",
    ]) {
      assert.ok(files.includes(f), f);
    }
    assert.ok(!files.includes("unrelated-1.0.tgz"));
    assert.equal(new Set(files).size, files.length);
    // Every package comes after all of its dependencies.
    const pos = (name: string): number => files.findIndex((f) => f.startsWith(`${name}-`));
    assert.ok(pos("libgpg-error") < pos("libgcrypt"));
    assert.ok(pos("libgcrypt") < pos("libxslt"));
    assert.ok(pos("libxslt") < pos("py27-lxml"));
    assert.ok(pos("python27") < pos("py27-curses"));
  });

  it("names what pkg_summary cannot satisfy", () => {
    const s = parsePkgSummary(SUMMARY);
    assert.throws(
      () => resolvePackageClosure(s, ["unrelated", "xenkernel415"]),
      (e: unknown) =>
        e instanceof UnresolvedDependencyError &&
        e.missing.length === 2 &&
        e.missing[0] === "missing-dep-[0-9]* (needed by unrelated-1.0)" &&
        e.missing[1] === "xenkernel415",
    );
  });

  it("lists pkg_summary.gz, then the closure as artifacts to serve locally, the CDN's tree first then the archive's", () => {
    const rel = netbsdRelease("netbsd-6.1.5");
    const first = pkgsrcArtifacts(rel);
    assert.equal(first.length, 1);
    assert.equal(
      first[0]!.url,
      "https://cdn.netbsd.org/pub/pkgsrc/packages/NetBSD/amd64/6.1.5/All/pkg_summary.gz",
    );
    assert.deepEqual(first[0]!.alternates, [
      {
        url: "https://archive.netbsd.org/pub/pkgsrc-archive/packages/NetBSD/amd64/6.1.5/All/pkg_summary.gz",
        mirrorPath: "pkgsrc-archive/packages/NetBSD/amd64/6.1.5/All/pkg_summary.gz",
      },
    ]);
    assert.equal(first[0]!.name, "pkgsrc/packages/NetBSD/amd64/6.1.5/All/pkg_summary.gz");
    const all = pkgsrcArtifacts(rel, parsePkgSummary(SUMMARY));
    const py = all.find((a) => a.name.endsWith("/python27-2.7.9nb1.tgz"))!;
    assert.equal(py.mirrorPath, "pkgsrc/packages/NetBSD/amd64/6.1.5/All/python27-2.7.9nb1.tgz");
    assert.equal(py.checksum?.algorithm, "sha256");
    assert.ok(all.some((a) => a.url.endsWith("/All/xentools42-4.2.5nb30.tgz")));
  });
});
