// The table of Debian releases and the boxes made from it: one implementation, the release's values.
import assert from "node:assert/strict";
import { buildEnv, DEBIAN_RELEASES, debianRelease, debianXenPackages } from "../../images/debian/releases.ts";
import { boxCatalog, getBox } from "../../harness/boxes/registry.ts";
import { stepContractViolation } from "../../harness/boxes/step-contract.ts";
import { parseDpkgVersions, xenGrubDefault } from "../../harness/boxes/debian/steps.ts";

describe("Debian releases and their boxes", () => {
  it("holds debian-12 (bookworm, Xen 4.17) and debian-13 (trixie, Xen 4.20) with Debian's package names", () => {
    assert.deepEqual(
      DEBIAN_RELEASES.map((r) => [
        r.box,
        r.suite,
        r.major,
        r.xenVersion,
        r.hypervisorPackage,
        r.utilsPackage,
      ]),
      [
        ["debian-12", "bookworm", 12, "4.17", "xen-hypervisor-4.17-amd64", "xen-utils-4.17"],
        ["debian-13", "trixie", 13, "4.20", "xen-hypervisor-4.20-amd64", "xen-utils-4.20"],
      ],
    );
    assert.equal(debianRelease("debian-13")?.xenKernelPath, "/boot/xen-4.20-amd64.gz");
    assert.equal(debianRelease("debian-14"), undefined);
    assert.deepEqual(buildEnv(debianRelease("debian-13")!), {
      NBXEN_DEBIAN_BOX: "debian-13",
      NBXEN_DEBIAN_SUITE: "trixie",
      NBXEN_DEBIAN_MAJOR: "13",
      NBXEN_XEN_HYPERVISOR_PACKAGE: "xen-hypervisor-4.20-amd64",
      NBXEN_XEN_UTILS_PACKAGE: "xen-utils-4.20",
      NBXEN_XEN_REQUEST: "xen-system-amd64 xen-utils-common busybox-static",
    });
  });

  it("every release is a box in the catalog, with its own facts, steps and texts", async () => {
    const names = boxCatalog().map((b) => b.name);
    for (const r of DEBIAN_RELEASES) {
      assert.ok(names.includes(r.box), `${r.box} in ${names.join(", ")}`);
      const box = await getBox(r.box);
      assert.equal(stepContractViolation(box), undefined);
      assert.equal(box.facts.expectedXenVersion, r.xenVersion);
      assert.equal(box.facts.xenKernelPath, r.xenKernelPath);
      assert.deepEqual(box.facts.xenPackages, debianXenPackages(r));
      assert.match(
        box.description,
        new RegExp(`Debian ${r.major} \\(${r.suite}\\) \\+ Debian's Xen ${r.xenVersion}`),
      );
      const steps = box.steps();
      const installOs = steps.find((s) => s.name === "install-os")!;
      assert.match(installOs.title, new RegExp(`Debian ${r.major} `));
      const texts = JSON.stringify(steps.map((s) => [s.title, s.howto]));
      const other = DEBIAN_RELEASES.find((o) => o !== r)!;
      assert.doesNotMatch(
        texts,
        new RegExp(`Debian ${other.major}\\b|Xen ${other.xenVersion.replace(".", "\\.")}`),
      );
      assert.match(texts, new RegExp(`Xen ${r.xenVersion.replace(".", "\\.")}`));
    }
  });

  it("expects GRUB's default to be the release's Xen entry, as update-grub writes it", () => {
    // grub.cfg lines from the boxes' boot-xen steps (grep -E '^\s*(set default|menuentry)').
    const written = {
      "debian-12": '   set default="Debian GNU/Linux, with Xen hypervisor"',
      "debian-13": '   set default="Debian GNU/Linux GNU/Linux, with Xen hypervisor"',
    };
    const [d12, d13] = DEBIAN_RELEASES;
    const cfg = (line: string) =>
      `if [ "\${next_entry}" ] ; then\n   set default="\${next_entry}"\n${line}\nfi\n`;
    assert.match(cfg(written["debian-12"]), xenGrubDefault(d12!));
    assert.match(cfg(written["debian-13"]), xenGrubDefault(d13!));
    assert.doesNotMatch(cfg(written["debian-13"]), xenGrubDefault(d12!));
    assert.doesNotMatch(cfg(written["debian-12"]), xenGrubDefault(d13!));
    assert.doesNotMatch(cfg('   set default="Debian GNU/Linux"'), xenGrubDefault(d12!));
  });

  it("records the Xen as Debian's name=version, in the order asked; a missing package is an error", () => {
    const pkgs = debianXenPackages(debianRelease("debian-13")!);
    const v = "4.20.4+63-g7abfd2bce2-0+deb13u1";
    const out = `xen-hypervisor-4.20-amd64=${v}\r\nxen-system-amd64=${v}\nxen-utils-4.20=${v}\n`;
    assert.deepEqual(parseDpkgVersions(pkgs, out), [
      `xen-system-amd64=${v}`,
      `xen-hypervisor-4.20-amd64=${v}`,
      `xen-utils-4.20=${v}`,
    ]);
    assert.throws(
      () => parseDpkgVersions(pkgs, `xen-system-amd64=${v}\n`),
      /dpkg-query did not report xen-hypervisor-4\.20-amd64 as installed/,
    );
  });
});
