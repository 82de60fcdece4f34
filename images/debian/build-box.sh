#!/usr/bin/env bash
# Builds a Debian reference box (debian-12, debian-13, ...) from Debian's packages, without root if need be:
#   OUTDIR/disk.qcow2   MBR disk, partition 1 = ext4 root labelled nbxroot (GRUB not in the MBR yet)
#   OUTDIR/vmlinuz, OUTDIR/initrd.img   for the first boot by direct kernel boot
#   OUTDIR/xen-repo/    flat apt repository: what `apt-get install $NBXEN_XEN_REQUEST` needs on that
#                       root filesystem, and nothing else
#   OUTDIR/box.json     facts about the box
# Usage: build-box.sh [--force] OUTDIR
# Idempotent: an OUTDIR with box.json and every file is left alone unless --force. Work happens in a
# sibling temp dir that is renamed to OUTDIR at the end.
# Env: NBXEN_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#      NBXEN_DEBIAN_SECURITY_MIRROR (default http://deb.debian.org/debian-security),
#      NBXEN_BUILD_VERBOSE=1 (show apt's and dpkg's output),
#      NBXEN_ROOT_PASSWORD, NBXEN_BOX_FORMAT (required: the root password and box.json's "format"; the
#      harness passes DEBIAN_ROOT_PASSWORD and DEBIAN_BOX_FORMAT from images/debian/box.ts),
#      NBXEN_DEBIAN_BOX, NBXEN_DEBIAN_SUITE, NBXEN_DEBIAN_MAJOR, NBXEN_XEN_HYPERVISOR_PACKAGE,
#      NBXEN_XEN_UTILS_PACKAGE, NBXEN_XEN_REQUEST (required: the release, from images/debian/releases.ts
#      buildEnv, e.g. debian-13 trixie 13 xen-hypervisor-4.20-amd64 xen-utils-4.20).
# Needs: mmdebstrap, e2fsprogs, fdisk, qemu-utils, dpkg-dev; without root also uidmap and subuids.
set -euo pipefail

need_env() { [ -n "${!1:-}" ] || { printf '[build-box] error: set %s (%s)\n' "$1" "$2" >&2; exit 1; }; }
need_env NBXEN_DEBIAN_BOX "the box name, e.g. debian-13"
need_env NBXEN_DEBIAN_SUITE "Debian's suite, e.g. trixie"
need_env NBXEN_DEBIAN_MAJOR "Debian's major version, e.g. 13"
need_env NBXEN_XEN_HYPERVISOR_PACKAGE "e.g. xen-hypervisor-4.20-amd64"
need_env NBXEN_XEN_UTILS_PACKAGE "e.g. xen-utils-4.20"
need_env NBXEN_XEN_REQUEST "the packages the box's install step asks apt for"
readonly BOX=$NBXEN_DEBIAN_BOX
readonly SUITE=$NBXEN_DEBIAN_SUITE
readonly MAJOR=$NBXEN_DEBIAN_MAJOR
readonly XEN_HV_PACKAGE=$NBXEN_XEN_HYPERVISOR_PACKAGE
readonly XEN_UTILS_PACKAGE=$NBXEN_XEN_UTILS_PACKAGE
readonly ROOT_LABEL=nbxroot
readonly FORMAT=${NBXEN_BOX_FORMAT:?set NBXEN_BOX_FORMAT to the box format the harness expects}
readonly ROOT_PASSWORD=${NBXEN_ROOT_PASSWORD:?set NBXEN_ROOT_PASSWORD to the root password the box gets}
readonly HOSTNAME_=nbxen-debian
readonly NIC=eth0
readonly DISK_MIB=4096
readonly PART_START_MIB=1
# net.ifnames=0 is belt and braces: the image overrides 99-default.link so the NIC keeps its kernel
# name (eth0) with any command line, e.g. the Xen dom0 entries update-grub writes later.
readonly KERNEL_CMDLINE="root=LABEL=${ROOT_LABEL} ro console=ttyS0,115200n8 net.ifnames=0"
readonly XEN_PACKAGES=$NBXEN_XEN_REQUEST
readonly INCLUDE="linux-image-amd64,grub-pc,systemd-sysv,udev,ifupdown,isc-dhcp-client,iproute2,\
iputils-ping,procps,kmod,e2fsprogs,bridge-utils,less,dbus"
MIRROR=${NBXEN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${NBXEN_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

log() { printf '[build-box %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() {
  printf '[build-box] error: %s\n' "$*" >&2
  exit 1
}

force=0
if [ "${1:-}" = "--force" ]; then
  force=1
  shift
fi
[ $# -eq 1 ] || die "usage: $0 [--force] OUTDIR"
outdir=$(realpath -m -- "$1")
case "$outdir" in
  *[[:space:]]*) die "OUTDIR must not contain whitespace (mmdebstrap's special hooks split on it): $outdir" ;;
esac

box_complete() {
  local d=$1 f
  for f in box.json disk.qcow2 vmlinuz initrd.img xen-repo/Packages xen-repo/Packages.gz \
    xen-repo/Release xen-repo/SHA256SUMS; do
    [ -s "$d/$f" ] || return 1
  done
}
if [ "$force" -eq 0 ] && box_complete "$outdir"; then
  log "box already built in $outdir (use --force to rebuild)"
  exit 0
fi

export PATH="$PATH:/usr/sbin:/sbin"
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: apt-get install $2"; }
need mmdebstrap mmdebstrap
need mke2fs e2fsprogs
need sfdisk fdisk
need qemu-img qemu-utils
need dpkg-scanpackages dpkg-dev
# mmdebstrap verifies the suite's Release files with the host's apt keys; a bookworm host knows trixie's
# only from debian-archive-keyring 2023.3+deb12u2 on. Said before anything is downloaded.
keyring=/usr/share/keyrings/debian-archive-$SUITE-automatic.gpg
[ -s "$keyring" ] || die "the host has no archive keys for Debian $SUITE ($keyring is missing), so $SUITE's \
packages cannot be verified: apt-get install debian-archive-keyring (bookworm's 2023.3+deb12u2 or later has trixie's)"

# As root, unshare mode only unshares the mount/pid namespaces (so nothing leaks onto the host if we die)
# and file ownership is real. As a user, it needs subuids; the root dir is then owned by them and is
# read and removed from inside such a namespace (mmdebstrap --unshare-helper).
ns_root=()
[ "$(id -u)" -eq 0 ] || ns_root=(mmdebstrap --unshare-helper)
as_ns_root() { "${ns_root[@]}" "$@"; }

started=$(date +%s)
mkdir -p "$(dirname "$outdir")"
stage=$(mktemp -d "${outdir}.tmp.XXXXXX")
chmod 755 "$stage"
work="$stage/.work"
rootdir="$work/root"
mkdir -m 755 "$work"

cleanup() {
  if [ -d "$rootdir" ]; then
    as_ns_root find "$rootdir" -mindepth 1 -delete 2>/dev/null || true
    rmdir "$rootdir" 2>/dev/null || true
  fi
  rm -rf "$stage"
}
trap cleanup EXIT
# Long commands run in the background, in a process group of their own, so that a signal is handled
# at once (bash runs traps only between foreground commands) and reaches all of the command's
# processes (mmdebstrap's main process alone would finish the current stage first); then the EXIT
# trap removes the temp dir.
child=
in_bg() {
  local rc=0
  setsid "$@" &
  child=$!
  wait "$child" || rc=$?
  child=
  return "$rc"
}
on_signal() {
  if [ -n "$child" ]; then
    kill -TERM -- "-$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# --- hooks run by mmdebstrap (in its namespace; $1 is the root dir) -----------------------------
read -r -d '' configure_hook <<EOF || true
set -e
echo '$HOSTNAME_' > "\$1/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t$HOSTNAME_\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "\$1/etc/hosts"
printf 'LABEL=$ROOT_LABEL\t/\text4\terrors=remount-ro\t0\t1\n' > "\$1/etc/fstab"
cat > "\$1/etc/network/interfaces" <<'IFACES'
# The box's NIC keeps its kernel name ($NIC): /etc/systemd/network/99-default.link turns renaming off.
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

auto $NIC
iface $NIC inet dhcp
IFACES
mkdir -p "\$1/etc/systemd/network"
cat > "\$1/etc/systemd/network/99-default.link" <<'LINK'
# nbxen: systemd's default link policy without the renaming: NICs keep their kernel names (eth0).
# A real file, not a /dev/null mask, so that initramfs-tools copies it into the initrd as is.
[Match]
OriginalName=*

[Link]
NamePolicy=
AlternativeNamesPolicy=database onboard slot path
MACAddressPolicy=persistent
LINK
printf '// nbxen: install only what is asked for\nAPT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
  > "\$1/etc/apt/apt.conf.d/99nbxen"
mkdir -p "\$1/etc/default/grub.d"
cat > "\$1/etc/default/grub.d/nbxen.cfg" <<'GRUBCFG'
# nbxen: serial console defaults for the box; the HOWTO steps may override these.
GRUB_TIMEOUT=3
GRUB_TERMINAL="serial console"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_CMDLINE_LINUX="console=ttyS0,115200n8 net.ifnames=0"
GRUBCFG
echo 'root:$ROOT_PASSWORD' | chroot "\$1" chpasswd
EOF

# The initrd is built once, after the configuration it copies (the .link file above), instead of by
# the kernel's postinst and again by the initramfs-tools trigger (about 80 s each on 2 cores).
read -r -d '' divert_initramfs_hook <<'EOF' || true
set -e
chroot "$1" dpkg-divert --quiet --local --rename --divert /usr/sbin/update-initramfs.nbxen \
  --add /usr/sbin/update-initramfs
printf '#!/bin/sh\necho "update-initramfs: deferred by build-box.sh"\n' > "$1/usr/sbin/update-initramfs"
chmod 755 "$1/usr/sbin/update-initramfs"
EOF
read -r -d '' initramfs_hook <<'EOF' || true
set -e
rm "$1/usr/sbin/update-initramfs"
chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
kver=$(ls "$1/lib/modules" | sort -V | tail -n 1)
chroot "$1" update-initramfs -c -k "$kver"
EOF

read -r -d '' download_xen_hook <<EOF || true
set -e
mkdir -p "\$1/tmp/xendebs/partial"
chroot "\$1" apt-get install --download-only --yes -o APT::Install-Recommends=false \
  -o Dir::Cache::archives=/tmp/xendebs/ $XEN_PACKAGES
rm -rf "\$1/tmp/xendebs/partial" "\$1/tmp/xendebs/lock"
EOF

read -r -d '' release_hook <<EOF || true
grep -q '^$MAJOR\.' "\$1/etc/debian_version" ||
  { echo "the root filesystem says Debian \$(cat "\$1/etc/debian_version"), not $MAJOR ($SUITE)" >&2; exit 1; }
EOF

# Facts for box.json, and a check that the initrd can mount a virtio disk with ext4 on it.
read -r -d '' facts_hook <<'EOF' || true
set -e
kver=$(ls "$1/lib/modules" | sort -V | tail -n 1)
[ -e "$1/boot/vmlinuz-$kver" ] && [ -e "$1/boot/initrd.img-$kver" ] || { echo "no kernel/initrd for $kver" >&2; exit 1; }
mods=$(chroot "$1" lsinitramfs "/boot/initrd.img-$kver")
for m in virtio_blk virtio_pci virtio_net ext4; do
  echo "$mods" | grep -q "/$m\.ko" || grep -q "/$m\.ko\$" "$1/lib/modules/$kver/modules.builtin" ||
    { echo "initrd lacks $m.ko" >&2; exit 1; }
done
mkdir -p "$1/tmp/nbxen"
cp "$1/boot/vmlinuz-$kver" "$1/tmp/nbxen/vmlinuz"
cp "$1/boot/initrd.img-$kver" "$1/tmp/nbxen/initrd.img"
{
  echo "kernelVersion=$kver"
  echo "packages=$(chroot "$1" dpkg-query -W -f='${db:Status-Abbrev}\n' | grep -c '^ii')"
} > "$1/tmp/nbxen/facts"
# Last, as the hooks above need DNS: the host's resolver means nothing in the guest; dhclient writes it.
echo '# written by dhclient at boot' > "$1/etc/resolv.conf"
EOF

log "$BOX: mmdebstrap $SUITE (minbase) into $rootdir"
t0=$(date +%s)
# mmdebstrap's own eatmydata hook spares dpkg's fsyncs; NBXEN_BUILD_VERBOSE=1 shows apt and dpkg output.
extra=()
[ -d /usr/share/mmdebstrap/hooks/eatmydata ] && extra+=(--hook-dir=/usr/share/mmdebstrap/hooks/eatmydata)
[ "${NBXEN_BUILD_VERBOSE:-0}" = 1 ] && extra+=(--verbose)
in_bg mmdebstrap --mode=unshare --variant=minbase --include="$INCLUDE" "${extra[@]}" \
  --aptopt='Acquire::Languages "none"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --essential-hook='printf "grub-pc grub-pc/install_devices multiselect\ngrub-pc grub-pc/install_devices_empty boolean true\n" | chroot "$1" debconf-set-selections' \
  --essential-hook="$divert_initramfs_hook" \
  --customize-hook="$configure_hook" \
  --customize-hook="$initramfs_hook" \
  --customize-hook="$download_xen_hook" \
  --customize-hook="copy-out /tmp/xendebs $work" \
  --customize-hook="$release_hook" \
  --customize-hook="$facts_hook" \
  --customize-hook="copy-out /tmp/nbxen $work" \
  "$SUITE" "$rootdir" \
  "deb $MIRROR $SUITE main" \
  "deb $MIRROR $SUITE-updates main" \
  "deb $SECURITY_MIRROR $SUITE-security main"
log "mmdebstrap done in $(($(date +%s) - t0))s"

# --- root filesystem and disk ---------------------------------------------------------------------
part_bytes=$(((DISK_MIB - PART_START_MIB) * 1024 * 1024))
log "mke2fs -t ext4 -L $ROOT_LABEL ($((part_bytes / 1024 / 1024)) MiB)"
fs="$work/root.ext4"
install -m 666 /dev/null "$fs" # writable from the unshared namespace, where we are not its owner
truncate -s "$part_bytes" "$fs"
in_bg "${ns_root[@]}" mke2fs -q -F -t ext4 -L "$ROOT_LABEL" -d "$rootdir" "$fs"
chmod 644 "$fs"
as_ns_root find "$rootdir" -mindepth 1 -delete
rmdir "$rootdir"

log "partitioning disk.raw (${DISK_MIB} MiB, MBR)"
raw="$stage/disk.raw"
truncate -s "${DISK_MIB}M" "$raw"
printf 'label: dos\nlabel-id: 0x6e627865\nunit: sectors\n\nstart=%d, type=83, bootable\n' \
  $((PART_START_MIB * 2048)) | sfdisk --quiet "$raw"
dd if="$fs" of="$raw" bs=1M seek="$PART_START_MIB" conv=notrunc,sparse status=none
rm -f "$fs"
in_bg qemu-img convert -O qcow2 "$raw" "$stage/disk.qcow2"
rm -f "$raw"

mv "$work/nbxen/vmlinuz" "$work/nbxen/initrd.img" "$stage/"
chmod 644 "$stage/vmlinuz" "$stage/initrd.img"

# --- Xen repository -------------------------------------------------------------------------------
log "writing xen-repo"
repo="$stage/xen-repo"
mkdir -p "$repo"
shopt -s nullglob
debs=("$work"/xendebs/*.deb)
shopt -u nullglob
[ ${#debs[@]} -gt 0 ] || die "apt downloaded no .deb for: $XEN_PACKAGES"
mv "${debs[@]}" "$repo/"
(
  cd "$repo"
  dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages
  gzip -9nc Packages >Packages.gz
  sha256sum -- *.deb >SHA256SUMS
  {
    echo "Origin: nbxen"
    echo "Label: nbxen xen-repo"
    echo "Suite: ./"
    echo "Architectures: amd64 all"
    echo "Date: $(LC_ALL=C date -u -R)"
    echo "SHA256:"
    for f in Packages Packages.gz; do
      printf ' %s %s %s\n' "$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "$f"
    done
  } >Release
)
hv_deb=$(cd "$repo" && ls "${XEN_HV_PACKAGE}"_*.deb 2>/dev/null | head -n 1)
[ -n "$hv_deb" ] || die "$XEN_HV_PACKAGE is not in xen-repo"
xen_version=$(dpkg-deb -f "$repo/$hv_deb" Version)
for p in "$XEN_UTILS_PACKAGE" $XEN_PACKAGES; do
  compgen -G "$repo/${p}_*.deb" >/dev/null || die "$p is not in xen-repo"
done

# --- box.json -------------------------------------------------------------------------------------
kernel_version=$(sed -n 's/^kernelVersion=//p' "$work/nbxen/facts")
packages=$(sed -n 's/^packages=//p' "$work/nbxen/facts")
cat >"$stage/box.json" <<EOF
{
  "box": "$BOX",
  "format": $FORMAT,
  "suite": "$SUITE",
  "kernelVersion": "$kernel_version",
  "rootLabel": "$ROOT_LABEL",
  "nic": "$NIC",
  "hostname": "$HOSTNAME_",
  "rootPassword": "$ROOT_PASSWORD",
  "xenVersion": "$xen_version",
  "packages": $packages,
  "xenRepoPackages": ${#debs[@]},
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "kernelCmdline": "$KERNEL_CMDLINE"
}
EOF
rm -rf "$work"

if [ -e "$outdir" ]; then
  old="${outdir}.old.$$"
  mv "$outdir" "$old"
  mv "$stage" "$outdir"
  rm -rf "$old"
else
  mv "$stage" "$outdir"
fi
trap - EXIT

log "done in $(($(date +%s) - started))s: $outdir"
log "sizes: disk.qcow2 $(du -h "$outdir/disk.qcow2" | cut -f1), xen-repo $(du -sh "$outdir/xen-repo" | cut -f1) (${#debs[@]} debs), kernel $kernel_version, xen $xen_version"
