import path from "node:path";
import { ArtifactStore, LocalArtifactServer } from "../images/store/index.ts";
import type { Box, BoxContext, ResolvedConfig } from "./boxes/box.ts";
import { getBox } from "./boxes/registry.ts";
import { chooseAccelerator } from "./machine/accel.ts";
import { HowtoRunner } from "./steps/runner.ts";
import { writeRunReports } from "./steps/report.ts";
import { createReporter, type Reporter } from "./util/reporter.ts";

/** Where a box's machine keeps its state: one directory per box under the project's state dir. */
export function machineDirFor(config: ResolvedConfig, box: string): string {
  return path.join(config.stateDir, "machines", box);
}

/**
 * Everything one HOWTO run needs, opened together and closed together: the box, the artifact store and
 * its local server, the accelerator decision, the step runner. `await using` closes it.
 */
export class HowtoSession implements AsyncDisposable {
  private constructor(
    readonly box: Box,
    readonly ctx: BoxContext,
    readonly runner: HowtoRunner,
  ) {}

  static async open(config: ResolvedConfig, opts: { reporter?: Reporter } = {}): Promise<HowtoSession> {
    const reporter = opts.reporter ?? createReporter();
    const box = await getBox(config.box);
    const accel = await chooseAccelerator({
      qemuBinary: config.qemu.binary,
      override: config.qemu.accelerator,
      cpu: config.qemu.cpu,
    });
    reporter.info(`accelerator: ${accel.reason}; CPU model ${accel.cpu}`);
    reporter.info(`HVM domUs: ${accel.hvmCapable ? "possible" : "not possible"}: ${accel.hvmReason}`);
    const downloads = new Map<string, ReturnType<Reporter["progress"]>>();
    const store = new ArtifactStore({
      cacheDir: config.cacheDir,
      mirror: config.mirror,
      log: (l) => reporter.debug(l),
      onProgress: (p) => {
        let h = downloads.get(p.url);
        if (!h) downloads.set(p.url, (h = reporter.progress(`download ${p.name}`, p.totalBytes)));
        h.update(p.receivedBytes, p.totalBytes);
        if (p.totalBytes !== undefined && p.receivedBytes >= p.totalBytes) {
          h.done("downloaded");
          downloads.delete(p.url);
        }
      },
    });
    const server = await LocalArtifactServer.start();
    const ctx: BoxContext = {
      config,
      store,
      server,
      accel,
      reporter,
      machineDir: machineDirFor(config, box.name),
    };
    return new HowtoSession(box, ctx, new HowtoRunner(box, ctx));
  }

  async writeReports(): Promise<{ junit: string; summary: string; howto: string }> {
    const dir = path.join(this.ctx.config.stateDir, "reports", this.box.name);
    return writeRunReports(
      dir,
      this.box.name,
      this.runner.results,
      this.runner.state.checks,
      this.runner.notes,
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.runner.stopMachine();
    await this.ctx.server.close();
  }
}
