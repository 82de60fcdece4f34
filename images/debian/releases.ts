/**
 * The Debian releases the reference boxes are built from: what differs between them, in one table that
 * build-box.sh (through its environment), box.json's validation and the harness's Debian box all read.
 * Package names and versions as read off deb.debian.org's indexes (bookworm, trixie), see docs/debian.md.
 */
export interface DebianRelease {
  /** The box's name, its cache directory (<cache>/boxes/<box>) and its machine's. */
  box: string;
  /** Debian's code name: the suite mmdebstrap bootstraps; <suite>-updates and <suite>-security too. */
  suite: string;
  /** /etc/debian_version starts with "<major>.". */
  major: number;
  /** Xen's major.minor, as `xl info` and Xen's boot banner print it. */
  xenVersion: string;
  /** The hypervisor package xen-system-amd64 depends on; it installs /boot/xen-<xen>-amd64.gz. */
  hypervisorPackage: string;
  /** The toolstack (xl, the daemons) of that Xen. */
  utilsPackage: string;
  /** Where the hypervisor package puts xen.gz (what GRUB's Xen entry loads). */
  xenKernelPath: string;
  /** The Linux kernel series linux-image-amd64 depends on, e.g. "6.1" ("6.1.0-41-amd64"). */
  kernelSeries: string;
  /**
   * The title of GRUB's Xen entry, which xen-hypervisor-common's /etc/default/grub.d/xen.cfg makes the
   * default: "$GRUB_DISTRIBUTOR GNU/Linux, with Xen hypervisor". GRUB_DISTRIBUTOR is "Debian" on
   * bookworm (lsb_release, absent, else "Debian") and os-release's NAME, "Debian GNU/Linux", on trixie.
   */
  grubXenEntry: string;
}

function release(
  box: string,
  suite: string,
  major: number,
  xenVersion: string,
  kernelSeries: string,
  grubDistributor: string,
): DebianRelease {
  return {
    box,
    suite,
    major,
    xenVersion,
    hypervisorPackage: `xen-hypervisor-${xenVersion}-amd64`,
    utilsPackage: `xen-utils-${xenVersion}`,
    xenKernelPath: `/boot/xen-${xenVersion}-amd64.gz`,
    kernelSeries,
    grubXenEntry: `${grubDistributor} GNU/Linux, with Xen hypervisor`,
  };
}

/** Oldest first. bookworm: xen-system-amd64 4.17.x, linux 6.1; trixie: 4.20.x (what pkgsrc's xenkernel420 packages), linux 6.12. */
export const DEBIAN_RELEASES: readonly DebianRelease[] = [
  release("debian-12", "bookworm", 12, "4.17", "6.1", "Debian"),
  release("debian-13", "trixie", 13, "4.20", "6.12", "Debian GNU/Linux"),
];

/** The packages the install step asks apt for (xen-system-amd64 pulls in the release's hypervisor and utils). */
export const DEBIAN_XEN_REQUEST = ["xen-system-amd64", "xen-utils-common", "busybox-static"] as const;

/** The Xen packages a Debian box's run records and the specs check installed. */
export function debianXenPackages(r: DebianRelease): string[] {
  return ["xen-system-amd64", r.hypervisorPackage, r.utilsPackage];
}

/** The box's one-line description (`nbxen box list`, the run's first lines). */
export function describeDebianRelease(r: DebianRelease): string {
  return `reference box: Debian ${r.major} (${r.suite}) + Debian's Xen ${r.xenVersion}, Linux dom0`;
}

export function debianRelease(box: string): DebianRelease | undefined {
  return DEBIAN_RELEASES.find((r) => r.box === box);
}

/** What build-box.sh reads from its environment for a release. */
export function buildEnv(r: DebianRelease): Record<string, string> {
  return {
    NBXEN_DEBIAN_BOX: r.box,
    NBXEN_DEBIAN_SUITE: r.suite,
    NBXEN_DEBIAN_MAJOR: String(r.major),
    NBXEN_XEN_HYPERVISOR_PACKAGE: r.hypervisorPackage,
    NBXEN_XEN_UTILS_PACKAGE: r.utilsPackage,
    NBXEN_XEN_REQUEST: DEBIAN_XEN_REQUEST.join(" "),
  };
}
