/**
 * The HOWTO's lines, once for the whole project: every box's steps name them by id, every report has one
 * row per line in this order, so two boxes' reports line up row by row.
 *
 * `revisions` says which revision of docs/howto/netbsd-xen-howto.side-by-side.txt carries the line
 * ("old" = left, "new" = right). A line outside that text's hunks is in both: a diff shows only what
 * changed (`nbxen howto coverage` checks the lines the text does show).
 */

import { createHash } from "node:crypto";

export type HowtoRevision = "old" | "new";

export interface HowtoLine {
  /** Section of the HOWTO the line is in (the newer revision's name when both carry it). */
  section: string;
  /** The command, config text or sentence, as the HOWTO has it (lines of a file joined by "\n"). */
  text: string;
  revisions: readonly HowtoRevision[];
  /** Why no box exercises the line; a box's step declaration, when there is one, says more. */
  unexercised?: string;
  /**
   * The HOWTO names the task and gives no procedure: what a box verifies for this line is the harness's
   * own procedure, said here, and the reports mark the line as going beyond the HOWTO.
   */
  beyond?: string;
}

const BOTH: readonly HowtoRevision[] = ["old", "new"];

export const HOWTO_LINES = {
  "hvm-cpu": {
    section: "Introduction",
    text: "For HVM guests, the VMX cpu feature (Intel) or VT?? (amd64) is needed.",
    revisions: ["new"],
  },
  "dom0-starts-domus": {
    section: "Introduction",
    text: "The dom0 can start one or more domUs.",
    revisions: BOTH,
  },
  "xenkernel42-recommended": {
    section: "NetBSD",
    text: "Therefore, this HOWTO recommends running xenkernel42 (and xentools42), xl, the NetBSD 6 stable branch, and to use amd64 as the dom0.",
    revisions: ["new"],
  },
  "install-netbsd-51": {
    section: "Installing Xen with NetBSD as privileged domain (dom0)",
    text: "First do a NetBSD/i386 or NetBSD/amd64 installation of the 5.1 release (or newer) as you usually do on x86 hardware.",
    revisions: ["old"],
  },
  "grub-root-partition": {
    section: "Installing Xen with NetBSD as privileged domain (dom0)",
    text: "If you plan to use the grub boot loader, when partitioning the disk you have to make the root partition smaller than 512Mb, and formatted as FFSv1 with 8k block/1k fragments.",
    revisions: ["old"],
    unexercised: "no box boots Xen with GRUB legacy from an FFS root (the newer revision drops GRUB)",
  },
  "install-netbsd": {
    section: "Installation of NetBSD",
    text: "install NetBSD/amd64 just as you would if you were not using Xen.",
    revisions: ["new"],
  },
  "domu-disk-file": {
    section: "Installation of NetBSD",
    text: "One can use files in the dom0 filesystem, typically created by dd'ing /dev/zero to create a specific size.",
    revisions: ["new"],
  },
  "install-xen-packages": {
    section: "Installation of Xen",
    text: "Next step is to install the Xen packages via pkgsrc or from binary packages.",
    revisions: BOTH,
  },
  "done-output": {
    section: "Installation of Xen",
    text: "Done.",
    revisions: BOTH,
    unexercised:
      "output the HOWTO shows, nothing to type (the block it ends starts outside the side-by-side text)",
  },
  "bootcfg-xen-menu": {
    section: "Installation of Xen",
    text: "menu=Xen:load /netbsd-XEN3_DOM0.gz console=pc;multiboot /xen.gz dom0_mem=256M",
    revisions: BOTH,
  },
  "makedev-xen": {
    section: "Installation of Xen",
    text: "cd /dev && sh MAKEDEV xen",
    revisions: BOTH,
  },
  "rcd-scripts": {
    section: "Installation of Xen",
    text: "/usr/pkg/share/examples/rc.d/",
    revisions: BOTH,
  },
  "rcconf-xencommons": {
    section: "Installation of Xen",
    text: "xencommons=YES",
    revisions: BOTH,
  },
  "xl-list": {
    section: "Installation of Xen",
    text: "xl list",
    revisions: BOTH,
  },
  "updating-xen": {
    section: "Updating Xen versions",
    text: "TODO: write",
    revisions: ["new"],
    unexercised: "no update target: `nbxen update-xen --to xenkernelNNN|PATH` on a NetBSD box exercises it",
    beyond:
      "the harness's procedure: pkg_delete the installed xentoolsNNN/xenkernelNNN, pkg_add the new pair (from the mirror or locally built), copy its xen.gz to /, refresh the rc.d scripts, keep /boot.cfg's Xen entry the default, reboot; the new Xen runs and the autostart domUs are back",
  },
  "bridge0-config": {
    section: "Creating unprivileged domains (domU)",
    text: "create\nup\n!brconfig bridge0 add wm0",
    revisions: BOTH,
  },
  "vif-bridge-script": {
    section: "Creating unprivileged domains (domU)",
    text: "# /usr/pkg/etc/xen/vif-bridge",
    revisions: BOTH,
    unexercised:
      "the HOWTO prints the vif-bridge script the Xen tools install; no step compares it (xl runs the installed one for a vif on bridge0)",
  },
  "domu-config": {
    section: "Creating unprivileged domains (domU)",
    text: 'kernel = "/netbsd-XEN3_DOMU.gz"',
    revisions: BOTH,
  },
  "xl-create": {
    section: "Creating unprivileged domains (domU)",
    text: "xl create",
    revisions: BOTH,
  },
  "xl-shutdown": {
    section: "Creating unprivileged domains (domU)",
    text: "xl shutdown",
    revisions: BOTH,
  },
  xendomains: {
    section: "Starting domains automatically",
    text: 'xendomains="dom1 dom2"',
    revisions: BOTH,
  },
} as const satisfies Record<string, HowtoLine>;

export type HowtoLineId = keyof typeof HOWTO_LINES;

/** Every id, in table (HOWTO) order. */
export const HOWTO_LINE_IDS = Object.keys(HOWTO_LINES) as HowtoLineId[];

export function howtoLine(id: HowtoLineId): HowtoLine {
  return HOWTO_LINES[id];
}

export function isHowtoLineId(id: string): id is HowtoLineId {
  return Object.hasOwn(HOWTO_LINES, id);
}

/** The section as reports print it: a line the harness goes beyond the HOWTO for says so. */
export function sectionLabel(line: HowtoLine): string {
  return line.beyond === undefined ? line.section : `${line.section} (beyond the HOWTO)`;
}

/** The project's copy of the HOWTO text the table was made from (docs/howto/README.md). */
export const HOWTO_TEXT_FILE = "docs/howto/netbsd-xen-howto.side-by-side.txt";

/** Identifies the table: a run record says which lines (and revisions) its outcomes are of. */
export function howtoTableDigest(): string {
  return createHash("sha256").update(JSON.stringify(HOWTO_LINES)).digest("hex").slice(0, 16);
}
