import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { netbsdRelease, pkgPath } from "../../images/catalog/netbsd.ts";
import { parseBootCfg, withXenDefault, xenEntry } from "../../harness/boxes/netbsd/bootcfg.ts";
import {
  bridgeConfig,
  bridgeUpNow,
  copyXenKernels,
  domUConfig,
  enableXencommons,
  fetchDomUKernels,
  installBootCfg,
  installXenPackages,
  makeDomUDisk,
  makedevXen,
  writeDomUConfig,
  writeFileCommand,
  xendomainsRcConf,
  type GuestCommand,
} from "../../harness/boxes/netbsd/dom0-commands.ts";
import { getRcVar } from "../../harness/boxes/netbsd/rcconf.ts";
import { UsageError } from "../../lib/errors.ts";

const SIX = netbsdRelease("netbsd-6.1.5");
const TEN = netbsdRelease("netbsd-10.1");
const SERVER = "http://10.0.2.2:8080";
const SERIAL = xenEntry({ dom0MemMiB: 512, serial: true });

function fixture(name: string): string {
  return readFileSync(new URL(`../../harness/boxes/netbsd/fixtures/${name}`, import.meta.url), "utf8");
}

/** Type the commands into a real /bin/sh, one after the other, as the console would. */
async function runAll(cmds: GuestCommand[]): Promise<void> {
  for (const c of cmds) {
    const r = await execa("/bin/sh", ["-c", c.sh], { reject: false });
    assert.equal(r.exitCode, 0, `${c.sh}\n${r.stderr}`);
  }
}

describe("dom0 commands: what is typed", () => {
  it("installs the release's Xen packages from PKG_PATH", () => {
    const cmds = installXenPackages(SIX, pkgPath(SIX, { serverUrl: SERVER }));
    assert.equal(
      cmds[0]!.sh,
      "PKG_PATH='http://10.0.2.2:8080/pkgsrc/packages/NetBSD/amd64/6.1.5/All' pkg_add -v xenkernel42 xentools42",
    );
    assert.equal(cmds[0]!.deviation, undefined);
    assert.equal(cmds[1]!.sh, "pkg_info -qe xenkernel42 && pkg_info -qe xentools42");
    assert.ok(cmds[1]!.check);
    const ten = installXenPackages(TEN, pkgPath(TEN));
    assert.match(ten[0]!.sh, / pkg_add -v xenkernel420 xentools420$/);
    assert.match(ten[0]!.deviation!, /xenkernel42\/xentools42/);
  });

  it("copies xen.gz to / and fetches the dom0 kernel with ftp(1)", () => {
    const cmds = copyXenKernels(SIX, { serverUrl: SERVER });
    assert.deepEqual(
      cmds.map((c) => c.sh),
      [
        "cp /usr/pkg/xen42-kernel/xen.gz /",
        "ftp -V -o /netbsd-XEN3_DOM0.gz 'http://10.0.2.2:8080/netbsd-6.1.5/amd64/binary/kernel/netbsd-XEN3_DOM0.gz'",
        "gzip -t /xen.gz && gzip -t /netbsd-XEN3_DOM0.gz",
      ],
    );
    assert.equal(copyXenKernels(TEN)[0]!.sh, "cp /usr/pkg/xen420-kernel/xen.gz /");
    assert.deepEqual(
      fetchDomUKernels(TEN, { serverUrl: SERVER }).map((c) => c.sh),
      [
        "ftp -V -o /netbsd-XEN3_DOMU.gz 'http://10.0.2.2:8080/netbsd-10.1/amd64/binary/kernel/netbsd-XEN3_DOMU.gz'",
        "ftp -V -o /netbsd-INSTALL_XEN3_DOMU.gz 'http://10.0.2.2:8080/netbsd-10.1/amd64/binary/kernel/netbsd-INSTALL_XEN3_DOMU.gz'",
        "gzip -t /netbsd-XEN3_DOMU.gz && gzip -t /netbsd-INSTALL_XEN3_DOMU.gz",
      ],
    );
  });

  it("creates the Xen devices with the HOWTO's command", () => {
    const cmds = makedevXen();
    assert.equal(cmds[0]!.sh, "cd /dev && sh MAKEDEV xen");
    assert.equal(cmds[0]!.howto, "makedev-xen");
    assert.ok(cmds[1]!.check);
  });

  it("never copies xend, which only xm uses", () => {
    const sixCopies = enableXencommons(SIX).filter((c) => c.sh.startsWith("cp "));
    assert.deepEqual(
      sixCopies.map((c) => c.sh),
      [
        "cp /usr/pkg/share/examples/rc.d/xencommons /etc/rc.d/xencommons",
        "cp /usr/pkg/share/examples/rc.d/xendomains /etc/rc.d/xendomains",
      ],
    );
  });

  it("ties the commands that carry out the HOWTO to their table lines", () => {
    const all = [
      ...installXenPackages(SIX, pkgPath(SIX)),
      ...copyXenKernels(SIX),
      ...makedevXen(),
      ...enableXencommons(SIX),
      ...bridgeConfig("wm0"),
      ...writeDomUConfig({ name: "dom1", memoryMiB: 256, kernel: "XEN3_DOMU", disk: "/home/xen/dom1.img" }),
      ...makeDomUDisk("/home/xen/dom1.img", 1024),
      ...xendomainsRcConf(["dom1"]),
    ];
    assert.deepEqual([...new Set(all.flatMap((c) => (c.howto ? [c.howto] : [])))].sort(), [
      "bootcfg-xen-menu",
      "bridge0-config",
      "domu-config",
      "domu-disk-file",
      "makedev-xen",
      "rcconf-xencommons",
      "rcd-scripts",
      "xendomains",
      "xenkernel42-recommended",
    ]);
    // Only the HOWTO's own lines carry a deviation, never plumbing.
    for (const c of all) if (c.deviation !== undefined) assert.ok(c.howto, c.sh);
  });

  it("writes the domU config the HOWTO describes", () => {
    assert.equal(
      domUConfig({
        name: "dom1",
        memoryMiB: 256,
        kernel: "INSTALL_XEN3_DOMU",
        disk: "/home/xen/dom1.img",
        cdrom: "/home/xen/sets.iso",
      }),
      [
        'name = "dom1"',
        'kernel = "/netbsd-INSTALL_XEN3_DOMU.gz"',
        "memory = 256",
        "vif = [ 'bridge=bridge0' ]",
        "disk = [ 'file:/home/xen/dom1.img,0x1,w', 'file:/home/xen/sets.iso,0x2,r' ]",
        "",
      ].join("\n"),
    );
    assert.match(
      domUConfig({
        name: "d",
        memoryMiB: 64,
        kernel: "XEN3_DOMU",
        kernelDir: "/xen/",
        disk: "/d.img",
        vcpus: 2,
      }),
      /kernel = "\/xen\/netbsd-XEN3_DOMU.gz"\nmemory = 64\nvcpus = 2\n/,
    );
    assert.throws(
      () => domUConfig({ name: "bad name", memoryMiB: 64, kernel: "XEN3_DOMU", disk: "/d.img" }),
      UsageError,
    );
    assert.throws(
      () => domUConfig({ name: "d", memoryMiB: 64, kernel: "XEN3_DOMU", disk: "relative.img" }),
      UsageError,
    );
    assert.throws(() => bridgeConfig("wm0; reboot"), UsageError);
  });

  it("keeps the bridge commands safe to repeat", () => {
    assert.deepEqual(
      bridgeUpNow("wm0").map((c) => c.sh),
      [
        "ifconfig bridge0 >/dev/null 2>&1 || ifconfig bridge0 create",
        "brconfig bridge0 | grep -q '^[[:space:]]*wm0 flags=' || brconfig bridge0 add wm0",
        "ifconfig bridge0 up",
        "brconfig bridge0 | grep -q '^[[:space:]]*wm0 flags='",
      ],
    );
  });
});

describe("dom0 commands run by /bin/sh against a temporary root", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "dom0-"));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("writes a file through a quoted here-document byte for byte, expanding nothing", async () => {
    const content = "a $HOME `id` \\n 'q' \"d\"\nNBXEN_EOF\n\ttabbed\nno final newline";
    const file = join(root, "f");
    await runAll([{ sh: writeFileCommand(file, content) }]);
    assert.equal(readFileSync(file, "utf8"), `${content}\n`);
  });

  for (const v of ["6.1.5", "9.4", "10.1"] as const) {
    it(`installs the edited boot.cfg of NetBSD ${v}, keeping the original aside`, async () => {
      const original = fixture(`boot.cfg.netbsd-${v}`);
      writeFileSync(join(root, "boot.cfg"), original);
      const edited = withXenDefault(original, SERIAL);
      const cmds = installBootCfg(edited, SERIAL, { root });
      assert.match(cmds[1]!.deviation!, /console=pc/);
      await runAll(cmds);
      assert.equal(readFileSync(join(root, "boot.cfg"), "utf8"), edited);
      assert.equal(readFileSync(join(root, "boot.cfg.nbxen-orig"), "utf8"), original);
      await runAll(installBootCfg(edited, SERIAL, { root }));
      assert.equal(
        readFileSync(join(root, "boot.cfg.nbxen-orig"), "utf8"),
        original,
        "the backup keeps the first original",
      );
      assert.equal(parseBootCfg(readFileSync(join(root, "boot.cfg"), "utf8")).default, 6);
    });
  }

  it("enables xencommons: copies the rc.d scripts and sets rc.conf, twice without change", async () => {
    mkdirSync(join(root, "usr/pkg/share/examples/rc.d"), { recursive: true });
    mkdirSync(join(root, "etc/rc.d"), { recursive: true });
    for (const s of ["xencommons", "xendomains", "xend", "xen-watchdog"]) {
      writeFileSync(join(root, "usr/pkg/share/examples/rc.d", s), `#!/bin/sh\n# ${s}\n`);
    }
    writeFileSync(join(root, "etc/rc.conf"), fixture("rc.conf.netbsd-6.1.5"));
    await runAll(enableXencommons(SIX, { root }));
    const once = readFileSync(join(root, "etc/rc.conf"), "utf8");
    assert.equal(getRcVar(once, "xencommons"), "YES");
    assert.equal(readFileSync(join(root, "etc/rc.d/xencommons"), "utf8"), "#!/bin/sh\n# xencommons\n");
    assert.throws(() => statSync(join(root, "etc/rc.d/xend")));
    await runAll(enableXencommons(SIX, { root }));
    assert.equal(readFileSync(join(root, "etc/rc.conf"), "utf8"), once);
  });

  it("sets xendomains and its check passes", async () => {
    mkdirSync(join(root, "etc"));
    writeFileSync(join(root, "etc/rc.conf"), fixture("rc.conf.netbsd-10.1"));
    await runAll(xendomainsRcConf(["dom1", "dom2"], { root }));
    assert.equal(getRcVar(readFileSync(join(root, "etc/rc.conf"), "utf8"), "xendomains"), "dom1 dom2");
    // The check fails when the value is not what was asked.
    const wrong = xendomainsRcConf(["dom3"], { root })[1]!;
    const r = await execa("/bin/sh", ["-c", wrong.sh], { reject: false });
    assert.notEqual(r.exitCode, 0);
  });

  it("writes /etc/ifconfig.bridge0", async () => {
    mkdirSync(join(root, "etc"));
    await runAll(bridgeConfig("vioif0", { root }));
    assert.equal(
      readFileSync(join(root, "etc/ifconfig.bridge0"), "utf8"),
      "create\nup\n!brconfig bridge0 add vioif0\n",
    );
  });

  it("writes the domU config where xendomains looks for it", async () => {
    mkdirSync(join(root, "usr/pkg/etc/xen"), { recursive: true });
    const opts = { name: "dom1", memoryMiB: 256, kernel: "XEN3_DOMU", disk: "/home/xen/dom1.img" };
    await runAll(writeDomUConfig(opts, { root }));
    assert.equal(readFileSync(join(root, "usr/pkg/etc/xen/dom1"), "utf8"), domUConfig(opts));
  });

  it("makes a domU disk of the asked size once, and never wipes it afterwards", async () => {
    const disk = join(root, "home/xen/dom1.img");
    await runAll(makeDomUDisk(disk, 2));
    assert.equal(statSync(disk).size, 2 * 1024 * 1024);
    writeFileSync(disk, "installed domU");
    await runAll(makeDomUDisk(disk, 2));
    assert.equal(readFileSync(disk, "utf8"), "installed domU");
  });
});
