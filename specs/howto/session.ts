/**
 * The HOWTO specs share one session: one box, one machine, steps run on demand in HOWTO order. Each spec
 * file calls `reach(step)` in its `before` hook; the runner resumes from the newest usable snapshot, so a
 * second run does not rebuild. Loaded by mocha as a root hook plugin (see scripts/run-specs.sh).
 */
import path from "node:path";
import type { BoxFacts } from "../../harness/boxes/box.ts";
import type { GuestShell } from "../../harness/console/shell.ts";
import { loadConfig } from "../../harness/config/load.ts";
import { assertHowtoStepId } from "../../harness/boxes/step-contract.ts";
import { HowtoSession } from "../../harness/session.ts";
import { summaryTable } from "../../harness/steps/report.ts";
import { HarnessError } from "../../lib/errors.ts";

let session: HowtoSession | undefined;
let prepared = false;

async function open(): Promise<HowtoSession> {
  if (session) return session;
  const { config } = await loadConfig({ configPath: process.env.NBXEN_CONFIG });
  const box = process.env.NBXEN_BOX ?? config.box;
  // NBXEN_XEN (`make specs XEN=xenkernel415`) overrides xenPackage as `nbxen up --xen` does.
  const xenPackage = process.env.NBXEN_XEN || config.xenPackage;
  // NBXEN_UPDATE_XEN_TO (xenkernelNNN, or package paths separated by ':'): the update-xen step follows.
  const updateXenTo = process.env.NBXEN_UPDATE_XEN_TO?.split(path.delimiter).filter(Boolean);
  // NBXEN_XEN_PACKAGE (`make specs XEN_PACKAGE=...`): a locally built pair, as `nbxen up --xen-package`.
  const xenPackageFiles = process.env.NBXEN_XEN_PACKAGE?.split(path.delimiter)
    .filter(Boolean)
    .map((p) => path.resolve(p));
  session = await HowtoSession.open(
    {
      ...config,
      box,
      ...(xenPackage ? { xenPackage } : {}),
      ...(xenPackageFiles?.length ? { xenPackageFiles } : {}),
    },
    updateXenTo?.length ? { updateXenTo } : {},
  );
  return session;
}

/** Runs the box's steps up to and including `step` (from the last good snapshot), then returns. */
export async function reach(step: string): Promise<void> {
  const s = await open();
  if (!prepared) {
    prepared = true;
    await s.runner.prepare({
      fresh: process.env.NBXEN_FRESH === "1",
      disk: s.box.diskPath(s.ctx.machineDir),
    });
  }
  assertHowtoStepId(step);
  const i = s.runner.stepNames.indexOf(step);
  if (i < 0) throw new HarnessError(`box ${s.box.name} has no step ${step}`);
  const failed = s.runner.results.find((r) => r.status === "failed");
  if (failed && s.runner.results.indexOf(failed) <= i)
    throw new HarnessError(`step ${failed.step} failed earlier: ${failed.error}`);
  await s.runner.runTo(step);
}

export function shell(): GuestShell {
  const sh = session?.runner.state.shell;
  if (!sh) throw new HarnessError("no guest shell: the steps did not leave the machine running");
  return sh;
}

export function facts(): BoxFacts {
  if (!session) throw new HarnessError("the HOWTO session is not open");
  return session.box.facts;
}

export function current(): HowtoSession {
  if (!session) throw new HarnessError("the HOWTO session is not open");
  return session;
}

/** Runs a command in the guest and returns exit code and output (never throws on a non-zero status). */
export async function guest(
  command: string,
  timeoutMs = 120_000,
): Promise<{ exitCode: number; output: string }> {
  return shell().exec(command, { timeoutMs });
}

export const mochaHooks = {
  async afterAll(this: unknown) {
    if (!session) return;
    const s = session;
    session = undefined;
    const files = await s.writeReports();
    process.stderr.write(
      `\nHOWTO steps (${s.box.name}):\n${summaryTable(s.runner.results, s.runner.notes, s.ctx.xenPackages)}`,
    );
    process.stderr.write(`reports: ${files.summary} ${files.junit} ${files.howto}\n`);
    const t = s.runner.state.machine?.transcriptDir;
    if (t) process.stderr.write(`console transcript: ${t}\n`);
    await s[Symbol.asyncDispose]();
  },
};
