import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { getBox } from "../../harness/boxes/registry.ts";
import { main } from "../../harness/cli/main.ts";
import { analyseHowtoText } from "../../harness/howto/blocks.ts";
import {
  coverageFails,
  howtoCoverage,
  linesInText,
  type HowtoCoverage,
} from "../../harness/howto/coverage.ts";
import { howtoSourceFromText, readHowtoSource } from "../../harness/howto/source.ts";
import { declaredOutcomes } from "../../harness/steps/howto-outcomes.ts";
import { UsageError } from "../../lib/errors.ts";

const FILE = fileURLToPath(new URL("../../docs/howto/netbsd-xen-howto.side-by-side.txt", import.meta.url));

async function coverage(boxName: string, revision: "old" | "new"): Promise<HowtoCoverage> {
  const box = await getBox(boxName);
  return howtoCoverage(
    await readHowtoSource(FILE),
    box.name,
    declaredOutcomes(box.name, box.steps()),
    revision,
  );
}

/** Runs the CLI in this process; returns its exit status and what it printed. */
async function nbxen(...args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = "";
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await main(["node", "nbxen", ...args]), stdout };
  } finally {
    process.stdout.write = write;
  }
}

const ABSENT = [
  "bootcfg-xen-menu",
  "makedev-xen",
  "rcd-scripts",
  "rcconf-xencommons",
  "xl-list",
  "bridge0-config",
  "domu-config",
  "xl-create",
  "xl-shutdown",
  "xendomains",
];

describe("nbxen howto coverage", () => {
  it("the side-by-side text's older revision: its two blocks, the table lines it has, none the table has wrong", async () => {
    const c = await coverage("debian-12", "old");
    assert.deepEqual(
      c.blocks.map((b) => [b.block.where, b.block.section, b.lines.map((l) => l.id), b.status]),
      [
        [
          "row 128",
          "Installing Xen with NetBSD as privileged domain (dom0)",
          ["done-output"],
          "not-exercised",
        ],
        ["row 141", "Creating unprivileged domains (domU)", ["vif-bridge-script"], "not-exercised"],
      ],
    );
    assert.deepEqual(
      c.inProse.map((p) => [p.where, p.outcome.id, p.outcome.status]),
      [
        ["row 10", "dom0-starts-domus", "verified"],
        ["row 112", "install-netbsd-51", "deviation"],
        ["row 117", "grub-root-partition", "not-exercised"],
        ["row 126", "install-xen-packages", "deviation"],
      ],
    );
    assert.match(c.inProse[2]!.outcome.note ?? "", /GRUB 2 reads the ext4 root/);
    assert.deepEqual(c.absent, ABSENT);
    assert.deepEqual(c.mismatches, []);
    assert.equal(coverageFails(c), false);
  });

  it("the newer revision, for a NetBSD box: the same blocks under the newer headings, the lines it added", async () => {
    const c = await coverage("netbsd-10.1", "new");
    assert.deepEqual(
      c.blocks.map((b) => [b.block.where, b.block.section, b.lines.map((l) => l.id)]),
      [
        ["row 128", "Installation of Xen", ["done-output"]],
        ["row 141", "Creating unprivileged domains (domU)", ["vif-bridge-script"]],
      ],
    );
    assert.deepEqual(linesInText(c), [
      "hvm-cpu",
      "dom0-starts-domus",
      "xenkernel42-recommended",
      "install-netbsd",
      "domu-disk-file",
      "install-xen-packages",
      "done-output",
      "updating-xen",
      "vif-bridge-script",
    ]);
    const status = new Map(c.inProse.map((p) => [p.outcome.id, p.outcome.status]));
    assert.equal(status.get("install-netbsd"), "verified");
    assert.equal(status.get("xenkernel42-recommended"), "deviation");
    assert.equal(status.get("hvm-cpu"), "not-exercised");
    assert.deepEqual(c.absent, ABSENT);
    assert.deepEqual(c.mismatches, []);
  });

  it("fails on a block no table line accounts for, and on a line in a revision the table does not list", () => {
    const md = [
      "Installation of Xen",
      "===================",
      "",
      "First do a NetBSD/i386 or NetBSD/amd64",
      "[installation](x.html) of the 5.1 release (or newer) as you usually do on x86 hardware.",
      "",
      "    # xl create -c /usr/pkg/etc/xen/nbsd",
      "",
      "```",
      "vnconfig -c vnd0 /home/xen/nbsd.img",
      "```",
      "",
      "xencommons=YES",
    ].join("\n");
    const c = howtoCoverage(howtoSourceFromText("t.md", md, "new"), "test-box", [], "new");
    assert.deepEqual(
      c.blocks.map((b) => [b.block.where, b.block.section, b.lines.map((l) => l.id), b.status]),
      [
        ["line 7", "Installation of Xen", ["xl-create"], "not-exercised"],
        ["line 9", "Installation of Xen", [], "unmapped"],
        ["line 13", "Installation of Xen", ["rcconf-xencommons"], "not-exercised"],
      ],
    );
    assert.deepEqual(c.mismatches, ["install-netbsd-51: the new revision has it; the table says old"]);
    assert.equal(coverageFails(c), true);
  });

  it("from a side-by-side text: fails on a line only one revision has when the table gives it to both", () => {
    const N = "\u00a0";
    const text = [
      `Line${N}1${N}${N}x Line${N}1${N}${N}x`,
      `${N}xencommons=YES ${N}`,
      `${N}Done. ${N}Done.`,
    ].join("\n");
    const c = howtoCoverage(howtoSourceFromText("t.txt", text), "test-box", [], "old");
    assert.deepEqual(
      c.blocks.map((b) => b.lines.map((l) => l.id)),
      [["rcconf-xencommons"]],
    );
    assert.deepEqual(c.mismatches, [
      "rcconf-xencommons: only the old revision has it; the table says old and new",
    ]);
    assert.equal(coverageFails(c), true);
  });

  it("finds ikiwiki's programlisting blocks and ATX headings", () => {
    const lines = [
      "## Booting",
      '[[!template id=filecontent name="/boot.cfg" text="""',
      "menu=Xen:a;b",
      '"""]]',
    ];
    const a = analyseHowtoText(lines.map((text, i) => ({ text, where: `line ${i + 1}` })));
    assert.deepEqual(a.blocks, [{ where: "line 2", section: "Booting", lines: ["menu=Xen:a;b"] }]);
  });

  it("the CLI on both revisions, for debian-12 and netbsd-10.1: exit 0 and the summary", async () => {
    for (const [box, revision, inText] of [
      ["debian-12", "old", 6],
      ["debian-12", "new", 9],
      ["netbsd-10.1", "old", 6],
      ["netbsd-10.1", "new", 9],
    ] as const) {
      const r = await nbxen("howto", "coverage", FILE, "--revision", revision, "--box", box);
      assert.equal(r.code, 0, r.stdout);
      assert.match(r.stdout, new RegExp(`revision ${revision} .*box ${box}`));
      assert.ok(
        r.stdout.includes(
          `summary: 2 blocks (verified 0, deviation 0, not-exercised 2, failed 0, unmapped 0); table lines in the text ${inText}, not in it 10; revision mismatches 0`,
        ),
        r.stdout,
      );
    }
  });

  it("nbxen howto table: a row per table line, a column per box, from its latest report or its declarations", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-howto-table-"));
    try {
      const config = path.join(dir, "nbxen.config.json");
      await writeFile(config, JSON.stringify({ stateDir: path.join(dir, "state") }));
      const reports = path.join(dir, "state", "reports", "netbsd-10.1");
      await mkdir(reports, { recursive: true });
      const box = await getBox("netbsd-10.1");
      const outcomes = declaredOutcomes(box.name, box.steps()).map((o) =>
        o.id === "bootcfg-xen-menu" ? { ...o, note: "console=com0 | com1" } : o,
      );
      await writeFile(path.join(reports, "howto.json"), JSON.stringify({ box: box.name, lines: outcomes }));
      const out = path.join(dir, "table.md");
      const r = await nbxen(
        "--config",
        config,
        "howto",
        "table",
        "debian-12",
        "netbsd-10.1",
        "--output",
        out,
      );
      assert.equal(r.code, 0);
      const rows = (await readFile(out, "utf8")).trimEnd().split("\n");
      assert.equal(
        rows[0],
        "| id | section | HOWTO line | debian-12 (no run: declared) | netbsd-10.1 (reports/netbsd-10.1) |",
      );
      assert.equal(rows.length, 2 + outcomes.length);
      assert.match(
        rows.find((l) => l.startsWith("| bootcfg-xen-menu |"))!,
        /\| deviation: GRUB's Xen entry instead of \/boot\.cfg.* \| deviation: console=com0 \\\| com1 \|$/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe("from a URL", () => {
    let server: Server;
    let base: string;
    before(async () => {
      server = createServer((req, res) => {
        if (req.url === "/howto.txt") res.end(readFileSync(FILE));
        else res.writeHead(404, "Not Found").end();
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    it("reads the text as from the file", async () => {
      const r = await nbxen("howto", "coverage", `${base}/howto.txt`, "--box", "netbsd-10.1");
      assert.equal(r.code, 0, r.stdout);
      assert.match(r.stdout, /table lines in the text 9, not in it 10; revision mismatches 0/);
    });

    it("says what went wrong: an HTTP error, a refused connection, a scheme it cannot fetch", async () => {
      await assert.rejects(
        readHowtoSource(`${base}/gone`),
        (e: Error) => e instanceof UsageError && /HTTP 404 Not Found/.test(e.message),
      );
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((r) => closed.close(() => r()));
      await assert.rejects(
        readHowtoSource(`http://127.0.0.1:${port}/x`),
        (e: Error) =>
          e instanceof UsageError &&
          /cannot fetch http:\/\/127\.0\.0\.1:\d+\/x: .*ECONNREFUSED/.test(e.message),
      );
      await assert.rejects(readHowtoSource("ftp://ftp.netbsd.org/x"), /only http:\/\/ and https:\/\//);
      assert.equal((await nbxen("howto", "coverage", `${base}/gone`)).code, 2);
    });
  });
});
