/**
 * The shell script the dom0 runs to make the domU's disk the HOWTO way (a file made with dd) and put a
 * small real system on it: Debian's busybox-static as init and userland, the dom0's own Debian kernel
 * modules for the Xen network frontend, DHCP on the bridge. The domU boots the dom0's Debian kernel and
 * initrd (which carries xen-blkfront), with root=/dev/xvda.
 */
export interface DomUDiskOptions {
  name: string;
  image: string;
  sizeMiB: number;
}

export const DOMU_READY = "NBXEN-DOMU-READY";

export function makeDomUDiskScript(o: DomUDiskOptions): string {
  return `set -e
kver=$(uname -r)
mkdir -p "$(dirname ${o.image})"
# HOWTO: "dd if=/dev/zero of=..." (a file-backed disk for the domU)
dd if=/dev/zero of=${o.image} bs=1M count=${o.sizeMiB} status=none
mkfs.ext4 -q -F -L ${o.name}root ${o.image}
mnt=$(mktemp -d)
mount -o loop ${o.image} "$mnt"
mkdir -p "$mnt/bin" "$mnt/sbin" "$mnt/etc/init.d" "$mnt/proc" "$mnt/sys" "$mnt/dev" "$mnt/tmp" "$mnt/root" "$mnt/lib/modules"
cp /bin/busybox "$mnt/bin/busybox"
chroot "$mnt" /bin/busybox --install -s
cp /lib/modules/$kver/kernel/drivers/net/xen-netfront.ko "$mnt/lib/modules/"
echo ${o.name} > "$mnt/etc/hostname"
cat > "$mnt/etc/inittab" <<'INITTAB'
::sysinit:/etc/init.d/rcS
hvc0::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
INITTAB
cat > "$mnt/etc/init.d/rcS" <<'RCS'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
hostname -F /etc/hostname
insmod /lib/modules/xen-netfront.ko 2>/dev/null
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -s /etc/udhcpc.sh -n -q -t 10 -T 2 >/dev/null 2>&1
addr=$(ip -4 -o addr show eth0 | sed -n 's/.* inet \\([0-9.]*\\).*/\\1/p')
echo "${DOMU_READY} name=$(hostname) ip=\${addr:-none}"
RCS
cat > "$mnt/etc/udhcpc.sh" <<'DHCP'
#!/bin/sh
case "$1" in
  bound|renew) ifconfig "$interface" "$ip" netmask "\${subnet:-255.255.255.0}" ;;
  deconfig) ifconfig "$interface" 0.0.0.0 ;;
esac
DHCP
chmod 755 "$mnt/etc/init.d/rcS" "$mnt/etc/udhcpc.sh"
umount "$mnt"
rmdir "$mnt"
echo "domU disk ${o.image} ready"
`;
}

export interface DomUConfigOptions {
  name: string;
  memoryMiB: number;
  image: string;
  bridge: string;
}

/** The domU config in the HOWTO's shape (kernel, memory, name, vif on the bridge, file-backed disk). */
export function domUConfigText(o: DomUConfigOptions, kernelVersion: string): string {
  return [
    `# nbxen: domU ${o.name}, in the shape of the NetBSD Xen HOWTO's domU config`,
    `name = "${o.name}"`,
    `kernel = "/boot/vmlinuz-${kernelVersion}"`,
    `ramdisk = "/boot/initrd.img-${kernelVersion}"`,
    `extra = "root=/dev/xvda rw console=hvc0 quiet"`,
    `memory = ${o.memoryMiB}`,
    `vif = [ 'bridge=${o.bridge}' ]`,
    `disk = [ 'file:${o.image},xvda,w' ]`,
    "",
  ].join("\n");
}
