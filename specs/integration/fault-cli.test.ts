/**
 * Faults a user meets through the `nbxen` command itself: bad arguments to every verb, a second `up` in
 * the same directory, Ctrl-C in the middle of a run, two `box fetch` of the same files at once.
 * The NetBSD mirror here is a local HTTP server over placeholder files (NetBSD's mirrors cannot be
 * reached here); nothing in these tests boots a guest.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import { execa } from "execa";
import { netbsdRelease, pkgsrcAllPath } from "../../images/catalog/netbsd.ts";
import { isAlive } from "../../harness/machine/state-dir.ts";
import { makeNetbsdMirror } from "./fixtures/netbsd-mirror.ts";

const BIN = path.resolve("bin/nbxen.js");
const FAKE_QEMU = path.resolve("specs/doubles/sysinst-sim/fake-qemu");

function env(cwd: string): NodeJS.ProcessEnv {
  return { ...process.env, NBXEN_CACHE_DIR: path.join(cwd, "cache"), NBXEN_PLAIN: "1" };
}

async function nbxen(cwd: string, args: string[]) {
  const r = await execa(process.execPath, [BIN, ...args], {
    cwd,
    reject: false,
    env: env(cwd),
    timeout: 120_000,
  });
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** Serves a directory over HTTP on 127.0.0.1, counting GETs per path; `stall` answers nothing, ever. */
async function serveDir(root: string, opts: { stall?: boolean; delayMs?: number } = {}) {
  const gets = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    gets.set(p, (gets.get(p) ?? 0) + 1);
    if (opts.stall) return; // the connection stays open, silent
    void (async () => {
      if (opts.delayMs) await sleep(opts.delayMs);
      try {
        const body = await readFile(path.join(root, p));
        res.writeHead(200, { "content-length": body.length });
        res.end(body);
      } catch {
        res.writeHead(404).end();
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    gets,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe("faults: the nbxen command", function () {
  this.timeout(300_000);
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-fault-cli-"))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("every verb with bad arguments exits 2 and says why, before starting anything", async () => {
    const cases: [string[], RegExp][] = [
      [["frobnicate"], /unknown command 'frobnicate'/],
      [["up", "--no-such-flag"], /unknown option '--no-such-flag'/],
      [["up", "--from"], /option '--from <step>' argument missing/],
      [
        ["up", "--box", "debian-12", "--to", "no-such-step"],
        /--to no-such-step: no such step in box debian-12; steps: install-os,/,
      ],
      [
        ["up", "--box", "debian-12", "--from", "domu", "--to", "install-xen"],
        /--to install-xen comes before --from domu/,
      ],
      [["up", "--box", "plan9"], /unknown box "plan9"; known boxes: .*debian-12/],
      [["status", "extra"], /too many arguments for 'status'/],
      [["halt", "--now"], /unknown option '--now'/],
      [["destroy", "extra"], /too many arguments for 'destroy'/],
      [["console", "extra"], /too many arguments for 'console'/],
      [["exec"], /missing required argument 'command'/],
      [["exec", "--timeout", "soon", "xl list"], /--timeout "soon": give a number of seconds greater than 0/],
      [["exec", "--timeout", "0", "xl list"], /--timeout "0": give a number of seconds greater than 0/],
      [["exec", "  "], /exec: give a command/],
      [["snapshot"], /Usage: nbxen snapshot/],
      [["snapshot", "frob"], /unknown command 'frob'/],
      [["snapshot", "save"], /missing required argument 'name'/],
      [["snapshot", "save", "bad name!"], /snapshot name "bad name!": use letters, digits/],
      [["snapshot", "restore"], /missing required argument 'name'/],
      [["snapshot", "list", "extra"], /too many arguments for 'list'/],
      [["box"], /Usage: nbxen box/],
      [["box", "fetch"], /missing required argument 'name'/],
      [["box", "fetch", "plan9"], /unknown box "plan9"/],
      [["box", "remove", "plan9"], /unknown box "plan9"/],
      [["box", "verify", "extra"], /too many arguments for 'verify'/],
      [["box", "list", "--x"], /unknown option '--x'/],
      [["doctor", "--x"], /unknown option '--x'/],
      [["howto"], /Usage: nbxen howto/],
      [["howto", "coverage"], /missing required argument 'file-or-url'/],
      [["howto", "coverage", "x.md", "--revision", "mid"], /--revision "mid": give old or new/],
      [["howto", "coverage", "no-such-howto.md"], /cannot read no-such-howto\.md: ENOENT/],
      [["howto", "table", "plan9"], /unknown box "plan9"/],
    ];
    const results: { code: number | undefined; stderr: string }[] = [];
    // Three at a time: each is a fresh node + tsx process.
    for (let i = 0; i < cases.length; i += 3)
      results.push(...(await Promise.all(cases.slice(i, i + 3).map(([args]) => nbxen(dir, args)))));
    cases.forEach(([args, reason], i) => {
      const r = results[i]!;
      assert.equal(r.code, 2, `nbxen ${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, reason, `nbxen ${args.join(" ")}`);
    });
    assert.equal(existsSync(path.join(dir, ".nbxen")), false, "bad usage leaves no state behind");
  });

  it("a second `nbxen up` in the same directory refuses at once naming the first's pid; Ctrl-C then ends the first with 130 and its reports", async () => {
    // A mirror that accepts connections and never answers: the first run sits in its first download.
    const mirror = await serveDir(dir, { stall: true });
    try {
      await writeFile(
        path.join(dir, "nbxen.config.json"),
        JSON.stringify({ box: "netbsd-6.1.5", mirror: mirror.url, qemu: { accelerator: "tcg" } }),
      );
      const first = spawn(process.execPath, [BIN, "up"], { cwd: dir, env: env(dir) });
      let firstErr = "";
      first.stderr.on("data", (d: Buffer) => (firstErr += d.toString()));
      const firstExit = new Promise<number | null>((r) => first.on("exit", (code) => r(code)));
      for (let i = 0; i < 300 && mirror.gets.size === 0; i++) await sleep(100);
      assert.ok(mirror.gets.size > 0, `the first run reached the mirror:\n${firstErr}`);

      const t0 = Date.now();
      const second = await nbxen(dir, ["up"]);
      const seconds = (Date.now() - t0) / 1000;
      assert.equal(second.code, 1, second.stderr);
      assert.match(
        second.stderr,
        new RegExp(`another nbxen run \\(pid ${first.pid}\\) is using .*machines/netbsd-6\\.1\\.5`),
      );
      assert.ok(seconds < 15, `the refusal took ${seconds}s`);
      assert.equal(first.exitCode, null, "the first run is untouched");

      first.kill("SIGINT");
      const code = await Promise.race([firstExit, sleep(30_000).then(() => "hung")]);
      assert.equal(code, 130, firstErr.slice(-3000));
      assert.match(firstErr, /install-os: INTERRUPTED \(SIGINT\)/);
      const reports = path.join(dir, ".nbxen/reports/netbsd-6.1.5");
      assert.match(await readFile(path.join(reports, "summary.txt"), "utf8"), /^install-os\s+interrupted\s/m);
      assert.match(
        await readFile(path.join(reports, "steps.junit.xml"), "utf8"),
        /<error type="interrupted"/,
      );
      assert.ok(existsSync(path.join(reports, "howto.md")));
      assert.equal(
        existsSync(path.join(dir, ".nbxen/machines/netbsd-6.1.5/run.lock")),
        false,
        "the run lock is released",
      );
    } finally {
      await mirror.close();
    }
  });

  for (const [signal, keep, status] of [
    ["SIGINT", false, 130],
    ["SIGTERM", true, 143],
  ] as const)
    it(`${signal} while the machine runs (sysinst simulator test double as qemu.binary): exit ${status}, reports written, the machine ${keep ? "kept with --keep-running" : "stopped"}`, async () => {
      const rel = netbsdRelease("netbsd-6.1.5");
      const mirror = await makeNetbsdMirror(path.join(dir, "mirror"), rel);
      await writeFile(
        path.join(dir, "nbxen.config.json"),
        JSON.stringify({ box: rel.box, mirror, qemu: { binary: FAKE_QEMU, accelerator: "tcg" } }),
      );
      const child = spawn(process.execPath, [BIN, "up", ...(keep ? ["--keep-running"] : [])], {
        cwd: dir,
        env: { ...env(dir), NBXEN_SIM_SPEED: "1" },
      });
      let err = "";
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      for (let i = 0; i < 600 && !/sysinst: /.test(err); i++) await sleep(100);
      assert.match(err, /sysinst: /, "sysinst was running on the machine's console");
      const runFile = path.join(dir, ".nbxen/machines", rel.box, "run.json");
      const info = JSON.parse(await readFile(runFile, "utf8")) as { qemuPid: number; supervisorPid: number };
      assert.ok(isAlive(info.qemuPid));

      child.kill(signal);
      const code = await Promise.race([exited, sleep(60_000).then(() => "hung")]);
      assert.equal(code, status, err.slice(-3000));
      assert.match(err, new RegExp(`install-os: INTERRUPTED \\(${signal}\\)`));
      const reports = path.join(dir, ".nbxen/reports", rel.box);
      assert.match(await readFile(path.join(reports, "summary.txt"), "utf8"), /^install-os\s+interrupted\s/m);
      assert.match(err, /console transcript: .*\/runs\//);
      if (keep) {
        assert.match(err, /the machine keeps running/);
        assert.ok(isAlive(info.qemuPid), "--keep-running leaves the machine running");
        const s = await nbxen(dir, ["status"]);
        assert.match(s.stdout, /machine:\s+running/);
        assert.equal((await nbxen(dir, ["destroy"])).code, 0);
      } else {
        assert.match(err, /stopping the machine/);
      }
      for (let i = 0; i < 50 && isAlive(info.qemuPid); i++) await sleep(100);
      assert.equal(isAlive(info.qemuPid), false, "no QEMU is left");
      assert.equal(isAlive(info.supervisorPid), false, "no supervisor is left");
    });

  it("two `box fetch` of the same box at once download each file once", async () => {
    const rel = netbsdRelease("netbsd-6.1.5");
    const root = path.join(dir, "mirror");
    await makeNetbsdMirror(root, rel);
    // A pkgsrc directory with the two Xen packages and a pkg_summary that lists them.
    const all = path.join(root, "pkgsrc/packages", pkgsrcAllPath(rel));
    await mkdir(all, { recursive: true });
    const pkgs = [rel.xen.kernelPkg, rel.xen.toolsPkg].map((p) => `${p}-4.2.5`);
    for (const p of pkgs) await writeFile(path.join(all, `${p}.tgz`), `placeholder ${p}\n`.repeat(100));
    await writeFile(
      path.join(all, "pkg_summary.gz"),
      gzipSync(pkgs.map((p) => `PKGNAME=${p}\nFILE_NAME=${p}.tgz\n`).join("\n")),
    );
    // Slow answers, so that the two processes really overlap.
    const mirror = await serveDir(root, { delayMs: 300 });
    try {
      const run = () =>
        execa(process.execPath, [BIN, "box", "fetch", "netbsd-6.1.5", "--mirror", mirror.url], {
          cwd: dir,
          reject: false,
          env: env(dir),
          timeout: 120_000,
        });
      const [a, b] = await Promise.all([run(), run()]);
      assert.equal(a.exitCode, 0, a.stderr);
      assert.equal(b.exitCode, 0, b.stderr);
      assert.deepEqual(a.stdout.split("\n").sort(), b.stdout.split("\n").sort(), "both list the same files");
      const data = [...mirror.gets].filter(([p]) => !/\/SHA512$/.test(p));
      assert.ok(data.length >= 5, `files fetched: ${JSON.stringify(data)}`);
      for (const [p, n] of data) assert.equal(n, 1, `${p} was downloaded ${n} times`);
    } finally {
      await mirror.close();
    }
  });
});
