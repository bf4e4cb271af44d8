#!/bin/busybox sh
# PID 1 of the initrd: load virtio + 9p, mount the host's / (read-only) and the output
# folder, then switch to the guest init on the host's filesystem.
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci netfs fscache \
         9pnet 9pnet_virtio 9p; do
  [ -f /mods/$m.ko ] && insmod /mods/$m.ko 2>/dev/null
done
out=$(sed -n 's/.*bfout=\([^ ]*\).*/\1/p' /proc/cmdline)
init=$(sed -n 's/.*bfinit=\([^ ]*\).*/\1/p' /proc/cmdline)
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /newroot \
  || { echo "real-bluez: mounting the host root failed"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /newroot$out \
  || { echo "real-bluez: mounting $out failed"; poweroff -f; }
mount --move /proc /newroot/proc; mount --move /sys /newroot/sys; mount --move /dev /newroot/dev
exec switch_root /newroot /bin/sh "$init" "$out"
