import { Command, CommanderError } from "commander";
import { loadConfig } from "../config/load.ts";
import type { ResolvedConfig } from "../boxes/box.ts";
import { InterruptedError } from "../../lib/abort.ts";
import { HarnessError, UsageError } from "../../lib/errors.ts";
import { createReporter } from "../../lib/reporter.ts";
import * as howtoVerbs from "./howto-verbs.ts";
import * as verbs from "./verbs.ts";

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

interface GlobalOptions {
  config?: string;
  box?: string;
  mirror?: string;
  verbose?: boolean;
}

async function resolveConfig(opts: GlobalOptions): Promise<ResolvedConfig> {
  const { config } = await loadConfig({ configPath: opts.config });
  return { ...config, box: opts.box ?? config.box, mirror: opts.mirror ?? config.mirror };
}

/**
 * Ctrl-C and SIGTERM. A verb that can wind down (up, exec) claims the signal: the first one aborts it,
 * through the runner and steps into every console wait, and it exits after writing its reports; a second
 * one exits at once. Any other verb exits at once. QEMU never outlives the process either way: the
 * machine supervisor stops it when its owner is gone.
 */
class Interrupts {
  readonly controller = new AbortController();
  claimed = false;
  private count = 0;
  private readonly handlers: [NodeJS.Signals, () => void][] = [];

  install(): void {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      const handler = () => this.on(signal);
      this.handlers.push([signal, handler]);
      process.on(signal, handler);
    }
  }

  uninstall(): void {
    for (const [signal, handler] of this.handlers.splice(0)) process.off(signal, handler);
  }

  private on(signal: NodeJS.Signals): void {
    const reason = new InterruptedError(signal);
    this.count++;
    if (!this.claimed || this.count > 1) {
      process.stderr.write(`\nnbxen: ${signal}: exiting now\n`);
      process.exit(reason.cliExitCode);
    }
    process.stderr.write(
      `\nnbxen: ${signal}: stopping; writing the reports (send it again to exit at once)\n`,
    );
    this.controller.abort(reason);
  }
}

function positiveSeconds(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || !(n > 0))
    throw new UsageError(`${flag} ${JSON.stringify(value)}: give a number of seconds greater than 0`);
  return n;
}

function program(setExit: (code: number) => void, interrupts: Interrupts): Command {
  const root = new Command("nbxen")
    .description(
      "Boot NetBSD/Xen (or a Debian reference box, debian-12 or debian-13) under QEMU and verify the NetBSD Xen HOWTO step by step.",
    )
    .option("-c, --config <path>", "configuration file (default: ./nbxen.config.json)")
    .option("-b, --box <name>", "box to use, overriding the configuration (see `nbxen box list`)")
    .option(
      "--mirror <dir-or-url>",
      "local copy of NetBSD's tree (a directory or URL) instead of NetBSD's mirrors",
    )
    .option("-v, --verbose", "print debug lines")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  const withConfig =
    <A extends unknown[]>(fn: (config: ResolvedConfig, g: GlobalOptions, ...args: A) => Promise<number>) =>
    async (...args: A) => {
      const g = root.opts<GlobalOptions>();
      setExit(await fn(await resolveConfig(g), g, ...args));
    };

  root
    .command("up")
    .description("build, install and boot the box, run the HOWTO steps, leave it running with its domUs up")
    .option(
      "--xen <xenkernelNNN>",
      "the pkgsrc Xen pair to install (xenkernelNNN with its xentoolsNNN), overriding xenPackage",
    )
    .option(
      "--xen-package <path...>",
      "install a locally built xenkernelNNN/xentoolsNNN pair (its .tgz files, or a directory of them) instead of the mirror's; dependencies still from the mirror",
    )
    .option("--from <step>", "start at this step, from the snapshot of the step before it")
    .option("--to <step>", "stop after this step")
    .option("--fresh", "ignore snapshots and start from the first step")
    .option("--keep-running", "leave the machine running even when the run fails or is interrupted")
    .option("--no-keep-running", "power the machine off at the end instead of leaving it running")
    .addHelpText(
      "after",
      "\nSteps end in snapshots; a re-run resumes after the last good one. By default the machine keeps\n" +
        "running after a successful run and is stopped after a failed or interrupted one.\n" +
        "Ctrl-C (or SIGTERM) stops the run: the step is marked interrupted and the reports are written.\n" +
        "Exit status: 0 all steps passed, 1 a step failed, 2 bad usage or config, 130 interrupted (143 SIGTERM).",
    )
    .action(
      withConfig((c, g, o: verbs.UpOptions) => {
        interrupts.claimed = true;
        return verbs.up(c, { ...o, verbose: g.verbose, signal: interrupts.controller.signal });
      }),
    );
  root
    .command("update-xen")
    .description(
      "update the dom0's Xen in place (the HOWTO's \"Updating Xen versions\"): the HOWTO steps as `up` runs them, then the new pair",
    )
    .requiredOption(
      "--to <xenkernelNNN|path...>",
      "a pair from the mirror by its kernel package (xenkernelNNN), or the files (or a directory) of a locally built xenkernelNNN/xentoolsNNN pair",
    )
    .option("--keep-running", "leave the machine running even when the update fails")
    .option("--no-keep-running", "power the machine off at the end")
    .addHelpText(
      "after",
      "\nThe run resumes from the last HOWTO snapshot (a dom0 with its autostart domUs running), then:\n" +
        "pkg_delete the installed xentoolsNNN/xenkernelNNN, pkg_add the new pair (a local pair's dependencies\n" +
        "come from the mirror), copy its xen.gz to /, refresh the rc.d scripts, check /boot.cfg, reboot; the\n" +
        'new Xen must run and the autostart domUs must be back. The HOWTO\'s section says only "TODO: write":\n' +
        "the report marks the line as going beyond the HOWTO. Exit status as for `up`.",
    )
    .action(
      withConfig((c, g, o: { to: string[]; keepRunning?: boolean }) => {
        interrupts.claimed = true;
        return verbs.up(c, {
          updateXenTo: o.to,
          ...(o.keepRunning !== undefined ? { keepRunning: o.keepRunning } : {}),
          verbose: g.verbose,
          signal: interrupts.controller.signal,
        });
      }),
    );
  root
    .command("status")
    .description("show whether the box's machine runs, its snapshots and last run")
    .action(withConfig((c) => verbs.status(c)));
  root
    .command("halt")
    .description("power the machine off (ACPI, then forced after a timeout)")
    .action(withConfig((c) => verbs.halt(c)));
  root
    .command("destroy")
    .description("stop the machine and delete its disks, snapshots and state (the artifact cache is kept)")
    .action(withConfig((c) => verbs.destroy(c)));
  root
    .command("console")
    .description("attach to the serial console; detach with Ctrl-] (like `xl console`)")
    .action(withConfig((c) => verbs.consoleAttach(c)));
  root
    .command("exec")
    .description("run a shell command in the guest as root; prints its output and exits with its status")
    .argument("<command...>", "the command (quote it to keep it one argument)")
    .option("-t, --timeout <seconds>", "time allowed for the command", "600")
    .action(
      withConfig((c, _g, cmd: string[], o: { timeout: string }) => {
        const seconds = positiveSeconds(o.timeout, "--timeout");
        interrupts.claimed = true;
        return verbs.exec(c, cmd.join(" "), seconds, interrupts.controller.signal);
      }),
    );

  const snap = root
    .command("snapshot")
    .description("VM snapshots of the machine's disk (one per passed step, and your own)");
  snap
    .command("list")
    .description("list snapshots")
    .action(withConfig((c) => verbs.snapshotList(c)));
  snap
    .command("save")
    .argument("<name>")
    .description("save the running machine as a snapshot")
    .action(withConfig((c, _g, n: string) => verbs.snapshotSave(c, n)));
  snap
    .command("restore")
    .argument("<name>")
    .description("restore a snapshot into the running machine")
    .action(withConfig((c, _g, n: string) => verbs.snapshotRestore(c, n)));

  const box = root.command("box").description("boxes and the artifact cache");
  box
    .command("list")
    .description("known boxes and what of each is cached")
    .action(withConfig((c) => verbs.boxList(c)));
  box
    .command("fetch")
    .argument("<name>")
    .description("download (and build) a box's artifacts into the cache")
    .action(withConfig((c, _g, n: string) => verbs.boxFetch(c, n)));
  box
    .command("verify")
    .description("re-check every cached file against its checksum")
    .action(withConfig((c) => verbs.boxVerify(c)));
  box
    .command("remove")
    .argument("<name>")
    .description("remove a box's files from the cache")
    .action(withConfig((c, _g, n: string) => verbs.boxRemove(c, n)));

  const runs = root
    .command("runs")
    .description("the recorded runs (every `up` and HOWTO spec run leaves one under <state>/runs)")
    .addHelpText("after", "\nEvery box's runs; --box NAME keeps one box's.")
    .action(withConfig((c, g) => verbs.runsList(c, g.box)));
  runs
    .command("record <reportDir>")
    .description(
      "record a box's report directory (<state>/reports/<box>) as a run; the specs script does this",
    )
    .action(async (dir: string) => setExit(await verbs.runsRecord(dir)));
  root
    .command("report [run]")
    .description("compare two runs case by case, with OSSTest-style verdicts")
    .option(
      "--compare <runs...>",
      "A B: the baseline run A and run B (ids from `nbxen runs`, or directories)",
    )
    .option(
      "--baseline <dir>",
      "a baseline run (id or directory, e.g. a CI artifact) for RUN (default: the box's latest)",
    )
    .option("--format <format>", "text, markdown or junit", "text")
    .option("--output <file>", "write the comparison to this file instead of standard output")
    .addHelpText(
      "after",
      "\nVerdicts: pass; fail, regression (passed in the baseline); fail, like baseline; never passed;\n" +
        "broken (the harness or host failed: QEMU, the cache, a mirror, an interruption); pending; gone.\n" +
        "Exit status: 0 no regression and nothing broken, 1 otherwise, 2 bad usage.",
    )
    .action(
      withConfig((c, _g, run: string | undefined, o: verbs.ReportOptions) => verbs.reportCompare(c, o, run)),
    );
  const howto = root
    .command("howto")
    .description("the HOWTO's lines (harness/howto/lines.ts): coverage of a HOWTO text, boxes side by side");
  howto
    .command("coverage")
    .argument("<file-or-url>", "a HOWTO revision: wiki markdown, or the side-by-side text of two revisions")
    .description(
      "list every command and config block of a HOWTO text as verified / deviation / not exercised for a box",
    )
    .option(
      "--revision <old|new>",
      "which revision of a side-by-side text (default new); labels a markdown text",
    )
    .addHelpText(
      "after",
      "\nThe box is --box (before or after the verb) or the configured one. Statuses come from the box's step\n" +
        "declarations, what a run that passes would report (`nbxen howto table` shows recorded runs).\n" +
        "Also lists the table lines the text has outside blocks, and those it does not have.\n" +
        "Exit status: 0 every block maps to a table line and the table's revisions agree with the text;\n" +
        "1 a block maps to no table line, or the text has a line in a revision the table does not list for it\n" +
        "(or, from a side-by-side text, only one revision has a line the table gives to both); 2 bad usage or\n" +
        "an unreadable file or URL.",
    )
    .action(
      withConfig((c, _g, src: string, o: howtoVerbs.CoverageOptions) =>
        howtoVerbs.howtoCoverageVerb(c, src, o),
      ),
    );
  howto
    .command("table")
    .argument("[boxes...]", "boxes to put side by side (default: every box)")
    .description("one markdown table, a row per HOWTO line and a column per box, from each box's latest run")
    .option("--output <file>", "write the table to this file instead of standard output")
    .addHelpText(
      "after",
      "\nEach box's column comes from its newest recorded run with a howto.json (`nbxen runs`), else its\n" +
        "report directory; a box never run shows what its steps declare, and says so in its heading.",
    )
    .action(
      withConfig((c, _g, boxes: string[], o: howtoVerbs.TableOptions) =>
        howtoVerbs.howtoTableVerb(c, boxes, o),
      ),
    );
  root
    .command("doctor")
    .description("check the host: QEMU, accelerator (and why), nested virtualization, disk, cache")
    .action(withConfig((c) => verbs.doctorVerb(c)));
  return root;
}

/** Runs the CLI; returns the exit status (0 ok, 1 a step or spec failed, 2 bad usage or config). */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const interrupts = new Interrupts();
  const root = program((c) => (exitCode = c), interrupts);
  interrupts.install();
  try {
    await root.parseAsync(argv);
    return afterInterrupt(exitCode);
  } catch (error) {
    if (error instanceof InterruptedError) {
      createReporter().info(`nbxen: ${error.message}`);
      return afterInterrupt(error.cliExitCode);
    }
    if (error instanceof CommanderError) {
      // `nbxen box` without a subcommand prints the help as an error (exit code 1): bad usage.
      if (
        (error.code === "commander.helpDisplayed" ||
          error.code === "commander.version" ||
          error.code === "commander.help") &&
        error.exitCode === 0
      )
        return 0;
      return EXIT.usage;
    }
    const reporter = createReporter();
    if (error instanceof UsageError) {
      reporter.info(`nbxen: ${error.message}`);
      return EXIT.usage;
    }
    if (error instanceof HarnessError) {
      reporter.info(`nbxen: ${error.message}`);
      return error.cliExitCode;
    }
    reporter.info(
      `nbxen: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    return EXIT.failed;
  } finally {
    interrupts.uninstall();
  }

  /**
   * After an interrupt the reports are written and the machine stopped, but work that does not watch the
   * signal (a download on a stalled connection) may still hold the event loop: exit shortly regardless.
   */
  function afterInterrupt(code: number): number {
    if (interrupts.controller.signal.aborted) setTimeout(() => process.exit(code), 1000).unref();
    return code;
  }
}
