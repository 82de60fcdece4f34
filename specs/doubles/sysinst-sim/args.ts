/** The part of QEMU's command line the simulator understands; everything else is accepted and ignored. */

export interface SimDisk {
  file: string;
  /** QEMU's `if=`: virtio disks are ld0.. in NetBSD, IDE disks wd0.. */
  iface: string;
}

export interface SimArgs {
  version: boolean;
  qmp?: string;
  pidfile?: string;
  name?: string;
  disks: SimDisk[];
  cdroms: string[];
  /** Device of the first boot ("c" disk, "d" CD) and of every boot after a reset. */
  firstBoot: "c" | "d";
  laterBoots: "c" | "d";
  paused: boolean;
  noReboot: boolean;
  /** `-device` models (virtio-net-pci, e1000, virtio-rng-pci, ...). */
  devices: string[];
}

const NO_VALUE = new Set([
  "-S",
  "-nographic",
  "-nodefaults",
  "-no-reboot",
  "-no-shutdown",
  "-snapshot",
  "-enable-kvm",
  "-daemonize",
  "-no-user-config",
  "-no-hpet",
  "-version",
  "--version",
  "-full-screen",
]);

const WITH_VALUE = new Set([
  "-qmp",
  "-pidfile",
  "-name",
  "-drive",
  "-cdrom",
  "-hda",
  "-boot",
  "-device",
  "-append",
]);

/** Splits QEMU's `k=v,k=v` option syntax (",," is a literal comma). */
export function parseKeyValues(spec: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < spec.length; i++) {
    if (spec[i] === "," && spec[i + 1] === ",") {
      cur += ",";
      i++;
    } else if (spec[i] === ",") {
      parts.push(cur);
      cur = "";
    } else {
      cur += spec[i];
    }
  }
  parts.push(cur);
  parts.forEach((p, i) => {
    const eq = p.indexOf("=");
    if (eq < 0) out.set(i === 0 ? "" : p, p);
    else out.set(p.slice(0, eq), p.slice(eq + 1));
  });
  return out;
}

function bootOrder(spec: string | undefined): { first: "c" | "d"; later: "c" | "d" } {
  if (!spec) return { first: "c", later: "c" };
  const kv = parseKeyValues(spec);
  const plain = kv.get("") ?? "";
  const order = kv.get("order") ?? (/^[a-z]+$/.test(plain) ? plain : "");
  const once = kv.get("once");
  const pick = (s: string | undefined): "c" | "d" | undefined =>
    s?.[0] === "d" ? "d" : s?.[0] === "c" ? "c" : undefined;
  const later = pick(order) ?? "c";
  return { first: pick(once) ?? later, later };
}

export function parseQemuArgs(argv: string[]): SimArgs {
  const a: SimArgs = {
    version: false,
    disks: [],
    cdroms: [],
    firstBoot: "c",
    laterBoots: "c",
    paused: false,
    noReboot: false,
    devices: [],
  };
  let boot: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const opt = argv[i]!;
    if (opt === "-version" || opt === "--version") {
      a.version = true;
      continue;
    }
    if (opt === "-S") a.paused = true;
    if (opt === "-no-reboot") a.noReboot = true;
    if (!opt.startsWith("-") || NO_VALUE.has(opt)) continue;
    const val = argv[i + 1];
    if (val === undefined) break;
    // An unknown option followed by another option takes no value.
    if (val.startsWith("-") && !WITH_VALUE.has(opt)) continue;
    i++;
    switch (opt) {
      case "-qmp": {
        const m = /^unix:([^,]+)/.exec(val);
        if (m) a.qmp = m[1];
        break;
      }
      case "-pidfile":
        a.pidfile = val;
        break;
      case "-name":
        a.name = parseKeyValues(val).get("") ?? val;
        break;
      case "-drive": {
        const kv = parseKeyValues(val);
        const file = kv.get("file");
        if (!file) break;
        if (kv.get("media") === "cdrom") a.cdroms.push(file);
        else a.disks.push({ file, iface: kv.get("if") ?? "ide" });
        break;
      }
      case "-cdrom":
        a.cdroms.push(val);
        break;
      case "-hda":
        a.disks.push({ file: val, iface: "ide" });
        break;
      case "-boot":
        boot = val;
        break;
      case "-device":
        a.devices.push(parseKeyValues(val).get("") ?? val);
        break;
      default:
        break;
    }
  }
  const order = bootOrder(boot);
  a.firstBoot = order.first;
  a.laterBoots = order.later;
  return a;
}
