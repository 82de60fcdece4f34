import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CommandFailedError,
  Console,
  ConsoleClosedError,
  ExpectTimeoutError,
  GarbledCommandError,
  GuestShell,
  spawnPtyStream,
} from "../../harness/console/index.ts";
import type { ConsoleStream } from "../../harness/console/index.ts";

interface Session {
  stream: ConsoleStream;
  exited: Promise<number>;
  console: Console;
  shell: GuestShell;
}

async function startShell(
  argv: string[],
  cwd: string,
  opts: { keyDelayMs?: number; maxTypedBytes?: number } = {},
): Promise<Session> {
  const [file, ...args] = argv;
  const { stream, exited } = spawnPtyStream(file!, args, {
    cwd,
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: cwd, TERM: "xterm", PS1: "$ " },
  });
  const console = new Console(stream, { name: argv.join(" ") });
  await console.expect("$ ", { timeoutMs: 10000, description: "the shell's first prompt" });
  const shell = await GuestShell.attach(console, { timeoutMs: 10000, ...opts });
  return { stream, exited, console, shell };
}

function stopShell(s: Session | undefined): void {
  if (!s) return;
  s.console.close();
  s.stream.close();
}

/** What exec returns for bytes a command writes: the tty maps LF to CRLF, exec maps CRLF back to LF. */
function throughTty(bytes: Buffer): string {
  const onlcr = Buffer.from([...bytes].flatMap((b) => (b === 0x0a ? [0x0d, 0x0a] : [b])));
  return onlcr.toString("utf8").replace(/\r\n/g, "\n");
}

/** Deterministic pseudo-random bytes (every value, including NUL, ESC, CR, LF and invalid UTF-8). */
function noise(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const SHELLS: Array<{ name: string; argv: string[] }> = [
  { name: "/bin/sh (dash)", argv: ["/bin/sh"] },
  { name: "busybox sh", argv: ["/bin/busybox", "sh"] },
];

for (const { name, argv } of SHELLS) {
  describe(`GuestShell on ${name}`, function () {
    this.timeout(30000);
    let dir: string;
    let s: Session;
    let sh: GuestShell;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "nbx-shell-"));
      s = await startShell(argv, dir);
      sh = s.shell;
    });
    after(async () => {
      stopShell(s);
      await rm(dir, { recursive: true, force: true });
    });

    it("sets a unique prompt and runs a command", async () => {
      assert.match(sh.prompt, /^nbx-[0-9a-f]{12}# $/);
      assert.deepEqual(await sh.exec("echo hello"), { exitCode: 0, output: "hello\n" });
    });

    it("returns output that does not end in a newline, and empty output", async () => {
      assert.deepEqual(await sh.exec("printf abc"), { exitCode: 0, output: "abc" });
      assert.deepEqual(await sh.exec("true"), { exitCode: 0, output: "" });
      assert.deepEqual(await sh.exec(""), { exitCode: 0, output: "" });
    });

    it("returns multi-line output exactly, blank lines included", async () => {
      const r = await sh.exec("printf 'one\\ntwo\\n\\nthree\\n\\n'");
      assert.deepEqual(r, { exitCode: 0, output: "one\ntwo\n\nthree\n\n" });
    });

    it("reports exit codes other than 0, and stderr is part of the output", async () => {
      assert.deepEqual(await sh.exec("false"), { exitCode: 1, output: "" });
      assert.deepEqual(await sh.exec("sh -c 'exit 42'"), { exitCode: 42, output: "" });
      assert.deepEqual(await sh.exec("echo oops >&2; (exit 3)"), { exitCode: 3, output: "oops\n" });
      assert.deepEqual(await sh.exec("no-such-command-nbx 2>/dev/null"), { exitCode: 127, output: "" });
    });

    it("is not fooled by output that looks like its markers or its prompt", async () => {
      const r = await sh.exec(
        "echo 'NBXE0123456789ab=0='; printf '%s\\n' 'NBXB''0123456789ab'; echo \"$PS1\"; printf 'NBXE=1=\\n'",
      );
      assert.deepEqual(r, {
        exitCode: 0,
        output: `NBXE0123456789ab=0=\nNBXB0123456789ab\n${sh.prompt}\nNBXE=1=\n`,
      });
    });

    it("returns a 10000-character line", async () => {
      const r = await sh.exec("head -c 10000 /dev/zero | tr '\\0' x; echo; echo tail");
      assert.deepEqual(r, { exitCode: 0, output: "x".repeat(10000) + "\ntail\n" });
      const r2 = await sh.exec("head -c 10000 /dev/zero | tr '\\0' y");
      assert.deepEqual(r2, { exitCode: 0, output: "y".repeat(10000) });
    });

    it("survives binary noise and returns binary output as the tty delivered it", async () => {
      const r = await sh.exec("head -c 3000 /dev/urandom");
      assert.equal(r.exitCode, 0);
      assert.ok(r.output.length > 0);
      assert.deepEqual(await sh.exec("echo still here"), { exitCode: 0, output: "still here\n" });

      const bytes = noise(3000, 0x5eed);
      await writeFile(join(dir, "noise.bin"), bytes);
      const r2 = await sh.exec("cat noise.bin");
      assert.equal(r2.exitCode, 0);
      assert.equal(r2.output, throughTty(bytes));
      assert.deepEqual(await sh.exec("echo after noise"), { exitCode: 0, output: "after noise\n" });
    });

    it("maps the tty's CRLF back to LF but keeps a CR the command printed", async () => {
      assert.deepEqual(await sh.exec("printf 'a\\r\\nb\\rc\\n'"), { exitCode: 0, output: "a\r\nb\rc\n" });
    });

    it("runs multi-line commands, here-documents and commands ending in a comment", async () => {
      const heredoc = await sh.exec("cat <<'EOF'\nline 1\n  $HOME 'quoted'\nEOF\necho second command");
      assert.deepEqual(heredoc, { exitCode: 0, output: "line 1\n  $HOME 'quoted'\nsecond command\n" });
      assert.deepEqual(await sh.exec("echo hi # a comment; echo not run"), { exitCode: 0, output: "hi\n" });
      const loop = await sh.exec('for i in 1 2 3; do\n  echo "n=$i"\ndone');
      assert.deepEqual(loop, { exitCode: 0, output: "n=1\nn=2\nn=3\n" });
    });

    it("keeps shell state between commands", async () => {
      await sh.run("cd /tmp && NBX_VAR=kept");
      assert.equal(await sh.run('pwd; echo "$NBX_VAR"'), "/tmp\nkept\n");
      await sh.run(`cd ${dir}`);
    });

    it("runs commands longer than a tty line through a shell variable", async () => {
      const arg = 'it\'s "long" $x `y` \\ '.repeat(200);
      const r = await sh.exec(`printf '%s' '${arg.replace(/'/g, "'\\''")}' | wc -c; (exit 6)`);
      assert.equal(r.exitCode, 6);
      assert.equal(r.output.trim(), String(Buffer.byteLength(arg)));
    });

    it("lets a command read the terminal: input is typed once it has started", async () => {
      const r = await sh.exec('read line; echo "got:$line"', { input: "typed text\r" });
      assert.deepEqual(r, { exitCode: 0, output: "typed text\ngot:typed text\n" });
    });

    it("resyncs after a command that waited for input timed out", async () => {
      await assert.rejects(sh.exec("cat", { timeoutMs: 500 }), ExpectTimeoutError);
      assert.deepEqual(await sh.exec("echo resynced"), { exitCode: 0, output: "resynced\n" });
    });

    it("resyncs after a command left the shell waiting for a closing quote", async () => {
      await assert.rejects(sh.exec("echo 'unterminated", { timeoutMs: 500 }), ExpectTimeoutError);
      assert.deepEqual(await sh.exec("echo fine"), { exitCode: 0, output: "fine\n" });
    });

    it("runs concurrent exec calls one after the other", async () => {
      const results = await Promise.all([sh.exec("echo one"), sh.exec("echo two"), sh.exec("echo three")]);
      assert.deepEqual(
        results.map((r) => r.output),
        ["one\n", "two\n", "three\n"],
      );
    });

    it("run() returns the output or throws CommandFailedError", async () => {
      assert.equal(await sh.run("echo ok"), "ok\n");
      const err = await sh.run("echo before failing; (exit 9)").then(
        () => assert.fail("run should have thrown"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof CommandFailedError);
      assert.equal(err.command, "echo before failing; (exit 9)");
      assert.equal(err.exitCode, 9);
      assert.equal(err.output, "before failing\n");
      assert.equal(err.cliExitCode, 1);
    });
  });
}

describe("GuestShell, other situations", function () {
  this.timeout(30000);
  let dir: string;
  let s: Session | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "nbx-shell-"));
  });
  afterEach(() => {
    stopShell(s);
    s = undefined;
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("types with a delay between keys when asked", async () => {
    s = await startShell(["/bin/sh"], dir, { keyDelayMs: 2 });
    assert.deepEqual(await s.shell.exec("echo typed slowly"), { exitCode: 0, output: "typed slowly\n" });
  });

  it("stages long commands with a small maxTypedBytes (busybox)", async () => {
    s = await startShell(["/bin/busybox", "sh"], dir, { maxTypedBytes: 120 });
    const r = await s.shell.exec(`echo ${"word ".repeat(60)}| wc -w`);
    assert.deepEqual(r, { exitCode: 0, output: "60\n" });
  });

  it("fails at once with GarbledCommandError when the shell ran something other than the typed line", async () => {
    s = await startShell(["/bin/sh"], dir);
    // Closes the harness's brace group early: the end marker's line becomes a syntax error, as when a
    // console drops characters of it, and the prompt comes back without the marker.
    const started = Date.now();
    await assert.rejects(s.shell.exec(":; }; :", { timeoutMs: 20_000 }), GarbledCommandError);
    assert.ok(Date.now() - started < 5000, "did not wait for the timeout");
    assert.deepEqual(await s.shell.exec("echo still usable"), { exitCode: 0, output: "still usable\n" });
  });

  it("fails with ConsoleClosedError when the command ends the shell", async () => {
    s = await startShell(["/bin/busybox", "sh"], dir);
    await assert.rejects(s.shell.exec("exit 4"), ConsoleClosedError);
    assert.equal(await s.exited, 4);
  });
});

const RELAY = resolve(fileURLToPath(import.meta.url), "../../doubles/xen-serial-ring/relay.ts");
const TSX_LOADER = resolve(fileURLToPath(import.meta.url), "../../../node_modules/tsx/dist/loader.mjs");

describe("GuestShell behind Xen's serial input ring (TEST DOUBLE: specs/doubles/xen-serial-ring)", function () {
  this.timeout(60000);
  let dir: string;
  let s: Session | undefined;
  const behindRing = (opts: { maxTypedBytes?: number } = {}) =>
    startShell([process.execPath, "--import", TSX_LOADER, RELAY, "/bin/sh"], dir, opts);
  const longCommand = `echo ${"word ".repeat(60)}| wc -w`;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "nbx-ring-"));
  });
  afterEach(() => {
    stopShell(s);
    s = undefined;
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("the double loses what overflows the ring: a 330-byte line typed at once never runs", async () => {
    s = await behindRing();
    await assert.rejects(s.shell.exec(longCommand, { timeoutMs: 4000 }), ExpectTimeoutError);
  });

  it("typed in pieces below the ring, long and multi-line commands run exactly; CR CR LF line ends read right", async () => {
    s = await behindRing({ maxTypedBytes: 112 });
    assert.deepEqual(await s.shell.exec(longCommand), { exitCode: 0, output: "60\n" });
    const lines = Array.from({ length: 30 }, (_, i) => `echo "line ${i} of a script typed through the ring"`);
    const r = await s.shell.exec(lines.join("\n") + "\nfalse");
    assert.equal(r.exitCode, 1);
    const expected = Array.from({ length: 30 }, (_, i) => `line ${i} of a script typed through the ring`);
    assert.equal(r.output, expected.join("\n") + "\n");
    assert.ok(s.console.bufferTail(4000).includes("ring\r\r\nline 29"), "the double sent CR CR LF line ends");
  });
});
