// Builds (or reuses) each Debian reference box (debian-12, debian-13) and checks what is in it, from the outside: qcow2 header, MBR,
// ext4 superblock and files (debugfs), the Xen repository and its dependency closure (apt on the host,
// simulating the install against the image's own dpkg status). It does not boot the box.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import {
  buildDebianBox,
  DEBIAN_BOX_FORMAT,
  DEBIAN_ROOT_PASSWORD,
  readDebianBox,
  type DebianBox,
} from "../../images/debian/box.ts";
import {
  DEBIAN_RELEASES,
  DEBIAN_XEN_REQUEST,
  debianXenPackages,
  type DebianRelease,
} from "../../images/debian/releases.ts";
import { defaultCacheDir } from "../../harness/config/load.ts";
import { debianBoxDir } from "../../harness/boxes/debian/box-files.ts";

const cacheDir = defaultCacheDir();
const PART_OFFSET = 1024 * 1024;

async function sha256(file: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(file))
    .digest("hex");
}

/** Package name -> fields, from a Packages or dpkg status file. */
function parseControl(text: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const para of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    for (const m of para.matchAll(/^([A-Za-z0-9-]+):[ \t]*(.*)$/gm)) fields[m[1]!] = m[2]!;
    if (fields.Package) out.set(fields.Package, fields);
  }
  return out;
}

const escape = (s: string) => s.replace(/[.+]/g, "\\$&");

for (const release of DEBIAN_RELEASES) describeBox(release);

function describeBox(release: DebianRelease): void {
  const boxDir = debianBoxDir(cacheDir, release);
  describe(`${release.box} box (build-box.sh, Debian ${release.suite})`, function () {
    this.timeout(20 * 60_000);
    let box: DebianBox;
    let work: string;
    let raw: string;
    const debugfs = async (request: string): Promise<string> =>
      (await execa("debugfs", ["-R", request, `${raw}?offset=${PART_OFFSET}`])).stdout;

    before(async function () {
      const reused = await readDebianBox(boxDir, release).then(
        () => true,
        () => false,
      );
      if (!reused) console.log(`      building the box into ${boxDir} (several minutes)`);
      const started = Date.now();
      box = await buildDebianBox(boxDir, release, {
        log: reused ? undefined : (l) => console.log(`      | ${l}`),
      });
      if (!reused) console.log(`      built in ${Math.round((Date.now() - started) / 1000)} s`);
      work = await mkdtemp(path.join(os.tmpdir(), "nbxen-debian-box-"));
      raw = path.join(work, "disk.raw");
      await execa("qemu-img", ["convert", "-O", "raw", box.disk, raw]);
    });

    after(async () => {
      if (work) await rm(work, { recursive: true, force: true });
    });

    it("describes itself in box.json", () => {
      const m = box.meta;
      assert.equal(m.box, release.box);
      assert.equal(m.suite, release.suite);
      assert.match(
        m.kernelVersion,
        new RegExp(`^${escape(release.kernelSeries)}\\.\\d+(-\\d+)?(\\+deb\\d+)?-amd64$`),
      );
      assert.equal(m.rootLabel, "nbxroot");
      assert.equal(m.nic, "eth0");
      assert.equal(m.hostname, "nbxen-debian");
      assert.equal(m.format, DEBIAN_BOX_FORMAT);
      assert.equal(m.rootPassword, DEBIAN_ROOT_PASSWORD);
      assert.match(m.xenVersion, new RegExp(`^${escape(release.xenVersion)}\\.\\d`));
      assert.ok(m.packages > 100, `packages = ${m.packages}`);
      assert.ok(!Number.isNaN(Date.parse(m.builtAt)), `builtAt = ${m.builtAt}`);
      assert.match(m.kernelCmdline, /(^| )root=LABEL=nbxroot( |$)/);
      assert.match(m.kernelCmdline, /(^| )console=ttyS0/);
      assert.match(m.kernelCmdline, /(^| )net\.ifnames=0( |$)/);
    });

    it("has a 4 GiB qcow2 disk with one bootable Linux partition from 1 MiB, and no boot code in the MBR", async () => {
      const info = JSON.parse((await execa("qemu-img", ["info", "--output=json", box.disk])).stdout) as {
        format: string;
        "virtual-size": number;
      };
      assert.equal(info.format, "qcow2");
      assert.equal(info["virtual-size"], 4 * 1024 ** 3);
      const fh = await open(raw, "r");
      const mbr = Buffer.alloc(512);
      await fh.read(mbr, 0, 512, 0);
      await fh.close();
      assert.equal(mbr.readUInt16LE(510), 0xaa55, "MBR signature");
      assert.ok(
        mbr.subarray(0, 440).every((b) => b === 0),
        "boot code area is empty: grub-install has not run",
      );
      const entry = mbr.subarray(446, 462);
      assert.equal(entry[0], 0x80, "partition 1 is bootable");
      assert.equal(entry[4], 0x83, "partition 1 is type 83 (Linux)");
      assert.equal(entry.readUInt32LE(8), 2048, "partition 1 starts at sector 2048");
      assert.equal(entry.readUInt32LE(12), (4 * 1024 ** 3) / 512 - 2048, "partition 1 fills the disk");
      assert.ok(
        mbr.subarray(462, 510).every((b) => b === 0),
        "no other partition",
      );
    });

    it("has an ext4 root labelled nbxroot with the kernel and initrd that sit beside the disk", async () => {
      const fh = await open(raw, "r");
      const sb = Buffer.alloc(1024);
      await fh.read(sb, 0, 1024, PART_OFFSET + 1024);
      await fh.close();
      assert.equal(sb.readUInt16LE(56), 0xef53, "ext superblock magic");
      assert.equal(sb.subarray(120, 136).toString("latin1").replace(/\0+$/, ""), "nbxroot");
      const k = box.meta.kernelVersion;
      const boot = await debugfs("ls -p /boot");
      assert.match(boot, new RegExp(`/vmlinuz-${escape(k)}/`));
      assert.match(boot, new RegExp(`/initrd\\.img-${escape(k)}/`));
      assert.doesNotMatch(boot, /\/xen-[^/]*\.gz\//, "Xen is not installed in the image");
      for (const [inImage, beside] of [
        [`/boot/vmlinuz-${k}`, box.kernel],
        [`/boot/initrd.img-${k}`, box.initrd],
      ] as const) {
        const out = path.join(work, path.basename(inImage));
        await debugfs(`dump ${inImage} ${out}`);
        assert.equal(await sha256(out), await sha256(beside), `${inImage} = ${path.basename(beside)}`);
      }
    });

    it("is configured: hostname, fstab, eth0 on DHCP, no renaming, apt sources, no recommends, no cached .debs", async () => {
      assert.equal((await debugfs("cat /etc/hostname")).trim(), "nbxen-debian");
      assert.match(await debugfs("cat /etc/fstab"), /^LABEL=nbxroot\s+\/\s+ext4\s/m);
      const ifaces = await debugfs("cat /etc/network/interfaces");
      assert.match(ifaces, /^auto eth0$/m);
      assert.match(ifaces, /^iface eth0 inet dhcp$/m);
      assert.match(await debugfs("cat /etc/systemd/network/99-default.link"), /^NamePolicy=$/m);
      assert.match(
        await debugfs("cat /etc/apt/sources.list"),
        new RegExp(`^deb http://deb\\.debian\\.org/debian ${release.suite} main$`, "m"),
      );
      assert.match(await debugfs("cat /etc/apt/apt.conf.d/99nbxen"), /APT::Install-Recommends "false";/);
      assert.match(await debugfs("cat /etc/shadow"), /^root:\$[^:]+:/m, "root has a password");
      assert.doesNotMatch(await debugfs("ls /var/cache/apt/archives"), /\.deb/);
      assert.doesNotMatch(await debugfs("ls /usr/share/man"), /man1/, "no manual pages");
      assert.doesNotMatch(await debugfs("cat /etc/resolv.conf"), /^nameserver/m, "no host resolver");
      // The build defers update-initramfs while installing; the image must have the real one back.
      assert.doesNotMatch(await debugfs("cat /var/lib/dpkg/diversions"), /update-initramfs/);
      assert.match(await debugfs("cat /usr/sbin/update-initramfs"), /mkinitramfs/);
    });

    it("has the packages asked for installed, and not Xen", async () => {
      const statusFile = path.join(work, "status");
      await debugfs(`dump /var/lib/dpkg/status ${statusFile}`);
      const installed = new Set(
        [...parseControl(await readFile(statusFile, "utf8"))]
          .filter(([, f]) => f.Status === "install ok installed")
          .map(([name]) => name),
      );
      assert.equal(installed.size, box.meta.packages);
      for (const p of [
        `linux-image-${box.meta.kernelVersion}`,
        "grub-pc",
        "systemd-sysv",
        "udev",
        "ifupdown",
        "isc-dhcp-client",
        "iproute2",
        "iputils-ping",
        "procps",
        "kmod",
        "e2fsprogs",
        "bridge-utils",
        "less",
        "initramfs-tools",
      ]) {
        assert.ok(installed.has(p), `${p} is installed`);
      }
      for (const p of [...debianXenPackages(release), "busybox-static"]) {
        assert.ok(!installed.has(p), `${p} is not installed`);
      }
    });

    it(`has a xen-repo with Xen ${release.xenVersion} and checksums of every .deb`, async () => {
      const files = await readdir(box.xenRepo);
      const debs = files.filter((f) => f.endsWith(".deb")).sort();
      assert.equal(debs.length, box.meta.xenRepoPackages);
      const sums = new Map(
        (await readFile(path.join(box.xenRepo, "SHA256SUMS"), "utf8"))
          .trim()
          .split("\n")
          .map((l) => {
            const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(l);
            assert.ok(m, `SHA256SUMS line: ${l}`);
            return [m[2]!, m[1]!] as const;
          }),
      );
      assert.deepEqual([...sums.keys()].sort(), debs);
      for (const d of debs) assert.equal(await sha256(path.join(box.xenRepo, d)), sums.get(d), d);
      const index = parseControl(await readFile(path.join(box.xenRepo, "Packages"), "utf8"));
      assert.equal(index.size, debs.length);
      for (const p of [...debianXenPackages(release), ...DEBIAN_XEN_REQUEST]) {
        assert.ok(index.has(p), `${p} is in xen-repo`);
      }
      assert.equal(index.get(release.hypervisorPackage)!.Version, box.meta.xenVersion);
      const releaseFile = await readFile(path.join(box.xenRepo, "Release"), "utf8");
      const gz = await readFile(path.join(box.xenRepo, "Packages.gz"));
      assert.match(
        releaseFile,
        new RegExp(` ${createHash("sha256").update(gz).digest("hex")} ${gz.length} Packages.gz`),
      );
    });

    it("xen-repo holds exactly what apt needs to install Xen on that image, offline", async function () {
      const apt = await execa("apt-get", ["--version"], { reject: false });
      if (apt.failed) {
        console.log("      skipped: apt-get is not on this host, so the install cannot be simulated");
        this.skip();
      }
      const root = path.join(work, "apt");
      for (const d of ["state/lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d"]) {
        await mkdir(path.join(root, d), { recursive: true });
      }
      await debugfs(`dump /var/lib/dpkg/status ${path.join(root, "status")}`);
      await writeFile(path.join(root, "sources.list"), `deb [trusted=yes] file:${box.xenRepo} ./\n`);
      const opts = [
        ["Dir::State", `${root}/state`],
        ["Dir::State::status", `${root}/status`],
        ["Dir::Cache", `${root}/cache`],
        ["Dir::Etc::SourceList", `${root}/sources.list`],
        ["Dir::Etc::SourceParts", `${root}/sources.list.d`],
        ["Dir::Etc::Preferences", `${root}/preferences`],
        ["Dir::Etc::PreferencesParts", `${root}/preferences.d`],
        ["APT::Architectures", "amd64"],
        ["APT::Install-Recommends", "false"],
        ["APT::Sandbox::User", "root"],
        ["Debug::NoLocking", "true"],
      ].flatMap(([k, v]) => ["-o", `${k}=${v}`]);
      await execa("apt-get", [...opts, "update"]);
      const sim = await execa("apt-get", [...opts, "install", "--simulate", ...DEBIAN_XEN_REQUEST], {
        env: { LC_ALL: "C" },
        reject: false,
        all: true,
      });
      assert.equal(sim.exitCode, 0, `apt-get --simulate failed:\n${sim.all}`);
      const wouldInstall = [...sim.stdout.matchAll(/^Inst (\S+)/gm)].map((m) => m[1]!).sort();
      const repo = [
        ...parseControl(await readFile(path.join(box.xenRepo, "Packages"), "utf8")).keys(),
      ].sort();
      assert.deepEqual(wouldInstall, repo, "the repository is the install's exact dependency closure");
    });
  });
}
