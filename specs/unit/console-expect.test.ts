import assert from "node:assert/strict";
import {
  Console,
  ConsoleClosedError,
  ExpectTimeoutError,
  spawnPtyStream,
} from "../../harness/console/index.ts";
import type { ConsoleStream } from "../../harness/console/index.ts";
import { HarnessError } from "../../lib/errors.ts";

interface Running {
  console: Console;
  stream: ConsoleStream;
  exited: Promise<number>;
}

const running: Running[] = [];

/** Runs a small node program on a real pty, with a Console attached. */
function node(script: string): Running {
  const { stream, exited } = spawnPtyStream(process.execPath, ["-e", script], { cols: 80, rows: 25 });
  const r = { console: new Console(stream, { name: "test" }), stream, exited };
  running.push(r);
  return r;
}

afterEach(() => {
  for (const r of running.splice(0)) {
    r.console.close();
    r.stream.close();
  }
});

// A curses-like menu: clears the screen and draws with cursor addressing. "a: Install" is written as
// "a: Inst" + a jump back + "all", so it never appears contiguously on the byte stream.
const MENU = String.raw`
const draw = () => process.stdout.write(
  "\x1b[2J\x1b[H\x1b[3;10HMain menu\x1b[5;10Ha: Inst\x1b[6;10Hb: Upgrade\x1b[5;17Hall\x1b[20;1H");
process.stdin.setRawMode(true);
draw();
process.stdin.on("data", (d) => {
  for (const k of d.toString()) {
    if (k === "r") draw();
    if (k === "n") process.stdout.write("\x1b[2J\x1b[1;1HDone");
  }
});
`;

describe("Console.expect on a real pty", () => {
  it("matches literals and regexps on the byte stream, consuming up to the match", async () => {
    const { console: c } = node(`process.stdout.write("hello world\\nfoo=42\\nbar\\n")`);
    const m1 = await c.expect("world", { timeoutMs: 5000 });
    assert.equal(m1.index, 0);
    assert.equal(m1.before, "hello ");
    assert.equal(m1.after, "world");
    const m2 = await c.expect([/nomatch/, /foo=(\d+)/], { timeoutMs: 5000 });
    assert.equal(m2.index, 1);
    assert.equal(m2.match[1], "42");
    assert.equal(m2.before, "\r\n");
    // Already consumed text does not match again.
    const m3 = await c.expect([/foo/, "bar"], { timeoutMs: 5000 });
    assert.equal(m3.index, 1);
    assert.equal(m3.before, "\r\n");
  });

  it("takes the pattern matching earliest in the stream, not the first listed", async () => {
    const { console: c } = node(`process.stdout.write("first second\\n")`);
    const m = await c.expect([/second/, "first"], { timeoutMs: 5000 });
    assert.equal(m.index, 1);
    assert.equal(m.before, "");
  });

  it("times out with the patterns, the durations and the last screen", async () => {
    const { console: c } = node(
      `process.stdout.write("Menu title\\r\\nChoose one"); setTimeout(() => {}, 10000)`,
    );
    await c.expect("Choose one", { timeoutMs: 5000 });
    const err = await c
      .expect(["never", /also never/], { timeoutMs: 300, description: "the impossible" })
      .then(
        () => assert.fail("expect should have timed out"),
        (e: unknown) => e,
      );
    assert.ok(err instanceof ExpectTimeoutError);
    assert.ok(err instanceof HarnessError);
    assert.deepEqual(err.patterns, ['"never"', "/also never/"]);
    assert.equal(err.timeoutMs, 300);
    assert.ok(err.elapsedMs >= 300);
    assert.equal(err.description, "the impossible");
    assert.equal(err.lastScreen, "Menu title\nChoose one");
    assert.match(err.message, /the impossible/);
    assert.match(err.message, /\| Menu title\n {2}\| Choose one/);
    assert.match(err.bufferTail, /Choose one$/);
  });

  it("finds a match spanning many chunks of output, and the earliest one of several in a long stream", async function () {
    this.timeout(20000);
    // 40 KiB between START and END arrive in many pty reads; then 2 MiB of noise and a second marker.
    const { console: c } = node(`const x = "x".repeat(1024);
      process.stdout.write("START");
      let i = 0;
      const t = setInterval(() => {
        process.stdout.write(x);
        if (++i === 40) {
          clearInterval(t);
          process.stdout.write("END\\n" + "y".repeat(2 * 1048576) + "MARK1 MARK2\\n");
          setTimeout(() => {}, 60000); // node-pty drops output still unread 200 ms after an exit
        }
      }, 5);`);
    const m = await c.expect(/START(x*)END/, { timeoutMs: 10000 });
    assert.equal(m.match[1]!.length, 40 * 1024);
    const mark = await c.expect([/MARK2/, /MARK1/], { timeoutMs: 10000 });
    assert.equal(mark.index, 1, "MARK1 comes first in the stream");
    assert.equal(mark.before.length, 1 + 2 * 1048576 + 1, "everything before it, across the window");
  });

  describe("progress", () => {
    const TICKER = `let n = 0; const t = setInterval(() => { n++; process.stdout.write("Command: x" + n + "\\n");
      if (n === 10) { clearInterval(t); process.stdout.write("DONE\\n"); } }, 200);`;

    it("output matching a progress pattern restarts the timeout", async function () {
      this.timeout(10000);
      const { console: c } = node(TICKER);
      const m = await c.expect("DONE", { timeoutMs: 700, progress: [/Command: /] });
      assert.equal(m.after, "DONE");
      assert.match(m.before, /Command: x10\r\n$/);
    });

    it("without progress patterns the same wait times out", async function () {
      this.timeout(10000);
      const { console: c } = node(TICKER);
      await assert.rejects(c.expect("DONE", { timeoutMs: 700 }), ExpectTimeoutError);
    });
  });

  describe("the screen", () => {
    it("renders a program drawing with cursor addressing, as it was when the match was taken", async () => {
      const { console: c } = node(MENU);
      // The stream never holds "a: Install" in one piece (see MENU); the screen does.
      await assert.rejects(c.expect("a: Install", { timeoutMs: 400 }), ExpectTimeoutError);
      const m = await c.expect("\x1b[20;1H", { timeoutMs: 5000 });
      assert.equal(m.screen.split("\n")[4], " ".repeat(9) + "a: Install");
      assert.equal(
        c.screenText(),
        "\n\n" +
          " ".repeat(9) +
          "Main menu\n\n" +
          " ".repeat(9) +
          "a: Install\n" +
          " ".repeat(9) +
          "b: Upgrade",
      );
    });
  });

  describe("closing", () => {
    it("output that arrived before the process exited can still be matched", async () => {
      const { console: c, exited } = node(`process.stdout.write("bye\\n")`);
      assert.equal(await exited, 0);
      const m = await c.expect("bye", { timeoutMs: 5000 });
      assert.equal(m.after, "bye");
    });

    it("rejects a pending expect with ConsoleClosedError when the stream closes", async () => {
      const { console: c } = node(
        `process.stdout.write("last words\\n"); setTimeout(() => process.exit(3), 100)`,
      );
      const err = await c.expect("never", { timeoutMs: 10000 }).then(
        () => assert.fail("expect should have failed"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConsoleClosedError);
      assert.deepEqual(err.patterns, ['"never"']);
      assert.equal(err.lastScreen, "last words");
      assert.equal(c.closed, true);
      await assert.rejects(c.expect("x", { timeoutMs: 1000 }), ConsoleClosedError);
      await assert.rejects(c.send("x"), ConsoleClosedError);
    });

    it("close() detaches: a pending expect fails, the process keeps running", async () => {
      const {
        console: c,
        stream,
        exited,
      } = node(`process.stdin.on("data", () => {}); process.stdout.write("up\\n")`);
      await c.expect("up", { timeoutMs: 5000 });
      const pending = c.expect("never", { timeoutMs: 10000 });
      c.close();
      await assert.rejects(pending, ConsoleClosedError);
      let done = false;
      void exited.then(() => (done = true));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(done, false);
      stream.close();
      await exited;
    });
  });

  it("refuses a second expect while one is pending", async () => {
    const { console: c } = node(`setTimeout(() => process.stdout.write("late\\n"), 300)`);
    const first = c.expect("late", { timeoutMs: 5000 });
    await assert.rejects(c.expect("late", { timeoutMs: 5000 }), HarnessError);
    assert.equal((await first).after, "late");
  });

  it("send with keyDelayMs types each character, sendLine ends with a carriage return", async () => {
    const { console: c } = node(String.raw`
      process.stdin.setRawMode(true);
      process.stdout.write("ready\n");
      let got = "";
      process.stdin.on("data", (d) => {
        got += d.toString("latin1");
        if (got.endsWith("\r")) process.stdout.write("GOT[" + JSON.stringify(got) + "]\n");
      });`);
    await c.expect("ready", { timeoutMs: 5000 });
    const started = Date.now();
    await c.sendLine("abcd", { keyDelayMs: 30 });
    assert.ok(Date.now() - started >= 4 * 30);
    const m = await c.expect(/GOT\[(.*)\]/, { timeoutMs: 5000 });
    assert.equal(m.match[1], JSON.stringify("abcd\r"));
  });

  it("bufferTail keeps the last output even after it was consumed", async () => {
    const { console: c } = node(`process.stdout.write("0123456789")`);
    await c.expect("9", { timeoutMs: 5000 });
    assert.equal(c.bufferTail(4), "6789");
  });
});
