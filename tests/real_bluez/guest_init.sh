#!/bin/sh
# Guest PID 1 after switch_root: the host's / is read-only here. Writable tmpfs where
# bluetoothd, btvirt and Python need them, kernel module autoload from the extracted kernel
# package, then the scenarios; the guest powers off when they end.
out="$1"
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
. "$out/guest.env"
[ -d /proc/sys/kernel ] || mount -t proc proc /proc
[ -d /sys/kernel ] || mount -t sysfs sys /sys
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /var/tmp
mount -t tmpfs tmpfs /var/lib/bluetooth
exec > "$out/guest.log" 2>&1
echo "guest: kernel $(uname -r)"
printf '#!/bin/sh\nexec /usr/sbin/modprobe -d %s "$@"\n' "$KMODS" > /run/modprobe
chmod +x /run/modprobe
echo /run/modprobe > /proc/sys/kernel/modprobe
# hci_vhci: virtual controllers; AF_ALG + cmac/ecb: the crypto bluetoothd and btdev use
for m in hci_vhci af_alg algif_hash algif_skcipher cmac ecb; do
  /run/modprobe "$m" || echo "guest: modprobe $m failed"
done
export HOME=/run PYTHONDONTWRITEBYTECODE=1
"$PY" "$REPO/tests/real_bluez/guest_main.py" "$out"
echo "guest: scenarios rc=$?"
sync
/bin/busybox poweroff -f
