/**
 * The release and package trees move (CDN -> archive, quarterly directories emptied): the harness must
 * find files where they are now and say where. Runs against the fake NetBSD mirror fixture over real HTTP
 * (and as a directory); no NetBSD host is reachable here.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import {
  describeReleaseSources,
  fetchXenPackageTree,
  netbsdRelease,
  PkgsrcTreeMissingError,
  pkgPath,
  releaseArtifacts,
  withXenPackage,
  XenPackageUnknownError,
} from "../../images/catalog/netbsd.ts";
import {
  ArtifactStore,
  ArtifactUnavailableError,
  ChecksumMismatchError,
  type LocalArtifactServer,
} from "../../images/store/index.ts";
import { makeNetbsdMirror, serveNetbsdMirror } from "./fixtures/netbsd-mirror.ts";

describe("NetBSD mirror: CDN, then the archive", function () {
  this.timeout(60_000);
  let dir: string;
  const servers: LocalArtifactServer[] = [];
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-mirror-"))));
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function served(layout: Parameters<typeof makeNetbsdMirror>[2], box = "netbsd-9.4") {
    const rel = netbsdRelease(box);
    await makeNetbsdMirror(path.join(dir, "mirror"), rel, layout);
    const { server, url } = await serveNetbsdMirror(path.join(dir, "mirror"));
    servers.push(server);
    const lines: string[] = [];
    const store = new ArtifactStore({
      cacheDir: path.join(dir, "cache"),
      mirror: url,
      log: (l) => lines.push(l),
    });
    return { rel, server, url, store, lines };
  }

  it("fetches a release the CDN no longer has from the archive, and records the archive as its source", async () => {
    const { rel, server, url, store, lines } = await served({ release: "archive" });
    const fetched = [];
    for (const spec of releaseArtifacts(rel)) fetched.push(await store.fetch(spec));
    for (const f of fetched) {
      assert.ok(f.url.startsWith(`${url}NetBSD-archive/NetBSD-9.4/amd64/`), f.url);
      const meta = JSON.parse(await readFile(`${f.path}.meta.json`, "utf8")) as { url: string };
      assert.equal(meta.url, f.url, "the cache's metadata names the tree that served the file");
    }
    // One 404 per CDN directory (its SHA512), not one per file: the miss is remembered.
    const cdnMisses = server.requests.filter((r) => r.path.startsWith("/pub/NetBSD/") && r.status === 404);
    assert.deepEqual([...new Set(cdnMisses.map((r) => r.path))].sort(), [
      "/pub/NetBSD/NetBSD-9.4/amd64/binary/kernel/SHA512",
      "/pub/NetBSD/NetBSD-9.4/amd64/binary/sets/SHA512",
      "/pub/NetBSD/NetBSD-9.4/amd64/installation/cdrom/SHA512",
    ]);
    assert.equal(cdnMisses.length, 3);
    assert.ok(
      lines.some((l) => /base\.tar\.xz: served by .*NetBSD-archive/.test(l)),
      lines.join("\n"),
    );
    const summary = describeReleaseSources(rel, fetched);
    assert.match(
      summary,
      new RegExp(
        `${fetched.length} fetched from .*/pub/NetBSD-archive/ \\(archive\\).*CDN no longer serves 9\\.4`,
      ),
    );

    // A second run is served from the cache and still says where the files came from.
    const again = [];
    for (const spec of releaseArtifacts(rel)) again.push(await store.fetch(spec));
    assert.ok(again.every((f) => f.fromCache));
    assert.match(
      describeReleaseSources(rel, again),
      new RegExp(`${again.length} cached earlier from .*NetBSD-archive`),
    );
  });

  it("takes a release still on the CDN from the CDN without asking the archive", async () => {
    const { rel, server, store } = await served({ release: "cdn" }, "netbsd-10.1");
    for (const spec of releaseArtifacts(rel)) await store.fetch(spec);
    assert.ok(
      server.requests.every((r) => r.path.startsWith("/pub/NetBSD/NetBSD-10.1/") && r.status === 200),
    );
  });

  it("still reads a mirror directory laid out the old way (NetBSD-X.Y/ at its root)", async () => {
    const rel = netbsdRelease("netbsd-6.1.5");
    const mirror = await makeNetbsdMirror(path.join(dir, "old"), rel, { legacyRoot: true });
    const store = new ArtifactStore({ cacheDir: path.join(dir, "cache"), mirror });
    const f = await store.fetch(releaseArtifacts(rel)[1]!);
    assert.equal(f.url, `file://${path.join(mirror, "NetBSD-6.1.5/amd64/binary/sets/kern-GENERIC.tgz")}`);
  });

  it("does not hide a wrong checksum on the CDN behind the archive's copy", async () => {
    const { rel, server, store } = await served({ release: "archive" });
    // The same release on both trees, the CDN's base.tar.xz corrupted after its SHA512 was written.
    const mirror = path.join(dir, "mirror");
    await cp(path.join(mirror, "NetBSD-archive", "NetBSD-9.4"), path.join(mirror, "NetBSD", "NetBSD-9.4"), {
      recursive: true,
    });
    await writeFile(path.join(mirror, "NetBSD/NetBSD-9.4/amd64/binary/sets/base.tar.xz"), "tampered");
    const base = releaseArtifacts(rel).find((a) => a.name.endsWith("/base.tar.xz"))!;
    await assert.rejects(store.fetch(base), ChecksumMismatchError);
    assert.ok(
      !server.requests.some((r) => r.path.includes("/NetBSD-archive/") && r.path.endsWith("base.tar.xz")),
    );
  });

  it("names every place it looked when no tree has the file", async () => {
    const { rel, store } = await served({ release: "archive", omitSets: ["modules"] });
    const modules = releaseArtifacts(rel).find((a) => a.name.endsWith("/modules.tar.xz"))!;
    await assert.rejects(store.fetch(modules), (e: unknown) => {
      assert.ok(e instanceof ArtifactUnavailableError, String(e));
      assert.equal(e.tried.length, 3);
      assert.match(e.tried[0]!.url, /\/pub\/NetBSD\/NetBSD-9\.4\//);
      assert.match(e.tried[1]!.url, /\/pub\/NetBSD-archive\/NetBSD-9\.4\//);
      assert.match(e.message, /modules\.tar\.xz.*not listed/s);
      assert.match(e.message, /--mirror/);
      return true;
    });
  });
});

describe("NetBSD mirror: reading a directory listing", () => {
  it("takes the direct children an index page links to, however it spells the links", async () => {
    const page = [
      '<a href="?C=N;O=D">Name</a>',
      '<a href="../">Parent Directory</a>',
      '<a href="10.0_2025Q3/">10.0_2025Q3/</a>',
      "<a href='10.0_2025Q4/'>10.0_2025Q4/</a>",
      '<a href="/pub/pkgsrc/packages/NetBSD/x86_64/10.0_2026Q1/">abs</a>',
      '<a href="/pub/pkgsrc/packages/NetBSD/x86_64/10.0_2026Q2/All/">deeper</a>',
      '<a href="https://elsewhere.example/pub/pkgsrc/packages/NetBSD/x86_64/9.0_2026Q1/">other host</a>',
      '<a href="9.0%5F2025Q3/">encoded</a>',
    ].join("\n");
    const server = http.createServer((req, res) => {
      if (req.url === "/pub/pkgsrc/packages/NetBSD/x86_64/") res.end(page);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const tmp = await mkdtemp(path.join(os.tmpdir(), "nbxen-list-"));
      const store = new ArtifactStore({ cacheDir: tmp });
      const { names } = await store.listDirectory(`${base}/pub/pkgsrc/packages/NetBSD/x86_64`);
      assert.deepEqual(names, ["10.0_2025Q3", "10.0_2025Q4", "10.0_2026Q1", "9.0_2025Q3"]);
      await rm(tmp, { recursive: true, force: true });
    } finally {
      server.close();
    }
  });
});

describe("NetBSD mirror: choosing the pkgsrc tree", function () {
  this.timeout(60_000);
  let dir: string;
  const servers: LocalArtifactServer[] = [];
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "nbxen-pkgsrc-"))));
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  const xen415 = [
    { PKGNAME: "xenkernel415-4.15.5nb2" },
    { PKGNAME: "xentools415-4.15.5nb4", DEPENDS: ["python311>=3.11"] },
    { PKGNAME: "python311-3.11.13" },
  ];

  it("9.x: skips a newer branch without xenkernel415 and an emptied one, takes 2025Q3 from the archive", async () => {
    const rel = netbsdRelease("netbsd-9.4");
    const root = await makeNetbsdMirror(path.join(dir, "mirror"), rel, {
      pkgsrc: [
        { tree: "cdn", dir: "9.0_2026Q3", packages: [{ PKGNAME: "python311-3.11.14" }] },
        { tree: "cdn", dir: "9.0_2026Q2" }, // emptied
        { tree: "archive", dir: "9.0_2025Q3", packages: xen415 },
        { tree: "archive", dir: "9.0_2025Q2", packages: xen415 },
      ],
    });
    const { server, url } = await serveNetbsdMirror(root);
    servers.push(server);
    const lines: string[] = [];
    const store = new ArtifactStore({ cacheDir: path.join(dir, "cache"), mirror: url });
    const got = await fetchXenPackageTree(store, rel, { log: (l) => lines.push(l) });
    // 2026Q3 and 2026Q2 are newer than xenkernel415's last branch: never even tried.
    assert.equal(got.pkgsrcBranch, "2025Q3");
    assert.equal(got.allPath, "NetBSD/x86_64/9.0_2025Q3/All");
    assert.equal(got.summaryUrl, `${url}pkgsrc-archive/packages/NetBSD/x86_64/9.0_2025Q3/All/pkg_summary.gz`);
    assert.deepEqual(
      got.files.map((f) => path.basename(f)),
      ["pkg_summary.gz", "xenkernel415-4.15.5nb2.tgz", "python311-3.11.13.tgz", "xentools415-4.15.5nb4.tgz"],
    );
    assert.ok(
      lines.some((l) => /using NetBSD\/x86_64\/9\.0_2025Q3\/All .*pkgsrc-archive/.test(l)),
      lines.join("\n"),
    );
    assert.equal(
      pkgPath(rel, { serverUrl: "http://10.0.2.2:8080", pkgsrcBranch: got.pkgsrcBranch }),
      "http://10.0.2.2:8080/pkgsrc/packages/NetBSD/x86_64/9.0_2025Q3/All",
    );
    assert.ok(got.files.every((f) => f.includes(`${path.sep}9.0_2025Q3${path.sep}All${path.sep}`)));
  });

  it("10.x: a chosen pair the newest branch lacks comes from the next branch that has it", async () => {
    const rel = withXenPackage(netbsdRelease("netbsd-10.1"), "xenkernel415");
    const xen420 = [{ PKGNAME: "xenkernel420-20250821nb1" }, { PKGNAME: "xentools420-20250821nb3" }];
    const root = await makeNetbsdMirror(path.join(dir, "mirror"), rel, {
      pkgsrc: [
        { tree: "cdn", dir: "10.0_2025Q4", packages: xen420 },
        { tree: "cdn", dir: "10.0_2025Q3", packages: [...xen420, ...xen415] },
      ],
    });
    const lines: string[] = [];
    const store = new ArtifactStore({ cacheDir: path.join(dir, "cache"), mirror: root });
    const got = await fetchXenPackageTree(store, rel, { log: (l) => lines.push(l) });
    assert.equal(got.pkgsrcBranch, "2025Q3");
    assert.deepEqual(got.xenPackages, ["xenkernel415-4.15.5nb2", "xentools415-4.15.5nb4"]);
    assert.ok(
      lines.some((l) => /10\.0_2025Q4\/All has no xenkernel415 with xentools415; trying the next/.test(l)),
      lines.join("\n"),
    );
  });

  it("10.x: a chosen pair no branch holds is a usage error listing each branch and its pairs", async () => {
    const rel = withXenPackage(netbsdRelease("netbsd-10.1"), "xenkernel418");
    const root = await makeNetbsdMirror(path.join(dir, "mirror"), rel, {
      pkgsrc: [
        {
          tree: "cdn",
          dir: "10.0_2025Q4",
          packages: [{ PKGNAME: "xenkernel420-1" }, { PKGNAME: "xentools420-1" }],
        },
        { tree: "cdn", dir: "10.0_2025Q3", packages: [{ PKGNAME: "xenkernel418-4.18.3" }, ...xen415] },
      ],
    });
    const store = new ArtifactStore({ cacheDir: path.join(dir, "cache"), mirror: root });
    await assert.rejects(fetchXenPackageTree(store, rel), (e: unknown) => {
      assert.ok(e instanceof XenPackageUnknownError, String(e));
      assert.deepEqual(
        e.seen.map((t) => [t.dir, t.pairs.map((p) => p.name), t.unpaired]),
        [
          ["NetBSD/x86_64/10.0_2025Q4/All", ["xenkernel420"], []],
          ["NetBSD/x86_64/10.0_2025Q3/All", ["xenkernel415"], ["xenkernel418-4.18.3"]],
        ],
      );
      assert.match(e.message, /Choose one of xenkernel420, xenkernel415 with "xenPackage"/);
      return true;
    });
  });

  it("10.x: an emptied newest branch is passed over for the next one on the CDN", async () => {
    const rel = netbsdRelease("netbsd-10.1");
    const xen420 = [{ PKGNAME: "xenkernel420-20250821nb1" }, { PKGNAME: "xentools420-20250821nb3" }];
    const root = await makeNetbsdMirror(path.join(dir, "mirror"), rel, {
      pkgsrc: [
        { tree: "cdn", dir: "10.0_2026Q3" }, // emptied
        { tree: "cdn", dir: "10.0_2026Q2", packages: xen420 },
      ],
    });
    const lines: string[] = [];
    const store = new ArtifactStore({ cacheDir: path.join(dir, "cache"), mirror: root });
    const got = await fetchXenPackageTree(store, rel, { log: (l) => lines.push(l) });
    assert.equal(got.pkgsrcBranch, "2026Q2");
    assert.ok(
      lines.some((l) => /10\.0_2026Q3\/All has no pkg_summary\.gz/.test(l)),
      lines.join("\n"),
    );
    assert.ok(got.files.some((f) => f.endsWith("xenkernel420-20250821nb1.tgz")));
  });

  it("6.1.5: with no package tree anywhere, names what is missing and how to point --mirror or pkgsrcBranch at one", async () => {
    const rel = netbsdRelease("netbsd-6.1.5");
    const root = await makeNetbsdMirror(path.join(dir, "mirror"), rel);
    const { server, url } = await serveNetbsdMirror(root);
    servers.push(server);
    const store = new ArtifactStore({ cacheDir: path.join(dir, "cache"), mirror: url });
    await assert.rejects(fetchXenPackageTree(store, rel), (e: unknown) => {
      assert.ok(e instanceof PkgsrcTreeMissingError, String(e));
      assert.deepEqual(
        e.tried.map((t) => t.dir),
        ["NetBSD/amd64/6.1.5/All"],
      );
      assert.match(e.message, /xenkernel42 and xentools42/);
      assert.match(e.message, /--mirror .*pkgsrc\/packages\/NetBSD\/amd64\/<dir>\/All\//s);
      assert.match(e.message, /"pkgsrcBranch"/);
      return true;
    });
  });

  it("6.1.5: a tree with xenkernel42 but no python27 for xentools42 is named as lacking it", async () => {
    const rel = netbsdRelease("netbsd-6.1.5");
    const root = await makeNetbsdMirror(path.join(dir, "mirror"), rel, {
      pkgsrc: [
        {
          tree: "archive",
          dir: "6.1.5",
          packages: [
            { PKGNAME: "xenkernel42-4.2.5nb16" },
            { PKGNAME: "xentools42-4.2.5nb30", DEPENDS: ["python27>=2.7.1nb2"] },
          ],
        },
      ],
    });
    const store = new ArtifactStore({ cacheDir: path.join(dir, "cache"), mirror: root });
    await assert.rejects(
      fetchXenPackageTree(store, rel),
      (e: unknown) =>
        e instanceof PkgsrcTreeMissingError &&
        /6\.1\.5\/All: pkg_summary\.gz lacks python27>=2\.7\.1nb2 \(needed by xentools42-4\.2\.5nb30\)/.test(
          e.message,
        ),
    );
  });

  it("uses a configured branch as is, and says when it has no packages", async () => {
    const rel = netbsdRelease("netbsd-10.1");
    const root = await makeNetbsdMirror(path.join(dir, "mirror"), rel, {
      pkgsrc: [
        {
          tree: "cdn",
          dir: "10.0_2026Q2",
          packages: [{ PKGNAME: "xenkernel420-1" }, { PKGNAME: "xentools420-1" }],
        },
      ],
    });
    const store = new ArtifactStore({ cacheDir: path.join(dir, "cache"), mirror: root });
    await assert.rejects(
      fetchXenPackageTree(store, rel, { pkgsrcBranch: "2024Q4" }),
      (e: unknown) =>
        e instanceof PkgsrcTreeMissingError && e.tried.length === 1 && /10\.0_2024Q4/.test(e.message),
    );
  });
});
