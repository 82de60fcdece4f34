/**
 * What the dom0 runs to make a domU the HOWTO way: a disk file made with dd, and a small real system to
 * boot — the dom0's own Debian kernel with an initramfs of Debian's busybox-static and the kernel's Xen
 * block and network frontends. The domU's init reads a signature the dom0 wrote into the dd-made disk
 * (proof that the file-backed disk works), takes an address on the bridge by DHCP, and prints a line the
 * harness waits for on `xl console`. (Debian's own initrd is too big for a 128 MiB domU.)
 */
export interface DomUDiskOptions {
  name: string;
  image: string;
  sizeMiB: number;
}

export const DOMU_READY = "NBXEN-DOMU-READY";

export function domUInitrdPath(image: string): string {
  return image.replace(/\.img$/, "") + "-initrd.gz";
}

export function diskSignature(name: string): string {
  return `NBXEN-DISK-${name}`;
}

export function makeDomUDiskScript(o: DomUDiskOptions): string {
  const initrd = domUInitrdPath(o.image);
  // A subshell: `set -e` must not leak into the login shell the harness keeps typing into.
  return `(
set -e
kver=$(uname -r)
mkdir -p "$(dirname ${o.image})"
# HOWTO: "dd if=/dev/zero of=..." (a file-backed disk for the domU)
dd if=/dev/zero of=${o.image} bs=1M count=${o.sizeMiB} status=none
printf '%s\\n' '${diskSignature(o.name)}' | dd of=${o.image} conv=notrunc status=none
root=$(mktemp -d)
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/lib/modules"
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
# Debian 13's kernel ships its modules xz-compressed (xen-blkfront.ko.xz), Debian 12's not: the domU's
# busybox insmod gets them uncompressed either way.
for m in drivers/block/xen-blkfront drivers/net/xen-netfront; do
  f=$(ls /lib/modules/$kver/kernel/$m.ko /lib/modules/$kver/kernel/$m.ko.xz 2>/dev/null | head -n 1)
  [ -n "$f" ] || { echo "no module $m.ko(.xz) in /lib/modules/$kver" >&2; exit 1; }
  case "$f" in
    *.xz) busybox unxz -c "$f" ;;
    *) cat "$f" ;;
  esac > "$root/lib/modules/\${m##*/}.ko"
done
echo ${o.name} > "$root/etc/hostname"
cat > "$root/etc/inittab" <<'INITTAB'
::sysinit:/etc/rcS
hvc0::respawn:-/bin/sh
::shutdown:/bin/echo "${o.name}: shutting down"
INITTAB
cat > "$root/etc/rcS" <<'RCS'
#!/bin/sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
hostname -F /etc/hostname
insmod /lib/modules/xen-blkfront.ko
insmod /lib/modules/xen-netfront.ko
i=0; while [ ! -b /dev/xvda ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
disk=$(head -c 64 /dev/xvda 2>/dev/null | head -n 1)
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -s /etc/udhcpc.sh -n -q -t 10 -T 2 >/dev/null 2>&1
addr=$(ip -4 -o addr show eth0 | sed -n 's/.* inet \\([0-9.]*\\).*/\\1/p')
echo "${DOMU_READY} name=$(hostname) disk=\${disk:-none} ip=\${addr:-none}"
RCS
cat > "$root/etc/udhcpc.sh" <<'DHCP'
#!/bin/sh
case "$1" in
  bound|renew) ifconfig "$interface" "$ip" netmask "\${subnet:-255.255.255.0}" ;;
  deconfig) ifconfig "$interface" 0.0.0.0 ;;
esac
DHCP
chmod 755 "$root/etc/rcS" "$root/etc/udhcpc.sh"
ln -s bin/busybox "$root/init"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > ${initrd})
rm -rf "$root"
echo "domU ${o.name}: disk ${o.image} (${o.sizeMiB} MiB), initramfs ${initrd}"
)`;
}

export interface DomUConfigOptions {
  name: string;
  memoryMiB: number;
  image: string;
  bridge: string;
}

/**
 * A PV Linux guest's clock: Xen's pvclock. Linux 6.x prefers the TSC when Xen says it is safe, and takes
 * the TSC's rate from Xen's time info once at boot; under TCG that reading can be far off (seen here:
 * "tsc: Detected 66273.568 MHz" on a 2445 MHz host, `sleep 5` in the dom0 lasting 139 s of wall time),
 * and the guest's whole clock runs that much slow. Xen's own clock kept time (`sleep 5` took 5 s once
 * the dom0 switched to the xen clocksource).
 */
export const LINUX_PV_CLOCK = "clocksource=xen";

/** The domU config in the HOWTO's shape (kernel, memory, name, vif on the bridge, file-backed disk). */
export function domUConfigText(o: DomUConfigOptions, kernelVersion: string): string {
  return [
    `# nbxen: domU ${o.name}, in the shape of the NetBSD Xen HOWTO's domU config`,
    `name = "${o.name}"`,
    `kernel = "/boot/vmlinuz-${kernelVersion}"`,
    `ramdisk = "${domUInitrdPath(o.image)}"`,
    `extra = "console=hvc0 quiet ${LINUX_PV_CLOCK}"`,
    `memory = ${o.memoryMiB}`,
    `vif = [ 'bridge=${o.bridge}' ]`,
    `disk = [ 'file:${o.image},xvda,w' ]`,
    "",
  ].join("\n");
}
