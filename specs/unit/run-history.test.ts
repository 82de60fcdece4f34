import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile, mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  caseKey,
  compareRuns,
  comparisonFails,
  formatComparison,
  listRuns,
  loadRun,
  recordRun,
  verdict,
  writeMeta,
  xenOf,
  type RunRecord,
} from "../../harness/report/history.ts";
import { readJunit, type CaseResult } from "../../harness/report/junit-read.ts";
import { junitXml } from "../../harness/steps/report.ts";

const pass = (id: string): CaseResult => ({ id, status: "passed", seconds: 1 });
const fail = (id: string, message = "AssertionError: expected 4.17"): CaseResult => ({
  id,
  status: "failed",
  seconds: 1,
  message,
});

function run(id: string, specs: CaseResult[], steps: CaseResult[] = []): RunRecord {
  return {
    id,
    dir: `/runs/${id}`,
    meta: { box: "netbsd-10.1", createdAt: "2026-12-03T06:00:00.000Z", harness: { version: "0.1.0" } },
    steps,
    specs,
  };
}

describe("run history: verdicts (OSSTest style)", () => {
  it("gives each verdict from a case and its baseline", () => {
    assert.equal(verdict(pass("a"), fail("a")), "pass");
    assert.equal(verdict(fail("a"), pass("a")), "fail, regression");
    assert.equal(verdict(fail("a"), fail("a")), "fail, like baseline");
    assert.equal(verdict(fail("a"), undefined), "never passed");
    assert.equal(verdict(fail("a"), { id: "a", status: "skipped", seconds: 0 }), "never passed");
    assert.equal(verdict({ id: "a", status: "skipped", seconds: 0 }, pass("a")), "pending");
    assert.equal(verdict(undefined, pass("a")), "gone");
  });

  it("calls host and harness failures broken, whatever the baseline", () => {
    for (const m of [
      "MachineStartError: QEMU exited at start (qemu-system-x86_64)",
      "step install-xen failed: QEMU (pid 12) was killed by SIGKILL",
      "CacheFullError: the cache's file system is full (ENOSPC)",
      "no place could serve NetBSD-9.4/amd64/binary/sets/base.tar.xz",
    ])
      assert.equal(verdict(fail("a", m), pass("a")), "broken", m);
    assert.equal(
      verdict({ id: "a", status: "error", seconds: 0, message: "interrupted by SIGINT" }, pass("a")),
      "broken",
    );
  });

  it("compares two runs: renamed and missing specs show as gone and never passed; regressions fail CI", () => {
    const a = run(
      "A",
      [pass("xl :: lists dom0"), pass("xl :: old name"), fail("domu :: pings")],
      [pass("step :: install-os")],
    );
    const b = run(
      "B",
      [fail("xl :: lists dom0"), pass("xl :: new name"), fail("domu :: pings")],
      [pass("step :: install-os")],
    );
    const rows = compareRuns(a, b);
    const by = Object.fromEntries(rows.map((r) => [`${r.kind}:${r.id}`, r.verdict]));
    assert.deepEqual(by, {
      "step:step :: install-os": "pass",
      "spec:xl :: lists dom0": "fail, regression",
      "spec:xl :: new name": "pass",
      "spec:domu :: pings": "fail, like baseline",
      "spec:xl :: old name": "gone",
    });
    assert.equal(comparisonFails(rows), true);
    assert.equal(comparisonFails(compareRuns(a, a)), false);
    const text = formatComparison(a, b, rows, "text");
    assert.match(text, /^baseline: A \(netbsd-10\.1/);
    assert.match(text, /fail, regression\s+spec xl :: lists dom0\s+AssertionError: expected 4\.17/);
    assert.match(text, /verdicts: 2 pass, 1 fail, regression, 1 fail, like baseline, 1 gone\n$/);
    const md = formatComparison(a, b, rows, "markdown");
    assert.match(md, /\| spec \| xl :: lists dom0 \| fail, regression \| failed \| passed \|/);
    const junit = readJunit(formatComparison(a, b, rows, "junit"));
    assert.equal(junit.find((c) => c.id.endsWith("xl :: lists dom0"))?.status, "failed");
    assert.equal(junit.find((c) => c.id.endsWith("domu :: pings"))?.status, "skipped");
  });
});

describe("run history: two boxes' runs (debian-12 against debian-13)", () => {
  const stepCases = (box: string, major: number, failed?: string) =>
    readJunit(
      junitXml(`nbxen ${box} steps`, [
        { step: "install-os", title: `Install the OS (Debian ${major})`, status: "passed", seconds: 9 },
        { step: "install-xen", title: "Install Xen", status: "passed", seconds: 9 },
        failed
          ? { step: "boot-xen", title: "Boot Xen", status: "failed", seconds: 9, error: failed }
          : { step: "boot-xen", title: "Boot Xen", status: "passed", seconds: 9 },
      ]),
    );
  const debianRun = (box: string, major: number, xen: string, specs: CaseResult[], failed?: string) => ({
    id: `${box}-20261204T180000-abcd`,
    dir: `/runs/${box}`,
    meta: {
      box,
      createdAt: "2026-12-04T18:00:00.000Z",
      harness: { version: "0.1.0" },
      accelerator: "tcg -cpu qemu64",
      xenPackages: [`xen-system-amd64=${xen}`, `xen-hypervisor-${xen.slice(0, 4)}-amd64=${xen}`],
    },
    steps: stepCases(box, major, failed),
    specs,
  });

  it("matches steps by name across boxes and says both boxes and their Xen in the header", () => {
    const a = debianRun("debian-12", 12, "4.17.7+13-g2445b30a44-0+deb12u1", [pass("xl :: lists dom0")]);
    const b = debianRun("debian-13", 13, "4.20.4+63-g7abfd2bce2-0+deb13u1", [fail("xl :: lists dom0")], "x");
    const rows = compareRuns(a, b);
    assert.deepEqual(
      rows.map((r) => [r.kind, r.id.replace(/:.*/, ""), r.verdict]),
      [
        ["step", "nbxen debian-13 steps ", "pass"],
        ["step", "nbxen debian-13 steps ", "pass"],
        ["step", "nbxen debian-13 steps ", "fail, regression"],
        ["spec", "xl ", "fail, regression"],
      ],
    );
    const text = formatComparison(a, b, rows, "text");
    assert.match(text, /^baseline: debian-12-\S+ \(debian-12, .*xen-hypervisor-4\.17-amd64=4\.17\.7\+13/);
    assert.match(text, /\nthis run: debian-13-\S+ \(debian-13, .*xen-hypervisor-4\.20-amd64=4\.20\.4\+63/);
    assert.match(
      text,
      /\nboxes: +debian-12 \(xen-hypervisor-4\.17-amd64=4\.17\.7\+13-g2445b30a44-0\+deb12u1\) -> debian-13 \(xen-hypervisor-4\.20-amd64=4\.20\.4\+63-g7abfd2bce2-0\+deb13u1\)/,
    );
    assert.match(formatComparison(a, b, rows, "markdown"), /^# nbxen: debian-13 against debian-12\n/);
    assert.doesNotMatch(formatComparison(a, a, compareRuns(a, a), "text"), /boxes:/);
  });

  it("keys a step on its name, whatever its box and title", () => {
    assert.equal(caseKey("step", "nbxen debian-12 steps :: install-os: Install (Debian 12)"), "install-os");
    assert.equal(caseKey("step", "nbxen netbsd-10.1 steps :: boot-xen: Boot: Xen"), "boot-xen");
    assert.equal(caseKey("spec", "HOWTO: Booting Xen :: version"), "HOWTO: Booting Xen :: version");
    assert.equal(xenOf({ box: "b", createdAt: "", harness: { version: "0" } }), undefined);
    assert.equal(
      xenOf({
        box: "netbsd-10.1",
        createdAt: "",
        harness: { version: "0" },
        xenPackages: ["xenkernel420-20250821nb1", "xentools420-20250821nb1"],
      }),
      "xenkernel420-20250821nb1",
    );
  });
});

describe("run history: records", () => {
  let state: string;
  beforeEach(async () => (state = await mkdtemp(path.join(os.tmpdir(), "nbxen-runs-"))));
  afterEach(() => rm(state, { recursive: true, force: true }));

  it("reads the steps JUnit the runner writes and mocha's xunit", () => {
    const steps = readJunit(
      junitXml("nbxen b steps", [
        { step: "install-os", title: "Install", status: "passed", seconds: 2 },
        { step: "install-xen", title: "Xen", status: "failed", seconds: 1, error: "QEMU exited\nmore" },
        { step: "boot-xen", title: "Boot", status: "not-run", seconds: 0 },
        { step: "x", title: "X", status: "interrupted", seconds: 0, error: "interrupted by SIGINT" },
      ]),
    );
    assert.deepEqual(
      steps.map((c) => [c.id, c.status, c.message]),
      [
        ["nbxen b steps :: install-os: Install", "passed", undefined],
        ["nbxen b steps :: install-xen: Xen", "failed", "QEMU exited"],
        [
          "nbxen b steps :: boot-xen: Boot",
          "skipped",
          "not run: an earlier step failed or the run stopped before it",
        ],
        ["nbxen b steps :: x: X", "error", "interrupted by SIGINT"],
      ],
    );
    const mocha = readJunit(
      `<testsuite name="s" tests="2"><testcase classname="HOWTO: Booting Xen" name="xl info" time="0.5"/>` +
        `<testcase classname="HOWTO: HVM" name="the dom0&#x27;s &amp; hvm" time="0"><skipped/></testcase>` +
        `<testcase classname="HOWTO: Booting Xen" name="version" time="1"><failure>AssertionError [ERR_ASSERTION]: 4.18 !== 4.17\n  at x</failure></testcase></testsuite>`,
    );
    assert.deepEqual(
      mocha.map((c) => [c.id, c.status, c.message]),
      [
        ["HOWTO: Booting Xen :: xl info", "passed", undefined],
        ["HOWTO: HVM :: the dom0's & hvm", "skipped", undefined],
        ["HOWTO: Booting Xen :: version", "failed", "AssertionError [ERR_ASSERTION]: 4.18 !== 4.17"],
      ],
    );
  });

  it("records a report directory under <state>/runs atomically, lists and loads it; refuses a directory without run.json", async () => {
    const reports = path.join(state, "reports", "debian-12");
    await writeMeta(reports, {
      box: "debian-12",
      createdAt: "2026-12-03T06:00:00.000Z",
      harness: { version: "0.1.0", commit: "abc1234" },
      xenPackages: ["xen-hypervisor-4.17-amd64"],
    });
    await writeFile(
      path.join(reports, "steps.junit.xml"),
      junitXml("s", [{ step: "a", title: "A", status: "passed", seconds: 1 }]),
    );
    await writeFile(
      path.join(reports, "specs.junit.xml"),
      `<testsuite><testcase classname="c" name="n"/></testsuite>`,
    );
    const withSpecs = await recordRun(reports);
    const stepsOnly = await recordRun(reports, { withSpecs: false });
    assert.equal(withSpecs.specs.length, 1);
    assert.equal(stepsOnly.specs.length, 0, "an up's record leaves out an earlier spec run's results");
    assert.equal(withSpecs.steps.length, 1);
    const names = await readdir(path.join(state, "runs"));
    assert.equal(names.length, 2);
    assert.ok(
      names.every((n) => /^debian-12-20261203T060000-[0-9a-f]{4}$/.test(n)),
      names.join(" "),
    );
    assert.equal((await listRuns(state, "debian-12")).length, 2);
    assert.equal((await listRuns(state, "netbsd-10.1")).length, 0);
    assert.equal((await loadRun(withSpecs.id, state)).meta.harness.commit, "abc1234");
    const empty = path.join(state, "empty");
    await mkdir(empty);
    await assert.rejects(loadRun(empty, state), /has no run\.json/);
    await assert.rejects(loadRun("no-such-run", state), /no run no-such-run/);
  });
});
