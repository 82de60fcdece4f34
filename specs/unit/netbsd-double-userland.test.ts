// The installed-NetBSD test double's userland (specs/doubles/netbsd/): its file system on a real qcow2
// image, MAKEDEV, rc.d, pkg_add over HTTP from the double's pkgsrc directory, xl. No QEMU runs.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { netbsdRelease, pkgsrcAllPath } from "../../images/catalog/netbsd.ts";
import { InstalledDisk, type InstalledRecord } from "../doubles/netbsd/installed.ts";
import { writeLocalXenPair, writePackageDir } from "../doubles/netbsd/packages.ts";

const REC: InstalledRecord = {
  version: "10.1",
  scheme: "gpt",
  consdev: "com0",
  rootPassword: "Pw-1",
  network: "dhcp",
  sshd: true,
  hostname: "nbx",
  terminal: "vt100",
};

function usable(): string | undefined {
  for (const tool of ["unshare", "qemu-img", "qemu-io", "busybox", "dash"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  if (spawnSync("unshare", ["-r", "-m", "-p", "-f", "true"]).status !== 0)
    return "user namespaces are not available (unshare -r -m -p -f fails)";
  return undefined;
}

describe("installed-NetBSD double: userland", function () {
  this.timeout(60_000);
  const why = usable();
  let dir: string;
  let disk: InstalledDisk;
  let server: ChildProcess;
  let port: number;

  before(async function () {
    if (why) {
      console.log(`      pending: ${why}`);
      this.skip();
    }
    dir = mkdtempSync(path.join(os.tmpdir(), "nbxen-double-unit-"));
    const rel = netbsdRelease("netbsd-10.1");
    const pkgRoot = path.join(dir, "pkgsrc");
    writePackageDir(path.join(pkgRoot, pkgsrcAllPath(rel)), rel);
    writeLocalXenPair(path.join(pkgRoot, "local"), rel);
    // A separate process: the double's commands run synchronously here, so this process cannot serve.
    port = 20000 + Math.floor(Math.random() * 20000);
    server = spawn("busybox", ["httpd", "-f", "-p", `127.0.0.1:${port}`, "-h", pkgRoot], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 300));
    execFileSync("qemu-img", ["create", "-f", "qcow2", path.join(dir, "disk.qcow2"), "1G"]);
    disk = new InstalledDisk(path.join(dir, "disk.qcow2"), () => undefined);
    disk.create(REC);
  });

  after(async () => {
    if (why) return;
    server.kill();
    disk.removeWorkingCopy();
    rmSync(dir, { recursive: true, force: true });
  });

  function dom0Runtime(): void {
    disk.coldBootRuntime(
      {
        RELEASE: "10.1",
        KERNEL_IDENT: "XEN3_DOM0",
        KERNEL_BANNER: "NetBSD 10.1 (XEN3_DOM0) #0",
        KERNEL_VERSION: "NetBSD 10.1 (XEN3_DOM0) #0",
        ROOT_DEV: "dk0",
        XEN_VERSION: "4.20.1",
        XEN_CMDLINE: "dom0_mem=512M",
        DOM0_MEM: "512",
        TOTAL_MEM: "2048",
        VIRT_CAPS: "pv",
      },
      { "xen/privcmd": "" },
    );
  }

  it("the file system is on the disk image: a fresh working copy read back from it has the install's files", () => {
    disk.removeWorkingCopy();
    assert.equal(disk.load(), true);
    assert.equal(disk.record()?.hostname, "nbx");
    assert.match(disk.file("etc/rc.conf")?.toString() ?? "", /^rc_configured=YES$/m);
  });

  it("MAKEDEV xen makes character devices that survive a reboot (re-read from the disk)", () => {
    dom0Runtime();
    const r = disk.exec(
      "cd /dev && sh MAKEDEV xen && test -c /dev/xenevt && test -c /dev/xsd_kva && echo ok",
    );
    assert.equal(r.stdout.trim(), "ok", r.stderr);
    disk.sync();
    disk.removeWorkingCopy();
    disk.load();
    dom0Runtime();
    assert.equal(disk.exec("test -c /dev/xsd_kva && echo ok").stdout.trim(), "ok");
  });

  it("pkg_add installs the Xen packages and their dependencies from PKG_PATH; xencommons then starts xenstored", () => {
    dom0Runtime();
    const url = `http://10.0.2.2:${port}/${pkgsrcAllPath(netbsdRelease("netbsd-10.1"))}`;
    const add = disk.exec(
      `sh /etc/rc autoboot >/dev/null; PKG_PATH=${url} pkg_add -v xenkernel420 xentools420`,
    );
    assert.equal(add.status, 0, add.stderr + add.stdout);
    assert.match(add.stdout, /depends on `libyajl>=2\.0'/);
    const info = disk.exec(
      "pkg_info -qe xenkernel420 && pkg_info -qe xentools420 && pkg_info -qe libyajl && test -s /usr/pkg/xen420-kernel/xen.gz && echo ok",
    );
    assert.equal(info.stdout.trim(), "ok", info.stderr);
    const xen = disk.exec(
      "cp /usr/pkg/share/examples/rc.d/xencommons /etc/rc.d/ && echo xencommons=YES >> /etc/rc.conf && " +
        "/etc/rc.d/xencommons start && /etc/rc.d/xencommons status && xl list",
    );
    assert.equal(xen.status, 0, xen.stderr + xen.stdout);
    assert.match(xen.stdout, /^Domain-0\s+0\s+512\s+1/m);
  });

  it("pkg_delete refuses a package others require; a locally built pair by URL replaces the installed one, its dependencies from PKG_PATH", () => {
    dom0Runtime();
    const refused = disk.exec("sh /etc/rc autoboot >/dev/null; pkg_delete libyajl");
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /still required by other packages:\s+xentools420-4\.20\.1/);
    const over = disk.exec(`pkg_add http://10.0.2.2:${port}/local/xenkernel420-4.20.2.tgz`);
    assert.notEqual(over.status, 0, "a second version of an installed package must be refused (no -u)");
    assert.match(
      over.stderr,
      /A different version of xenkernel420-4\.20\.2 is already installed: xenkernel420-4\.20\.1/,
    );
    const del = disk.exec(
      "pkg_delete -v xentools420-4.20.1 xenkernel420 && ! pkg_info -qe xentools420 && ! test -e /usr/pkg/xen420-kernel/xen.gz && ! test -e /usr/pkg/sbin/xl && pkg_info -qe libyajl && echo ok",
    );
    assert.equal(del.stdout.trim().split("\n").pop(), "ok", del.stderr + del.stdout);
    const url = `http://10.0.2.2:${port}`;
    const add = disk.exec(
      `PKG_PATH='${url}/nowhere;${url}/${pkgsrcAllPath(netbsdRelease("netbsd-10.1"))}' pkg_add -v ${url}/local/xenkernel420-4.20.2.tgz ${url}/local/xentools420-4.20.2.tgz`,
    );
    assert.equal(add.status, 0, add.stderr + add.stdout);
    const after = disk.exec(
      "pkg_info -qe xenkernel420-4.20.2 && pkg_info -qe xentools420-4.20.2 && gunzip -c /usr/pkg/xen420-kernel/xen.gz | head -1 && cat /var/db/pkg/libyajl-*/+REQUIRED_BY",
    );
    assert.equal(after.status, 0, after.stderr);
    assert.match(after.stdout, /^NBXEN-DOUBLE-XEN version=4\.20\.2$/m);
    assert.match(after.stdout, /^xentools420-4\.20\.2$/m);
  });

  it("xl refuses under a kernel without the dom0's privcmd (kernfs /kern/xen/privcmd)", () => {
    disk.coldBootRuntime({ RELEASE: "10.1", KERNEL_IDENT: "GENERIC" }, {});
    const r = disk.exec("xl list");
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /privileged command interface/);
  });

  it("pkg_add without a reachable network fails and names the URL", () => {
    disk.coldBootRuntime({ RELEASE: "10.1", KERNEL_IDENT: "GENERIC" }, {});
    const r = disk.exec(`PKG_PATH=http://10.0.2.2:${port}/nowhere pkg_add xenkernel415`);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /pkg_summary\.gz/);
  });
});
