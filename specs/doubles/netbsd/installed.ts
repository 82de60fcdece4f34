/**
 * TEST DOUBLE of an installed NetBSD machine (see README.md): its root file system, kept on the
 * machine's disk image (a tar.gz after a 512-byte header, written with qemu-io, so qemu-img snapshots
 * and the harness's `--from` see it), the boot from that disk (boot.cfg, Xen, the kernel's messages)
 * and its userland: the host's dash as /bin/sh and busybox as the small tools, chrooted into the root
 * in a user, mount and pid namespace, with NetBSD's commands as sh scripts (rootfs/, pkgfiles/).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";

import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { kernelImage } from "./packages.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const MAGIC = "NBXENFS1";

export interface InstalledRecord {
  version: string;
  scheme: "gpt" | "mbr";
  consdev: string;
  rootPassword: string;
  network: "dhcp" | "none";
  sshd: boolean;
  hostname: string;
  terminal: string;
}

/** busybox applets the root gets; NetBSD's own commands (rootfs/) take precedence over these names. */
const BUSYBOX = (
  "awk basename cat chmod chown cmp cp cut date dd diff dirname du echo egrep env expr false fgrep find " +
  "grep gunzip gzip head id kill ln ls md5sum mkdir mkfifo mktemp mount mv od printf pwd readlink rm " +
  "rmdir sed seq sha256sum sha512sum sleep sort stty sync tail tar tee test [ touch tr true umount uniq " +
  "unxz wc wget which xargs xz xzcat yes zcat"
).split(" ");

function imageFormat(disk: string): "qcow2" | "raw" {
  const fd = openSync(disk, "r");
  try {
    const b = Buffer.alloc(4);
    readSync(fd, b, 0, 4, 0);
    return b.toString("latin1") === "QFI\xfb" ? "qcow2" : "raw";
  } finally {
    closeSync(fd);
  }
}

/** The ids the guest's processes run as: the simulator's own, or "nobody" when it runs as root. */
export function guestIds(): { uid?: number; gid?: number } {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return {};
  try {
    const uid = Number(execFileSync("id", ["-u", "nobody"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "nobody"], { encoding: "utf8" }).trim());
    return Number.isFinite(uid) && Number.isFinite(gid) ? { uid, gid } : {};
  } catch {
    return {};
  }
}

export class InstalledDisk {
  readonly root: string;

  constructor(
    readonly disk: string,
    private readonly log: (line: string) => void,
  ) {
    // The working copy (the "page cache") of the file system on the disk. Not beside the disk: the
    // machine's directory is private (0700) and the guest's processes run as another user.
    const id = createHash("sha256").update(path.resolve(disk)).digest("hex").slice(0, 16);
    this.root = path.join(os.tmpdir(), `nbxen-netbsd-root-${id}`);
  }

  private own(): void {
    const ids = guestIds();
    if (ids.uid !== undefined) execFileSync("chown", ["-R", `${ids.uid}:${ids.gid}`, this.root]);
  }

  /** What sysinst leaves on the disk: the sets' files (as far as the double has them) and its config. */
  create(r: InstalledRecord): void {
    const R = this.root;
    rmSync(R, { recursive: true, force: true });
    mkdirSync(R, { recursive: true });
    cpSync(path.join(HERE, "rootfs"), R, { recursive: true });
    for (const d of [
      "proc",
      "kern",
      "tmp",
      "root",
      "var/run",
      "var/db/pkg",
      "usr/pkg",
      "home",
      "lib64",
      "lib/x86_64-linux-gnu",
    ])
      mkdirSync(path.join(R, d), { recursive: true });
    chmodSync(path.join(R, "tmp"), 0o1777);
    copyFileSync("/usr/bin/busybox", path.join(R, "bin/busybox"));
    for (const a of BUSYBOX) {
      const where = ["stat", "hostname"].includes(a) ? undefined : path.join(R, "bin", a);
      if (where && !existsSync(where)) symlinkSync("busybox", where);
    }
    // NetBSD's sh is an ash like dash: dash (and the C library it needs) stands in for it.
    copyFileSync("/bin/dash", path.join(R, "bin/sh"));
    for (const lib of ldLibs("/bin/dash")) copyFileSync(lib, path.join(R, lib));
    for (const n of ["null", "zero", "tty"]) writeFileSync(path.join(R, "dev", n), "");
    writeFileSync(path.join(R, ".nbxen-null"), "");
    writeFileSync(path.join(R, "dev/.nbxen-nodes"), "");
    writeFileSync(path.join(R, "netbsd"), gunzipSync(kernelImage("GENERIC", r.version)));
    // etc/etc.amd64/boot.cfg (10.x: rndseed in each entry)
    const seed = Number.parseInt(r.version, 10) >= 10 ? "rndseed /var/db/entropy-file;" : "";
    writeFileSync(
      path.join(R, "boot.cfg"),
      [
        `menu=Boot normally:${seed}boot netbsd`,
        `menu=Boot single user:${seed}boot netbsd -s`,
        `menu=Disable ACPI:${seed}boot netbsd -2`,
        `menu=Disable ACPI and SMP:${seed}boot netbsd -12`,
        "menu=Drop to boot prompt:prompt",
        "default=1",
        "timeout=5",
        "clear=1",
        "",
      ].join("\n"),
    );
    mkdirSync(path.join(R, "etc/defaults"), { recursive: true });
    writeFileSync(
      path.join(R, "etc/defaults/rc.conf"),
      "rc_configured=NO\nnetwork=YES\ndhcpcd=NO\nsshd=NO\ncron=YES\n",
    );
    // What sysinst's configmenu writes to rc.conf (usr.sbin/sysinst/configmenu.c, util.c: add_rc_conf)
    writeFileSync(
      path.join(R, "etc/rc.conf"),
      [
        "#\t$NetBSD: rc.conf,v 1.97 2014/07/14 12:29:48 mbalmer Exp $",
        "#",
        "# see rc.conf(5) for more information.",
        "",
        "if [ -r /etc/defaults/rc.conf ]; then",
        "\t. /etc/defaults/rc.conf",
        "fi",
        "",
        "rc_configured=YES",
        "",
        `hostname=${r.hostname}`,
        ...(r.network === "dhcp" ? ["dhcpcd=YES"] : []),
        ...(r.sshd ? ["sshd=YES"] : []),
        "",
      ].join("\n"),
    );
    const hash = createHash("sha512").update(r.rootPassword).digest("hex");
    writeFileSync(
      path.join(R, "etc/master.passwd"),
      `root:${r.rootPassword ? hash : ""}:0:0::0:0:Charlie &:/root:/bin/sh\n`,
    );
    writeFileSync(path.join(R, "etc/nbxen/install.json"), JSON.stringify(r, null, 2) + "\n");
    this.own();
    this.sync();
    this.log(`installed system: root built in ${R} and written to ${this.disk}`);
  }

  /** The install's record as the disk holds it, or undefined when the disk holds no installed system. */
  record(): InstalledRecord | undefined {
    const f = path.join(this.root, "etc/nbxen/install.json");
    return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as InstalledRecord) : undefined;
  }

  /** Writes the root file system into the disk image. */
  sync(): void {
    const tmp = `${this.root}.tar.gz`;
    execFileSync("tar", [
      "-C",
      this.root,
      "--exclude=./proc/*",
      "--exclude=./.nbxen-power",
      "-czSf",
      tmp,
      ".",
    ]);
    const len = readFileSync(tmp).length;
    const hdr = `${this.root}.hdr`;
    writeFileSync(hdr, Buffer.concat([Buffer.from(`${MAGIC} ${len}\n`), Buffer.alloc(512)]).subarray(0, 512));
    execFileSync("qemu-io", [
      "-f",
      imageFormat(this.disk),
      "-c",
      `write -q -s ${tmp} 512 ${len}`,
      "-c",
      `write -q -s ${hdr} 0 512`,
      this.disk,
    ]);
    rmSync(tmp, { force: true });
    rmSync(hdr, { force: true });
  }

  /** Reads the root file system from the disk image; false when the disk holds none. */
  load(): boolean {
    const fmt = imageFormat(this.disk);
    const out = `${this.root}.read`;
    const dd = (args: string[]) =>
      execFileSync("qemu-img", [
        "dd",
        "-f",
        fmt,
        "-O",
        "raw",
        `if=${this.disk}`,
        `of=${out}`,
        "bs=512",
        ...args,
      ]);
    dd(["count=1"]);
    const m = new RegExp(`^${MAGIC} (\\d+)\\n`).exec(readFileSync(out, "latin1"));
    if (!m) {
      rmSync(out, { force: true });
      return false;
    }
    const len = Number(m[1]);
    rmSync(out, { force: true });
    // qemu-img dd counts the skipped blocks in count= (QEMU 7.2)
    dd(["skip=1", `count=${1 + Math.ceil(len / 512)}`]);
    const tgz = readFileSync(out).subarray(0, len);
    writeFileSync(out, tgz);
    rmSync(this.root, { recursive: true, force: true });
    mkdirSync(this.root, { recursive: true });
    execFileSync("tar", ["-C", this.root, "-xzf", out]);
    rmSync(out, { force: true });
    this.own();
    return true;
  }

  /** load(), false also when the image cannot be read (not an image qemu-img knows). */
  tryLoad(): boolean {
    try {
      return this.load();
    } catch (error) {
      this.log(`installed system not read from ${this.disk}: ${String(error).split("\n")[0]}`);
      return false;
    }
  }

  saveSnapshot(name: string): void {
    this.sync();
    try {
      execFileSync("qemu-img", ["snapshot", "-d", name, this.disk], { stdio: "ignore" });
    } catch {
      // none by that name
    }
    execFileSync("qemu-img", ["snapshot", "-c", name, this.disk]);
  }

  loadSnapshot(name: string): boolean {
    try {
      execFileSync("qemu-img", ["snapshot", "-a", name, this.disk], { stdio: "ignore" });
    } catch {
      return false;
    }
    return this.load();
  }

  deleteSnapshot(name: string): void {
    try {
      execFileSync("qemu-img", ["snapshot", "-d", name, this.disk], { stdio: "ignore" });
    } catch {
      // none by that name
    }
  }

  file(p: string): Buffer | undefined {
    const f = path.join(this.root, p);
    return existsSync(f) ? readFileSync(f) : undefined;
  }

  /** A boot's fresh kernel state: /kern, /proc and /var/run start empty (tmpfs-like; cleanvar). */
  coldBootRuntime(env: Record<string, string>, kern: Record<string, string>, xenDmesg?: string): void {
    const R = this.root;
    for (const d of ["kern", "var/run", "tmp"]) {
      rmSync(path.join(R, d), { recursive: true, force: true });
      mkdirSync(path.join(R, d), { recursive: true });
    }
    chmodSync(path.join(R, "tmp"), 0o1777);
    rmSync(path.join(R, ".nbxen-power"), { force: true });
    mkdirSync(path.join(R, "var/run/nbxen/if"), { recursive: true });
    for (const [n, v] of Object.entries(kern)) {
      mkdirSync(path.dirname(path.join(R, "kern", n)), { recursive: true });
      writeFileSync(path.join(R, "kern", n), v);
    }
    writeFileSync(
      path.join(R, "var/run/nbxen/boot.env"),
      Object.entries(env)
        .map(([k, v]) => `${k}='${v.replace(/'/g, "'\\''")}'`)
        .join("\n") + "\n",
    );
    writeFileSync(path.join(R, "var/run/nbxen/if/lo0"), "");
    writeFileSync(path.join(R, "var/run/nbxen/if/wm0"), "");
    writeFileSync(path.join(R, "var/run/nbxen/if/wm0.mac"), "52:54:00:12:34:56");
    const rc = readFileSync(path.join(R, "etc/rc.conf"), "utf8");
    writeFileSync(
      path.join(R, "var/run/nbxen/hostname"),
      (/^hostname=(\S+)/m.exec(rc)?.[1] ?? "netbsd") + "\n",
    );
    if (xenDmesg !== undefined) writeFileSync(path.join(R, "var/run/nbxen/xen-dmesg"), xenDmesg);
    this.own();
  }

  /** The host-side start of the guest's namespaces: bind the device nodes, then chroot and run `last`. */
  private launcher(last: string): string {
    return [
      "R=$1; M=$2",
      'mount --bind /dev/null "$R/.nbxen-null" || exit 1',
      'for n in null zero tty; do mount --bind /dev/$n "$R/dev/$n"; done',
      'while read -r p t ma mi; do [ -n "$p" ] || continue; [ -e "$R$p" ] || : > "$R$p"; mount --bind /dev/null "$R$p"; done < "$R/dev/.nbxen-nodes"',
      last,
    ].join("\n");
  }

  /** Runs a command in the installed system as its root, without a terminal (the double's own tests). */
  exec(script: string): { status: number | null; stdout: string; stderr: string } {
    const cmd = `PATH=/sbin:/usr/sbin:/bin:/usr/bin:/usr/pkg/sbin:/usr/pkg/bin; export PATH; cd /; ${script}`;
    const r = spawnSync(
      "unshare",
      [
        "-r",
        "-m",
        "-p",
        "-f",
        "--kill-child",
        "/bin/sh",
        "-c",
        this.launcher('exec chroot "$R" /bin/sh -c "$M"'),
        "nbxen-exec",
        this.root,
        cmd,
      ],
      {
        encoding: "utf8",
        cwd: "/",
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" },
        ...guestIds(),
      },
    );
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /**
   * Starts the machine's userland on this terminal: init(8) in "boot" or "resume" mode, chrooted into the
   * root in its own user, mount and pid namespaces (device nodes bound there, and every process, end with it).
   */
  startInit(mode: "boot" | "resume", term: string): ChildProcess {
    rmSync(path.join(this.root, ".nbxen-power"), { force: true });
    const launcher = this.launcher('exec chroot "$R" /bin/sh /etc/nbxen/init "$M"');
    return spawn(
      "unshare",
      ["-r", "-m", "-p", "-f", "--kill-child", "/bin/sh", "-c", launcher, "nbxen-init", this.root, mode],
      {
        stdio: "inherit",
        cwd: "/",
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", TERM: term, LANG: "C" },
        ...guestIds(),
      },
    );
  }

  /** What the guest asked of reboot(2), if it has. */
  powerRequest(): string | undefined {
    const f = path.join(this.root, ".nbxen-power");
    return existsSync(f) ? readFileSync(f, "utf8").trim() : undefined;
  }

  removeWorkingCopy(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

function ldLibs(bin: string): string[] {
  const out = execFileSync("ldd", [bin], { encoding: "utf8" });
  return [...out.matchAll(/(\/\S+\.so[.\d]*)/g)]
    .map((m) => m[1]!)
    .filter((f, i, a) => a.indexOf(f) === i && existsSync(f));
}
