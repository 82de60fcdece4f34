import assert from "node:assert/strict";
import pty from "node-pty";
import { Console, ConsoleClosedError, ptyStream, spawnPtyStream } from "../../harness/console/index.ts";

describe("console over a real pty (node-pty)", () => {
  it("spawnPtyStream reports the pid and the exit status", async () => {
    const { stream, pid, exited } = spawnPtyStream("/bin/sh", ["-c", "echo pid=$$; exit 5"]);
    const c = new Console(stream);
    const m = await c.expect(/pid=(\d+)/, { timeoutMs: 5000 });
    assert.equal(Number(m.match[1]), pid);
    assert.equal(await exited, 5);
    await assert.rejects(c.expect("more", { timeoutMs: 5000 }), ConsoleClosedError);
    assert.equal(c.closed, true);
  });

  it("keeps output produced before a console subscribes", async () => {
    const { stream, exited } = spawnPtyStream("/bin/sh", ["-c", "printf 'early bird\\n'"]);
    assert.equal(await exited, 0);
    const c = new Console(stream);
    assert.equal((await c.expect("bird", { timeoutMs: 5000 })).before, "early ");
  });

  it("passes every byte value through undecoded (only the tty's LF -> CRLF applies)", async () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const { stream, exited } = spawnPtyStream(process.execPath, [
      "-e",
      `process.stdout.write(Buffer.from(${JSON.stringify([...all])})); process.stdin.resume()`,
    ]);
    const expected = Buffer.from([...all].flatMap((b) => (b === 0x0a ? [0x0d, 0x0a] : [b])));
    const got: Buffer[] = [];
    await new Promise<void>((resolve) => {
      stream.onData((d) => {
        got.push(d);
        if (Buffer.concat(got).length >= expected.length) resolve();
      });
    });
    stream.close();
    await exited;
    assert.deepEqual(Buffer.concat(got), expected);
  });

  it("sizes the pty as asked and renders the screen at that size", async () => {
    const { stream } = spawnPtyStream("/bin/sh", ["-c", "stty size; printf '%0100d' 0"], {
      cols: 100,
      rows: 30,
    });
    const c = new Console(stream, { cols: 100, rows: 30 });
    await c.expect("30 100", { timeoutMs: 5000 });
    await c.expect("0".repeat(100), { timeoutMs: 5000 });
    assert.deepEqual(c.screenText().split("\n"), ["30 100", "0".repeat(100)]);
  });

  it("handles a megabyte of output", async function () {
    this.timeout(30000);
    // The program stays alive after writing: node-pty can drop the last bytes of a process that exits
    // while its output is still queued in the pty.
    const { stream, exited } = spawnPtyStream("/bin/sh", [
      "-c",
      "head -c 1000000 /dev/zero | tr '\\0' a; echo; echo END; read x",
    ]);
    const c = new Console(stream);
    const m = await c.expect(/\r\nEND\r\n/, { timeoutMs: 20000 });
    assert.equal(m.before, "a".repeat(1000000));
    stream.close();
    await exited;
  });

  it("ptyStream adapts an IPty spawned elsewhere; close() hangs it up", async () => {
    const p = pty.spawn("/bin/cat", [], { cols: 80, rows: 25, encoding: null });
    const exited = new Promise<number | undefined>((r) => p.onExit((e) => r(e.signal)));
    const stream = ptyStream(p);
    const c = new Console(stream);
    await c.sendLine("ping");
    await c.expect("ping\r\nping\r\n", { timeoutMs: 5000 });
    stream.close();
    assert.equal(await exited, 1); // SIGHUP
  });
});
