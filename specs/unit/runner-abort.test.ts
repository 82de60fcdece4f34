import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Box, BoxContext, HowtoState } from "../../harness/boxes/box.ts";
import { Console, spawnPtyStream } from "../../harness/console/index.ts";
import { GuestShell } from "../../harness/console/shell.ts";
import { writeRunReports } from "../../harness/steps/report.ts";
import {
  HowtoRunner,
  StepFailedError,
  StepInterruptedError,
  StepTimeoutError,
} from "../../harness/steps/runner.ts";
import type { Step } from "../../harness/steps/step.ts";
import { validateConfig } from "../../harness/config/load.ts";
import { InterruptedError } from "../../lib/abort.ts";
import { memoryReporter } from "../../lib/reporter.ts";

const forever = () => new Promise<void>(() => {});

function runnerWith(steps: Step<HowtoState>[], dir: string, signal?: AbortSignal): HowtoRunner {
  const box = { name: "test-box", description: "", steps: () => steps } as unknown as Box;
  const config = { ...validateConfig({ box: "test-box" }, "x.json"), cacheDir: dir, stateDir: dir };
  const ctx = {
    config,
    reporter: memoryReporter(),
    machineDir: dir,
    accel: { accelerator: "tcg", cpu: "qemu64", reason: "", hvmCapable: false, hvmReason: "" },
    ...(signal ? { signal } : {}),
  } as unknown as BoxContext;
  return new HowtoRunner(box, ctx);
}

function step(name: string, run: () => Promise<void>, timeoutMs?: number): Step<HowtoState> {
  return {
    name,
    title: `step ${name}`,
    howto: [],
    snapshot: false,
    run,
    ...(timeoutMs ? { timeoutMs } : {}),
  };
}

describe("interrupting a run (abort signal) and step time bounds", () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-abort-"))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("SIGINT during a step: that step is 'interrupted', the later ones 'not-run', the reports say so", async () => {
    const ctl = new AbortController();
    const r = runnerWith(
      [step("one", async () => {}), step("two", forever), step("three", async () => {})],
      dir,
      ctl.signal,
    );
    await r.prepare({});
    const t0 = Date.now();
    setTimeout(() => ctl.abort(new InterruptedError("SIGINT")), 100);
    await assert.rejects(r.runTo(), (e: Error) => {
      assert.ok(e instanceof StepInterruptedError, String(e));
      assert.equal(e.step, "two");
      assert.equal(e.cliExitCode, 130);
      return true;
    });
    assert.ok(Date.now() - t0 < 2000, "the interrupt ends the step at once");
    assert.deepEqual(
      r.results.map((x) => x.status),
      ["passed", "interrupted", "not-run"],
    );
    const files = await writeRunReports(path.join(dir, "reports"), "test-box", r.results, []);
    assert.match(await readFile(files.summary, "utf8"), /^two\s+interrupted\s/m);
    assert.match(
      await readFile(files.junit, "utf8"),
      /<error type="interrupted" message="interrupted by SIGINT after [\d.]+s">/,
    );
  });

  it("SIGTERM exits with 143", () => {
    assert.equal(new InterruptedError("SIGTERM").cliExitCode, 143);
  });

  it("a step past its time bound fails with StepTimeoutError within the bound", async () => {
    const r = runnerWith([step("slow", forever, 300)], dir);
    await r.prepare({});
    const t0 = Date.now();
    await assert.rejects(r.runTo(), (e: Error) => {
      assert.ok(e instanceof StepFailedError, String(e));
      assert.ok(e.cause instanceof StepTimeoutError);
      assert.match(e.message, /did not finish within its bound of 0\.3s/);
      return true;
    });
    const took = Date.now() - t0;
    assert.ok(took >= 290 && took < 1500, `took ${took} ms`);
    assert.equal(r.results[0]!.status, "failed");
  });
});

describe("the abort signal in expect() and exec()", () => {
  it("a pending expect and a shell exec end at once with the signal's reason", async () => {
    const { stream } = spawnPtyStream("/bin/sh", [], { env: { ...process.env, PS1: "$ " } });
    const ctl = new AbortController();
    const consoleObj = new Console(stream, { name: "sh", signal: ctl.signal });
    try {
      const shell = await GuestShell.attach(consoleObj, { timeoutMs: 10_000 });
      assert.equal((await shell.exec("echo hi")).output, "hi\n");
      const perCall = new AbortController();
      const t0 = Date.now();
      const pending = shell.exec("sleep 30", { timeoutMs: 60_000, signal: perCall.signal });
      setTimeout(() => perCall.abort(new InterruptedError("SIGINT")), 200);
      await assert.rejects(pending, (e: Error) => e instanceof InterruptedError);
      assert.ok(Date.now() - t0 < 3000);
      // The console-wide signal (what Machine.start binds to the run's signal) ends every later wait.
      ctl.abort(new InterruptedError("SIGTERM"));
      await assert.rejects(
        consoleObj.expect("never", { timeoutMs: 60_000 }),
        (e: Error) => e instanceof InterruptedError && e.signalName === "SIGTERM",
      );
    } finally {
      consoleObj.close();
      stream.close();
    }
  });
});
