import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Console, EscapeStripper, Transcript, spawnPtyStream } from "../../harness/console/index.ts";

const STAMP = /^\[\+\d+\.\d{3}s\] /;

async function readEvents(dir: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(join(dir, "events.jsonl"), "utf8");
  return text
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("Transcript", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "nbx-transcript-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes raw bytes, timestamped plain text and a structured event log", async () => {
    const t = await Transcript.open(join(dir, "run"));
    const chunks = [
      Buffer.from("hello \x1b[1mwor"),
      Buffer.from("ld\x1b[0m\r\n\x1b]0;title\x07second \x1b["),
      Buffer.from("31mline\r\npartial"),
      Buffer.from([0xe2, 0x82]),
      Buffer.from([0xac, 0x0d, 0x0a]),
    ];
    for (const c of chunks) t.recv(c);
    t.send("ls\r");
    t.event("expect", { patterns: ['"$ "'], timeoutMs: 1000 });
    t.note("a note");
    await t.close();

    assert.deepEqual((await readdir(join(dir, "run"))).sort(), [
      "console.raw",
      "console.txt",
      "events.jsonl",
    ]);
    assert.deepEqual(await readFile(join(dir, "run", "console.raw")), Buffer.concat(chunks));

    const lines = (await readFile(join(dir, "run", "console.txt"), "utf8")).split("\n");
    assert.equal(lines.pop(), "");
    for (const l of lines) assert.match(l, STAMP);
    assert.deepEqual(
      lines.map((l) => l.replace(STAMP, "")),
      ["hello world", "second line", "partial€"],
    );

    const events = await readEvents(join(dir, "run"));
    for (const e of events) assert.equal(typeof e.t, "number");
    assert.deepEqual(
      events.map((e) => e.kind),
      ["note", "recv", "recv", "recv", "send", "expect", "note"],
    );
    assert.equal(
      events
        .filter((e) => e.kind === "recv")
        .map((e) => e.text)
        .join(""),
      "hello \x1b[1mworld\x1b[0m\r\n\x1b]0;title\x07second \x1b[31mline\r\npartial€\r\n",
    );
    assert.deepEqual(events[4], { t: events[4]!.t, kind: "send", text: "ls\r" });
    assert.deepEqual(events[6], { t: events[6]!.t, kind: "note", text: "a note" });
  });

  it("masks secrets in console.txt and events.jsonl, also when split across chunks", async () => {
    const t = await Transcript.open(dir);
    t.addSecret("hunter2");
    t.recv(Buffer.from("Password: hun"));
    t.recv(Buffer.from("ter2\r\nok\r\n"));
    t.send("topsecret\r", true);
    t.event("note", { nested: { list: ["x topsecret y"] } });
    await t.close();
    const txt = await readFile(join(dir, "console.txt"), "utf8");
    const events = await readFile(join(dir, "events.jsonl"), "utf8");
    for (const text of [txt, events]) {
      assert.doesNotMatch(text, /hunter2|topsecret|hun\n|ter2/);
    }
    assert.match(txt, /\] Password: \*\*\*\n/);
    const parsed = await readEvents(dir);
    assert.deepEqual(
      parsed.find((e) => e.kind === "send"),
      { t: parsed[2]!.t, kind: "send", text: "***", secret: true },
    );
    assert.deepEqual(parsed.at(-1)!.nested, { list: ["x *** y"] });
    // The wire record stays unaltered.
    assert.match(await readFile(join(dir, "console.raw"), "utf8"), /hunter2/);
  });

  it("records a console session on a real pty, masking what was sent as secret", async () => {
    const t = await Transcript.open(dir);
    // `cat` on a pty in cooked mode: the terminal echoes what is typed, cat repeats the line.
    const { stream, exited } = spawnPtyStream("/bin/cat", []);
    const c = new Console(stream, { transcript: t, name: "cat" });
    try {
      await c.sendLine("visible");
      await c.expect(/visible\r\nvisible\r\n/, { timeoutMs: 5000 });
      await c.sendLine("s3cr3t-pw", { secret: true });
      await c.expect(/s3cr3t-pw\r\ns3cr3t-pw\r\n/, { timeoutMs: 5000 });
      await assert.rejects(c.expect("never", { timeoutMs: 200 }));
    } finally {
      c.close();
      stream.close();
      await exited;
      await t.close();
    }
    const txt = await readFile(join(dir, "console.txt"), "utf8");
    assert.doesNotMatch(txt, /s3cr3t/);
    assert.deepEqual(
      txt
        .trimEnd()
        .split("\n")
        .map((l) => l.replace(STAMP, "")),
      ["visible", "visible", "***", "***"],
    );
    const events = await readEvents(dir);
    assert.doesNotMatch(JSON.stringify(events), /s3cr3t/);
    const sends = events.filter((e) => e.kind === "send").map((e) => e.text);
    assert.deepEqual(sends, ["visible\r", "***"]);
    const kinds = new Set(events.map((e) => e.kind));
    for (const k of ["send", "recv", "expect", "match", "timeout", "note"])
      assert.ok(kinds.has(k), `no ${k} event`);
    const timeout = events.find((e) => e.kind === "timeout")!;
    assert.deepEqual(timeout.patterns, ['"never"']);
    assert.match(await readFile(join(dir, "console.raw"), "utf8"), /s3cr3t-pw/);
  });
});

describe("EscapeStripper", () => {
  it("drops control sequences split across writes and turns cursor addressing into line breaks", () => {
    const s = new EscapeStripper();
    const out = [
      "\x1b[2J\x1b[H\x1b[3;10HMain",
      " menu\x1b[5;1",
      "0Ha: Install\x1b(B\x1b",
      "[0m\tx\r\r\ny\rz\x07\x00",
    ]
      .map((p) => s.write(p))
      .join("");
    assert.equal(out, "Main menu\na: Install\tx\ny\nz");
  });
});
