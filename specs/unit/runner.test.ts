import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Box, BoxContext, HowtoState } from "../../harness/boxes/box.ts";
import { HowtoRunner, StepFailedError } from "../../harness/steps/runner.ts";
import { junitXml, summaryTable, howtoReport } from "../../harness/steps/report.ts";
import type { Step } from "../../harness/steps/step.ts";
import { UsageError } from "../../lib/errors.ts";
import { memoryReporter } from "../../lib/reporter.ts";
import { validateConfig } from "../../harness/config/load.ts";

/** Steps that only record what happens to them (no machine: snapshot false). */
function recordingSteps(log: string[], failAt?: string): Step<HowtoState>[] {
  return ["one", "two", "three"].map((name) => ({
    name,
    title: `step ${name}`,
    howto: [],
    snapshot: false,
    async run() {
      log.push(`run ${name}`);
      if (name === failAt) throw new Error(`${name} broke`);
    },
  }));
}

async function runnerWith(steps: Step<HowtoState>[], machineDir: string): Promise<HowtoRunner> {
  const box = { name: "test-box", description: "", steps: () => steps } as unknown as Box;
  const config = {
    ...validateConfig({ box: "test-box" }, "x.json"),
    cacheDir: machineDir,
    stateDir: machineDir,
  };
  const ctx = {
    config,
    reporter: memoryReporter(),
    machineDir,
    accel: { accelerator: "tcg", cpu: "qemu64", reason: "", hvmCapable: false, hvmReason: "" },
  } as unknown as BoxContext;
  return new HowtoRunner(box, ctx);
}

describe("HowtoRunner (multistep)", () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-runner-"))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("runs steps in order, up to a named step, then the rest", async () => {
    const log: string[] = [];
    const r = await runnerWith(recordingSteps(log), dir);
    await r.prepare({});
    await r.runTo("two");
    assert.deepEqual(log, ["run one", "run two"]);
    await r.runTo();
    assert.deepEqual(log, ["run one", "run two", "run three"]);
    assert.deepEqual(
      r.results.map((x) => x.status),
      ["passed", "passed", "passed"],
    );
  });

  it("a failure stops the run: the later steps are not run and say so", async () => {
    const log: string[] = [];
    const r = await runnerWith(recordingSteps(log, "two"), dir);
    await r.prepare({});
    await assert.rejects(
      r.runTo(),
      (e: StepFailedError) => e instanceof StepFailedError && e.step === "two" && /two broke/.test(e.message),
    );
    assert.deepEqual(log, ["run one", "run two"]);
    await r.runTo();
    assert.deepEqual(log, ["run one", "run two"], "a failed run does not go on");
    assert.deepEqual(
      r.results.map((x) => x.status),
      ["passed", "failed", "not-run"],
    );
    assert.match(r.results[1]!.error ?? "", /two broke/);
  });

  it("--from an unknown step, or one whose predecessor has no snapshot, is a usage error that says what exists", async () => {
    const r = await runnerWith(recordingSteps([]), dir);
    await assert.rejects(
      r.prepare({ from: "four" }),
      (e: Error) => e instanceof UsageError && /no such step .* steps: one, two, three/.test(e.message),
    );
    await assert.rejects(
      r.prepare({ from: "two" }),
      (e: Error) =>
        e instanceof UsageError && /needs the snapshot of step one.*usable snapshots: none/.test(e.message),
    );
    await r.prepare({ from: "one" });
  });

  it("the fingerprint changes with settings that invalidate snapshots", async () => {
    const a = await runnerWith(recordingSteps([]), dir);
    const b = await runnerWith(recordingSteps([]), dir);
    assert.equal(a.fingerprint(), b.fingerprint());
    b.state.ctx.config.dom0MemoryMiB = 1024;
    assert.notEqual(a.fingerprint(), b.fingerprint());
  });
});

describe("reports", () => {
  const results = [
    {
      step: "install-os",
      title: "Install <the> OS",
      status: "passed" as const,
      seconds: 61.25,
      snapshot: "install-os",
    },
    {
      step: "boot-xen",
      title: "Boot Xen",
      status: "failed" as const,
      seconds: 3,
      error: "timed out\nlast screen: \u0007bell",
    },
    { step: "domu", title: "domU", status: "not-run" as const, seconds: 0 },
  ];

  it("JUnit XML: one testcase per step, failures and skips counted, text escaped", () => {
    const xml = junitXml("nbxen debian-12 steps", results);
    assert.match(
      xml,
      /<testsuite name="nbxen debian-12 steps" tests="3" failures="1" errors="0" skipped="1" time="64\.250">/,
    );
    assert.match(xml, /name="install-os: Install &lt;the&gt; OS" time="61\.250"><\/testcase>/);
    assert.match(xml, /<failure message="timed out">timed out\nlast screen: bell<\/failure>/);
    assert.match(xml, /<skipped message="not run/);
  });

  it("summary table: step, result, seconds, snapshot", () => {
    const t = summaryTable(results).split("\n");
    assert.match(t[0]!, /^step\s+result\s+seconds\s+snapshot$/);
    assert.match(t[2]!, /^install-os\s+passed\s+61\.3\s+install-os$/);
    assert.match(t[3]!, /^boot-xen\s+failed\s+3\.0\s+-$/);
  });

  it("HOWTO report: each line with its status and note", () => {
    const md = howtoReport("netbsd-6.1.5", [
      {
        section: "Booting Xen",
        quote: "menu=Xen:load /netbsd-XEN3_DOM0.gz console=pc",
        status: "deviation",
        note: "serial console | not VGA",
      },
    ]);
    assert.match(
      md,
      /\| Booting Xen \| `menu=Xen:load \/netbsd-XEN3_DOM0\.gz console=pc` \| deviation \| serial console \\\| not VGA \|/,
    );
  });
});
