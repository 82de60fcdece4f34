#!/usr/bin/env bash
# Builds the bench's raw floor from the debian-12 box's own files: Debian's Xen 4.17 and the box's Linux
# kernel, booted without GRUB, systemd or a disk.
#   OUTDIR/xen          Xen, decompressed from xen-hypervisor-4.17-amd64's xen.gz (QEMU's multiboot
#                       loader takes an uncompressed ELF)
#   OUTDIR/vmlinuz      the box's kernel: the dom0's, and the domU's
#   OUTDIR/dom0.cpio    the dom0's initramfs (uncompressed newc): busybox-static, xl, xenstored,
#                       xenconsoled, xenconsole, xen-init-dom0 and the shared libraries they load (Xen's
#                       from xen-repo, the C library and the rest from the box's disk), the Xen modules
#                       (evtchn, privcmd, xenfs, gntdev, gntalloc, from the box's disk), the domU's kernel,
#                       initramfs and config. Its /init starts xenstored and xenconsoled, runs
#                       `xl create -c` of the PV domU, prints a marker when the domU is gone, powers off.
#   OUTDIR/floor.json   what was built (Xen version, kernel version, sizes)
# The domU's initramfs holds busybox and an /init that prints a marker and powers off.
# Usage: floor-build.sh BOXDIR OUTDIR. The markers come from the environment (bench/floor.ts sets them):
#   FLOOR_DOM0_MARK, FLOOR_TOOLS_MARK, FLOOR_DOMU_MARK, FLOOR_DONE_MARK.
# Needs: dpkg-deb, qemu-img, debugfs (e2fsprogs), cpio. Works in a temp dir renamed to OUTDIR at the end.
set -euo pipefail

die() {
  printf 'floor-build: %s\n' "$*" >&2
  exit 1
}
[ $# -eq 2 ] || die "usage: $0 BOXDIR OUTDIR"
box=$(realpath -- "$1")
out=$(realpath -m -- "$2")
: "${FLOOR_DOM0_MARK:?}" "${FLOOR_TOOLS_MARK:?}" "${FLOOR_DOMU_MARK:?}" "${FLOOR_DONE_MARK:?}" "${FLOOR_DOMU_EXTRA:?}"
export PATH="$PATH:/usr/sbin:/sbin"
for t in dpkg-deb:dpkg qemu-img:qemu-utils debugfs:e2fsprogs cpio:cpio; do
  command -v "${t%%:*}" >/dev/null || die "${t%%:*} not found: apt-get install ${t#*:}"
done
repo=$box/xen-repo
kver=$(sed -n 's/.*"kernelVersion": *"\([^"]*\)".*/\1/p' "$box/box.json")
[ -n "$kver" ] || die "$box/box.json names no kernelVersion"

mkdir -p "$(dirname "$out")"
stage=$(mktemp -d "$out.tmp.XXXXXX")
trap 'rm -rf "$stage"' EXIT
work=$stage/.work
debs=$work/debs
mkdir -p "$debs"

shopt -s nullglob
for p in xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common xenstore-utils busybox-static libyajl2 libxen; do
  found=("$repo/$p"*_*.deb)
  [ ${#found[@]} -gt 0 ] || die "no $p*.deb in $repo"
  for d in "${found[@]}"; do dpkg-deb -x "$d" "$debs"; done
done
shopt -u nullglob
xen_version=$(dpkg-deb -f "$(ls "$repo"/xen-hypervisor-4.17-amd64_*.deb | head -n 1)" Version)
gzip -dc "$debs"/boot/xen-4.17-amd64.gz >"$stage/xen"
cp "$box/vmlinuz" "$stage/vmlinuz"

# The box's root filesystem (partition 1 at 1 MiB), read with debugfs: its libraries and Xen modules.
raw=$work/disk.raw
qemu-img convert -O raw "$box/disk.qcow2" "$raw"
fs="$raw?offset=1048576"
boxfs=$work/boxfs
mkdir -p "$boxfs/lib" "$boxfs/modules"
debugfs -R "rdump /usr/lib/x86_64-linux-gnu $boxfs/lib" "$fs" 2>/dev/null
boxlib=$boxfs/lib/x86_64-linux-gnu
[ -x "$boxlib/ld-linux-x86-64.so.2" ] || die "the box's disk has no /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
xenmods=(xen-evtchn xen-privcmd xenfs/xenfs xen-gntdev xen-gntalloc)
for m in "${xenmods[@]}"; do
  debugfs -R "dump /usr/lib/modules/$kver/kernel/drivers/xen/$m.ko $boxfs/modules/${m##*/}.ko" "$fs" 2>/dev/null
  [ -s "$boxfs/modules/${m##*/}.ko" ] || die "the box's disk has no Xen module $m.ko for $kver"
done
rm -f "$raw"

# --- the domU's initramfs ---------------------------------------------------------------------------
domu=$work/domu
mkdir -p "$domu/bin"
cp "$debs/bin/busybox" "$domu/bin/busybox"
cat >"$domu/init" <<EOF
#!/bin/busybox sh
echo "$FLOOR_DOMU_MARK"
/bin/busybox poweroff -f
EOF
chmod 755 "$domu/init"

# --- the dom0's initramfs ---------------------------------------------------------------------------
root=$work/dom0
xenbin=/usr/lib/xen-4.17/bin
mkdir -p "$root"/{bin,lib/x86_64-linux-gnu,lib64,lib/modules,floor,etc/xen,"$xenbin",usr/bin}
cp "$debs/bin/busybox" "$root/bin/busybox"
bins=("$xenbin/xl" "$xenbin/xenstored" "$xenbin/xenconsoled" "$xenbin/xenconsole" "$xenbin/xen-init-dom0"
  /usr/bin/xenstore)
for b in "${bins[@]}"; do cp "$debs$b" "$root$b"; done
ln -s xenstore "$root/usr/bin/xenstore-read"
# The libraries each program loads, resolved by the box's own dynamic loader: Xen's from the packages,
# the rest from the box's disk.
libpath=$debs/usr/lib/x86_64-linux-gnu:$boxlib
for b in "${bins[@]}"; do
  "$boxlib/ld-linux-x86-64.so.2" --library-path "$libpath" --list "$debs$b"
done | sed -n 's/.* => \(\/[^ ]*\) (0x.*/\1/p' | sort -u | while read -r lib; do
  cp -L "$lib" "$root/lib/x86_64-linux-gnu/$(basename "$lib")"
done
# glibc loads libgcc_s with dlopen when a thread is cancelled (xl does, as a domain goes away).
cp -L "$boxlib/libgcc_s.so.1" "$root/lib/x86_64-linux-gnu/"
cp -L "$boxlib/ld-linux-x86-64.so.2" "$root/lib64/ld-linux-x86-64.so.2"
cp "$debs/etc/xen/xl.conf" "$root/etc/xen/xl.conf"
cp "$boxfs"/modules/*.ko "$root/lib/modules/"
cp "$box/vmlinuz" "$root/floor/vmlinuz"
(cd "$domu" && find . | cpio -o -H newc --quiet >"$root/floor/domu.cpio")
cat >"$root/floor/domu.cfg" <<EOF
name = "floor"
kernel = "/floor/vmlinuz"
ramdisk = "/floor/domu.cpio"
extra = "$FLOOR_DOMU_EXTRA"
memory = 128
EOF
modules=""
for m in "${xenmods[@]}"; do modules="$modules ${m##*/}"; done
cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:$xenbin:/usr/bin LD_LIBRARY_PATH=/lib/x86_64-linux-gnu
mkdir -p /proc /sys /dev /run /tmp /var/lib/xen /var/lib/xenstored /var/log/xen /var/lock
ln -s /run /var/run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run/xen /run/xenstored
mount -t devpts devpts /dev/pts
echo "$FLOOR_DOM0_MARK"
for m in$modules; do insmod /lib/modules/\$m.ko || echo "floor: insmod \$m failed"; done
mount -t xenfs xenfs /proc/xen
xenstored --pid-file /run/xen/xenstored.pid
until xenstore-read -s / >/dev/null 2>&1; do sleep 0.1; done
xen-init-dom0 >/dev/null
xenconsoled --pid-file /run/xen/xenconsoled.pid
echo "$FLOOR_TOOLS_MARK"
xl create -c /floor/domu.cfg
echo "$FLOOR_DONE_MARK xl=\$?"
poweroff -f
EOF
chmod 755 "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet >"$stage/dom0.cpio")

cat >"$stage/floor.json" <<EOF
{
  "xenVersion": "$xen_version",
  "kernelVersion": "$kver",
  "dom0InitramfsBytes": $(stat -c %s "$stage/dom0.cpio"),
  "domUInitramfsBytes": $(stat -c %s "$root/floor/domu.cpio"),
  "libraries": $(find "$root/lib/x86_64-linux-gnu" -type f | wc -l)
}
EOF
rm -rf "$work"
rm -rf "$out"
mv "$stage" "$out"
trap - EXIT
echo "floor-build: $out (Xen $xen_version, Linux $kver, dom0 initramfs $(du -h "$out/dom0.cpio" | cut -f1))"
