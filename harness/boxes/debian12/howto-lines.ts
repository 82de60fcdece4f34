import type { HowtoLine } from "../../steps/step.ts";

/** The HOWTO lines the reference box's steps exercise (quotes from the NetBSD Xen HOWTO). */
export const debianHowto = {
  installOs: {
    section: "Installation of NetBSD",
    quote: "install NetBSD/amd64 just as you would if you were not using Xen",
  },
  bootLoader: { section: "Installation of NetBSD", quote: "installboot / boot loader on the disk" },
  pkgAdd: { section: "Installation of Xen", quote: "pkg_add xenkernel42 xentools42" },
  bootCfg: {
    section: "Booting Xen",
    quote: "menu=Xen:load /netbsd-XEN3_DOM0.gz console=pc;multiboot /xen.gz dom0_mem=256M",
  },
  dom0Mem: { section: "Booting Xen", quote: "dom0_mem=256M" },
  xencommons: { section: "Configuring Xen", quote: "xencommons=YES" },
  xlList: { section: "Configuring Xen", quote: "xl list" },
  bridge: { section: "Networking", quote: "/etc/ifconfig.bridge0: create / up / !brconfig bridge0 add wm0" },
  ddDisk: {
    section: "Creating unprivileged domains (domU)",
    quote: "dd if=/dev/zero of=/home/xen/domu1.img",
  },
  domUConfig: {
    section: "Creating unprivileged domains (domU)",
    quote: "kernel = ...; memory = ...; vif = [ 'bridge=bridge0' ]; disk = [ 'file:...' ]",
  },
  xlCreate: { section: "Creating unprivileged domains (domU)", quote: "xl create -c /usr/pkg/etc/xen/domu1" },
  xlShutdown: { section: "Creating unprivileged domains (domU)", quote: "xl shutdown domu1" },
  xendomains: { section: "Starting domains automatically", quote: 'xendomains="dom1"' },
  hvm: {
    section: "HVM domUs",
    quote: "For HVM guests, the VMX cpu feature (Intel) or VT?? (amd64) is needed",
  },
} satisfies Record<string, HowtoLine>;
