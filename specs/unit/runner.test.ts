import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Box, BoxContext, HowtoState } from "../../harness/boxes/box.ts";
import { HowtoRunner, StepFailedError } from "../../harness/steps/runner.ts";
import { junitXml, summaryTable, howtoReport } from "../../harness/steps/report.ts";
import type { Step } from "../../harness/steps/step.ts";
import { HOWTO_LINE_IDS } from "../../harness/howto/lines.ts";
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

  it("records each HOWTO line's outcome from the step that declares it: verified, a recorded deviation, failed, not run", async () => {
    const steps: Step<HowtoState>[] = [
      { name: "one", title: "one", howto: ["xl-list", "makedev-xen"], snapshot: false, async run() {} },
      {
        name: "two",
        title: "two",
        howto: ["bootcfg-xen-menu", { id: "rcd-scripts", notExercised: "no rc.d here" }],
        snapshot: false,
        async run(state) {
          state.checks.push({ id: "bootcfg-xen-menu", status: "deviation", note: "serial console" });
        },
      },
      {
        name: "three",
        title: "three",
        howto: ["xl-create"],
        snapshot: false,
        async run() {
          throw new Error("xl create: no memory");
        },
      },
      { name: "four", title: "four", howto: ["xendomains"], snapshot: false, async run() {} },
    ];
    const r = await runnerWith(steps, dir);
    await r.prepare({});
    await assert.rejects(r.runTo(), StepFailedError);
    const byId = new Map(r.howtoOutcomes().map((o) => [o.id, o]));
    assert.equal(byId.size, HOWTO_LINE_IDS.length);
    assert.deepEqual(byId.get("xl-list"), { id: "xl-list", step: "one", status: "verified" });
    assert.deepEqual(byId.get("bootcfg-xen-menu"), {
      id: "bootcfg-xen-menu",
      step: "two",
      status: "deviation",
      note: "serial console",
    });
    assert.deepEqual(byId.get("rcd-scripts"), {
      id: "rcd-scripts",
      step: "two",
      status: "not-exercised",
      note: "no rc.d here",
    });
    assert.equal(byId.get("xl-create")?.status, "failed");
    assert.match(byId.get("xl-create")?.note ?? "", /^step three failed: .*no memory/);
    assert.deepEqual(byId.get("xendomains"), {
      id: "xendomains",
      step: "four",
      status: "not-exercised",
      note: "step four did not run",
    });
    // Undeclared by this box: not exercised, with the table's reason when it has one.
    assert.deepEqual(byId.get("xl-shutdown"), {
      id: "xl-shutdown",
      status: "not-exercised",
      note: "no step of test-box exercises it",
    });
    assert.match(byId.get("vif-bridge-script")?.note ?? "", /vif-bridge script/);
  });

  it("a step that records a HOWTO line it does not declare fails", async () => {
    const steps: Step<HowtoState>[] = [
      {
        name: "one",
        title: "one",
        howto: ["xl-list"],
        snapshot: false,
        async run(state) {
          state.checks.push({ id: "xl-create", status: "deviation", note: "elsewhere" });
        },
      },
    ];
    const r = await runnerWith(steps, dir);
    await r.prepare({});
    await assert.rejects(r.runTo(), /step one recorded HOWTO line\(s\) xl-create it does not declare/);
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

  it("the fingerprint names the Xen PKGNAMEs; a run that resolved them reuses only snapshots made with them", async () => {
    const r = await runnerWith(recordingSteps([]), dir);
    const before = r.fingerprint();
    const nb1 = ["xenkernel420-20250821nb1", "xentools420-20250821nb1"];
    const nb2 = ["xenkernel420-20250821nb2", "xentools420-20250821nb2"];
    assert.notEqual(r.fingerprint(nb1), r.fingerprint(nb2));
    assert.equal(r.fingerprint(undefined), before, "no PKGNAMEs known: the fingerprint it always had");
    const record = (step: string, xenPackages?: string[]) => ({
      step,
      bootMode: "disk",
      fingerprint: r.fingerprint(xenPackages),
      createdAt: "2026-01-01T00:00:00Z",
      ...(xenPackages ? { xenPackages } : {}),
    });
    await writeFile(
      path.join(dir, "snapshots.json"),
      JSON.stringify([record("install-os"), record("install-xen", nb1), record("boot-xen", nb2)]),
    );
    const steps = async () => (await r.matchingSnapshots()).map((s) => s.step);
    assert.deepEqual(
      await steps(),
      ["install-os", "install-xen", "boot-xen"],
      "nothing pinned: each its own",
    );
    r.state.ctx.xenPackages = nb1;
    assert.deepEqual(
      await steps(),
      ["install-os", "install-xen"],
      "pinned to nb1: nb2's snapshot is not reused",
    );
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
    assert.doesNotMatch(t.join("\n"), /xen packages/);
    assert.match(
      summaryTable(results, [], ["xenkernel420-20250821nb1", "xentools420-20250821nb1"]),
      /^domu .*\n\nxen packages: xenkernel420-20250821nb1 xentools420-20250821nb1\n$/m,
    );
  });

  it("HOWTO report: one row per table line in table order, with status, step and note", () => {
    const md = howtoReport(
      "netbsd-6.1.5",
      HOWTO_LINE_IDS.map((id) =>
        id === "bootcfg-xen-menu"
          ? { id, status: "deviation" as const, step: "boot-xen", note: "serial console | not VGA" }
          : { id, status: "not-exercised" as const, note: "n/a" },
      ),
    );
    const rows = md.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| id "));
    assert.deepEqual(
      rows.map((r) => r.split(" | ")[0]!.slice(2)),
      HOWTO_LINE_IDS,
    );
    assert.ok(
      rows.includes(
        "| bootcfg-xen-menu | Installation of Xen | `menu=Xen:load /netbsd-XEN3_DOM0.gz console=pc;multiboot /xen.gz dom0_mem=256M` | deviation | boot-xen | serial console \\| not VGA |",
      ),
      md,
    );
  });
});
