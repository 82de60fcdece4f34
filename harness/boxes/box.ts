import type { LocalXenPair } from "../../images/catalog/netbsd-local-packages.ts";
import type { GuestShell } from "../console/shell.ts";
import type { AcceleratorChoice } from "../machine/accel.ts";
import type { Machine, MachineOptions } from "../machine/machine.ts";
import type { HarnessConfig } from "../config/schema.ts";
import type { ArtifactStore, LocalArtifactServer } from "../../images/store/index.ts";
import type { HowtoCheck } from "../howto/refs.ts";
import type { Step } from "../steps/step.ts";
import type { Reporter } from "../../lib/reporter.ts";

export type ResolvedConfig = HarnessConfig & { cacheDir: string; stateDir: string };

/** What every step can use: the configuration, the artifact cache and server, where to report. */
export interface BoxContext {
  config: ResolvedConfig;
  store: ArtifactStore;
  server: LocalArtifactServer;
  accel: AcceleratorChoice;
  reporter: Reporter;
  /** The machine's private directory (disks, sockets, transcripts). */
  machineDir: string;
  /** Ctrl-C / SIGTERM from the CLI, and a step's time bound: ends every wait of the run at once. */
  signal?: AbortSignal;
  /**
   * The exact PKGNAMEs of the run's Xen, once known: resolved when the session opened for a chosen pair
   * (Box.resolveChosenXen), by the step that installs them, or from the snapshot the run resumed.
   */
  xenPackages?: string[];
  /** The locally built Xen pair the run installs (config xenPackageFiles, `nbxen up --xen-package`). */
  localXen?: LocalXenPair;
}

/** How QEMU boots the box: from the install media, a kernel handed over directly, or its own disk. */
export type BootMode = "install-media" | "direct-kernel" | "disk";

/** The typed state the HOWTO steps share (Packer's state bag, with names). */
export interface HowtoState {
  ctx: BoxContext;
  box: Box;
  machine?: Machine;
  shell?: GuestShell;
  bootMode: BootMode;
  /** The deviations and not-exercised HOWTO lines the steps recorded while they ran. */
  checks: HowtoCheck[];
  /** What an update-xen step did, once it has: the specs check the machine against it. */
  xenUpdate?: XenUpdateRecord;
}

/** An in-place Xen update (`nbxen update-xen`): the pair before and after, and what `xl info` must say. */
export interface XenUpdateRecord {
  /** PKGNAMEs installed before: ["xenkernel420-4.20.1", "xentools420-4.20.1"]. */
  from: string[];
  /** PKGNAMEs installed after. */
  to: string[];
  /** `xl info`'s xen_version after the reboot starts with this ("4.20.2", or "4.15" for a pair by name). */
  expectXenVersion: string;
  /** The autostart domUs that had to come back. */
  domUs: string[];
  /** A locally built pair: each package file's SHA256. */
  localFiles?: { pkgname: string; sha256: string }[];
}

/** OS differences the specs need: the spec says what is checked, the box says how on its OS. */
export interface BoxFacts {
  os: "debian" | "netbsd";
  /** Directory of the domU config files (HOWTO: /usr/pkg/etc/xen). */
  xenConfigDir: string;
  /** The bridge the domUs attach to (HOWTO: bridge0). */
  bridge: string;
  /** The Xen version the installed package provides, as `xl info` prints it (prefix match), when known. */
  expectedXenVersion?: string;
  /** Command that lists installed packages matching a name, exit 0 when installed. */
  packageInstalledCommand(name: string): string;
  /** The packages the HOWTO's "install Xen" step installs. */
  xenPackages: string[];
  /** Command printing the boot loader's configuration file. */
  bootConfigCommand: string;
  /** Pattern the boot configuration must match to boot Xen by default. */
  xenDefaultBootPattern: RegExp;
  /** Command that prints the Xen service status (exit 0 when running). */
  xenServiceCommand: string;
  /** Ping one packet to a host, exit 0 on reply. */
  pingCommand(host: string): string;
  /** Where the hypervisor image is once the boot step has put it where the boot loader loads it. */
  xenKernelPath: string;
  /** Where the Xen package installs the hypervisor image, when not at xenKernelPath (NetBSD: /usr/pkg/xenNNN-kernel/). */
  packagedXenKernelPath?: string;
  /** Prints something matching runningUnderXenPattern when the OS runs as Xen's dom0. */
  runningUnderXenCommand: string;
  runningUnderXenPattern: RegExp;
  /** The dom0's NIC that goes on the bridge. */
  nic: string;
  /** Lists the bridge's member interfaces. */
  bridgeMembersCommand: string;
  /** Prints a file's size in bytes. */
  fileSizeCommand(path: string): string;
  /** Path of a domU's config file. */
  domUConfigPath(name: string): string;
  /** The size of a domU's disk file for a configured size: more where the box's domU needs it. */
  domUDiskMiB(configuredMiB: number): number;
  /** Prints the autostart configuration; its output must name the domU. */
  autostartConfigCommand: string;
}

export interface Box {
  readonly name: string;
  readonly description: string;
  readonly facts: BoxFacts;
  /** The HOWTO steps, in HOWTO order. */
  steps(): Step<HowtoState>[];
  /**
   * The in-place Xen update to `to` (a xenkernelNNN name, or paths of a locally built pair), run after
   * the HOWTO steps; a box without one cannot be updated by the harness. Bad input: UsageError.
   */
  updateXenStep?(
    to: readonly string[],
    ctx: Pick<BoxContext, "config" | "store" | "reporter">,
  ): Promise<Step<HowtoState>>;
  /** QEMU options to boot this box in the given mode (disks, media, NIC, kernel). */
  machineOptions(state: HowtoState, mode: BootMode): Promise<MachineOptions>;
  /** Fetches (and builds) everything the box needs into the cache, without booting it; returns what it has. */
  fetch(ctx: Pick<BoxContext, "config" | "store" | "reporter">): Promise<string[]>;
  /**
   * When `xenPackage` chose the Xen: its exact PKGNAMEs ("xenkernel420-20250821nb1") from the package
   * tree it will be installed from, or the error saying which pairs exist. Undefined for the box's own Xen,
   * which the install step resolves (a default run needs no package tree before it gets there).
   */
  resolveChosenXen?(
    ctx: Pick<BoxContext, "config" | "store" | "reporter" | "localXen">,
  ): Promise<string[] | undefined>;
  /** The machine's main disk, where the step snapshots live. */
  diskPath(machineDir: string): string;
  /** `xl create` a configured domU, watch its console until it is up, return its address on the bridge. */
  startDomU(state: HowtoState, name: string): Promise<string>;
  /** Tries to boot an HVM(-container) domU: undefined when it ran, else why Xen refused it. */
  tryHvmDomU?(state: HowtoState): Promise<string | undefined>;
  /** From a fresh boot (or a restored snapshot) to a root shell with a harness prompt. */
  login(machine: Machine, opts?: { timeoutMs?: number }): Promise<GuestShell>;
}
