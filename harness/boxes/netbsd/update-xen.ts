/**
 * The in-place Xen update (`nbxen update-xen --to`), the HOWTO's "Updating Xen versions", whose text is
 * "TODO: write": on the dom0 the HOWTO steps built, with its autostart domUs, the installed
 * xenkernelNNN/xentoolsNNN pair is replaced by another (from the mirror by name, or built locally),
 * the new hypervisor goes where /boot.cfg's Xen entry loads it, and the dom0 reboots into it.
 */
import {
  pkgPath,
  splitPkgName,
  withXenPackage,
  xenPairNumber,
  type NetbsdRelease,
} from "../../../images/catalog/netbsd.ts";
import {
  describeLocalPair,
  localPairDigests,
  readLocalXenPair,
  type LocalXenPair,
} from "../../../images/catalog/netbsd-local-packages.ts";
import { HarnessError, UsageError } from "../../../lib/errors.ts";
import type { Step } from "../../steps/step.ts";
import type { BoxContext, HowtoState } from "../box.ts";
import { live, XEN_BANNER } from "../dom0.ts";
import { domainListedCommand } from "../xl-commands.ts";
import { assertXenDefault } from "./bootcfg.ts";
import { INSTALLED_XEN_PACKAGES_COMMAND, installXenPackages, updateXenCommands } from "./dom0-commands.ts";
import { fetchXenPackages, serveLocalPair } from "./box-files.ts";
import { cacheServerUrl, dom0XenEntry, rebootInto, runCommands } from "./dom0-run.ts";

/** Where the update goes: a pair the mirror's pkg_summary holds, or a locally built one. */
export type XenUpdateTarget =
  { kind: "pair"; rel: NetbsdRelease } | { kind: "local"; rel: NetbsdRelease; pair: LocalXenPair };

/** `--to`: one xenkernelNNN name, or the files and directories of a locally built pair. */
export async function resolveXenUpdateTarget(
  rel: NetbsdRelease,
  to: readonly string[],
): Promise<XenUpdateTarget> {
  if (to.length === 1 && xenPairNumber(to[0]!) !== undefined)
    return { kind: "pair", rel: withXenPackage(rel, to[0]) };
  if (to.length === 0)
    throw new UsageError(
      "update-xen: say what to update to: --to xenkernelNNN, or --to PATH... (a locally built pair)",
    );
  const named = to.filter((t) => xenPairNumber(t) !== undefined);
  if (named.length > 0)
    throw new UsageError(
      `update-xen: --to takes one xenkernelNNN name or paths of package files, not both (${to.join(" ")})`,
    );
  const pair = await readLocalXenPair(to);
  return { kind: "local", rel: withXenPackage(rel, `xenkernel${pair.nnn}`), pair };
}

/**
 * The Xen version `xl info` reports once the kernel package `pkgname` runs: its version without the
 * pkgsrc revision when it is a Xen release number ("4.20.2nb1" -> "4.20.2"), else the pair's "4.20".
 */
export function expectedXenVersion(rel: NetbsdRelease, kernelPkgname: string): string {
  const v = splitPkgName(kernelPkgname).version.replace(/nb[0-9]+$/, "");
  return /^[0-9]+\.[0-9]+\.[0-9]+$/.test(v) && v.startsWith(`${rel.xen.xenVersion}.`)
    ? v
    : rel.xen.xenVersion;
}

/** The xen_version line of `xl info`. */
const XL_XEN_VERSION = /^xen_version\s*:\s*(\S+)/m;

export async function updateXenStep(
  rel: NetbsdRelease,
  to: readonly string[],
  ctx: Pick<BoxContext, "config" | "store" | "reporter">,
): Promise<Step<HowtoState>> {
  const target = await resolveXenUpdateTarget(rel, to);
  const next = target.rel;
  // Resolved now, before anything boots: a pair the mirror lacks is bad input, as for `--xen`.
  const log = (l: string) => ctx.reporter.debug(l);
  const pkgs = await fetchXenPackages(
    ctx.store,
    next,
    ctx.config.pkgsrcBranch,
    log,
    target.kind === "local" ? target.pair : undefined,
  );
  const what =
    target.kind === "local"
      ? `the locally built ${pkgs.xenPackages.join(" ")}`
      : `${pkgs.xenPackages.join(" ")} from the mirror`;
  return {
    name: "update-xen",
    title: `update Xen in place to ${what}: pkg_delete the old pair, pkg_add the new, /xen.gz, reboot; the autostart domUs come back`,
    howto: ["updating-xen"],
    snapshot: false,
    async run(state) {
      const { shell } = live(state);
      const from = (await shell.run(INSTALLED_XEN_PACKAGES_COMMAND)).split(/\s+/).filter(Boolean);
      if (from.length === 0)
        throw new HarnessError(
          "update-xen: no xenkernelNNN/xentoolsNNN package is installed on the dom0 (/var/db/pkg); run the HOWTO steps first",
        );
      if (pkgs.xenPackages.every((p) => from.includes(p)))
        throw new UsageError(
          `update-xen: ${pkgs.xenPackages.join(" ")} is what the dom0 runs already; name another pair or a newer build`,
        );
      const url = cacheServerUrl(state);
      const mirrorPath = pkgPath(next, { serverUrl: url, pkgsrcBranch: pkgs.pkgsrcBranch });
      let files: string[] | undefined;
      if (target.kind === "local") files = await serveLocalPair(state.ctx, target.pair);
      const install = installXenPackages(next, mirrorPath, {
        howto: "updating-xen",
        ...(files ? { files } : {}),
      });
      await runCommands(state, updateXenCommands(from, install, next), 1_800_000);
      assertXenDefault(await shell.run("cat /boot.cfg"), dom0XenEntry(state));
      const domUs = state.ctx.config.domUs.filter((d) => d.autostart).map((d) => d.name);
      await rebootInto(state, [XEN_BANNER]);
      const expectXenVersion = expectedXenVersion(next, pkgs.xenPackages[0]);
      const running = XL_XEN_VERSION.exec(await live(state).shell.run("xl info"))?.[1];
      if (!running?.startsWith(expectXenVersion))
        throw new HarnessError(
          `update-xen: after the reboot xl info says xen_version ${running ?? "(none)"}, not ${expectXenVersion} (${pkgs.xenPackages[0]})`,
        );
      for (const n of domUs) await live(state).shell.run(domainListedCommand(n), { timeoutMs: 300_000 });
      state.ctx.xenPackages = pkgs.xenPackages;
      state.xenUpdate = {
        from,
        to: pkgs.xenPackages,
        expectXenVersion,
        domUs,
        ...(target.kind === "local"
          ? {
              localFiles: localPairDigests(target.pair),
            }
          : {}),
      };
      state.ctx.reporter.info(
        `update-xen: ${from.join(" ")} -> ${pkgs.xenPackages.join(" ")}; xen_version ${running}` +
          (target.kind === "local" ? `; ${describeLocalPair(target.pair)}` : ""),
      );
    },
  };
}
