/** The JSON schema of nbxen.config.json, and its TypeScript shape. */

/** The box a config without `box` runs: NetBSD 6.1.5 with xenkernel42, the HOWTO's recommendation. */
export const DEFAULT_BOX = "netbsd-6.1.5";

export interface DomUConfig {
  name: string;
  memoryMiB: number;
  diskMiB: number;
  /** Start it from xendomains at dom0 boot (the HOWTO's "Starting domains automatically"). */
  autostart: boolean;
}

export interface QemuConfig {
  /** QEMU binary: a name on PATH or a path (for custom QEMU builds, or a test double). */
  binary: string;
  accelerator: "auto" | "kvm" | "tcg";
  /** Override the CPU model (default: host under KVM, qemu64 under TCG). */
  cpu?: string;
  /**
   * Under KVM, a boot whose console stays silent this long is stopped; with `accelerator: auto` the run is
   * then redone under TCG once. 0 turns the watchdog off.
   */
  bootWatchdogSeconds: number;
  extraArgs: string[];
}

export interface HarnessConfig {
  box: string;
  memoryMiB: number;
  cpus: number;
  diskGiB: number;
  dom0MemoryMiB: number;
  /**
   * The Xen pair a NetBSD box installs, by its kernel package ("xenkernel415": with xentools415), any the
   * release's pkg_summary holds; unset: the release's default. "debian" (or unset) for the Debian boxes
   * (debian-12, debian-13): their own Debian Xen.
   * `nbxen up --xen` overrides it.
   */
  xenPackage?: string;
  /**
   * A locally built xenkernelNNN/xentoolsNNN pair for a NetBSD box to install instead of the mirror's:
   * package files, or directories holding them (relative to the config file); dependencies still come
   * from the mirror. `nbxen up --xen-package PATH...` overrides it.
   */
  xenPackageFiles?: string[];
  domUs: DomUConfig[];
  qemu: QemuConfig;
  /** A directory or URL laid out like NetBSD's tree, used instead of NetBSD's mirrors. */
  mirror?: string;
  /** pkgsrc quarterly branch for NetBSD 9/10 binary packages, e.g. "2025Q3". */
  pkgsrcBranch?: string;
  /** Artifact cache (default: $XDG_CACHE_HOME/nbxen or ~/.cache/nbxen). */
  cacheDir?: string;
  /** Machine state, disks and transcripts (default: ./.nbxen next to the config file). */
  stateDir?: string;
}

const NAME = "^[a-z][a-z0-9-]{0,30}$";

export const configSchema = {
  $id: "nbxen.config.json",
  type: "object",
  additionalProperties: false,
  properties: {
    $schema: { type: "string" },
    box: { type: "string", pattern: "^[a-z0-9][a-z0-9.-]*$", default: DEFAULT_BOX },
    memoryMiB: { type: "integer", minimum: 512, maximum: 65536, default: 2048 },
    cpus: { type: "integer", minimum: 1, maximum: 64, default: 1 },
    diskGiB: { type: "integer", minimum: 2, maximum: 2048, default: 8 },
    dom0MemoryMiB: { type: "integer", minimum: 128, maximum: 65536, default: 512 },
    xenPackage: { type: "string", pattern: "^(xenkernel[0-9]{2,3}|debian)$" },
    xenPackageFiles: { type: "array", minItems: 1, items: { type: "string", minLength: 1 } },
    domUs: {
      type: "array",
      maxItems: 8,
      default: [{ name: "domu1", memoryMiB: 128, diskMiB: 64, autostart: true }],
      items: {
        type: "object",
        additionalProperties: false,
        required: ["name"],
        properties: {
          name: { type: "string", pattern: NAME },
          memoryMiB: { type: "integer", minimum: 32, maximum: 65536, default: 128 },
          diskMiB: { type: "integer", minimum: 16, maximum: 1048576, default: 64 },
          autostart: { type: "boolean", default: true },
        },
      },
    },
    qemu: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        binary: { type: "string", minLength: 1, default: "qemu-system-x86_64" },
        accelerator: { enum: ["auto", "kvm", "tcg"], default: "auto" },
        cpu: { type: "string", minLength: 1 },
        bootWatchdogSeconds: { type: "integer", minimum: 0, maximum: 3600, default: 90 },
        extraArgs: { type: "array", items: { type: "string" }, default: [] },
      },
    },
    mirror: { type: "string", minLength: 1 },
    pkgsrcBranch: { type: "string", pattern: "^[0-9]{4}Q[1-4]$" },
    cacheDir: { type: "string", minLength: 1 },
    stateDir: { type: "string", minLength: 1 },
  },
} as const;
