#!/usr/bin/env bash
# Real-BlueZ tier, host side: installs what the guest needs from Debian packages, builds a
# small initrd for Debian's stock kernel (which has Bluetooth and hci_vhci, unlike many CI
# hosts), boots it under QEMU (TCG) with the host's / shared read-only over virtio-9p, and
# lets tests/real_bluez/guest_main.py run the scenarios under the real bluetoothd.
#
# usage: run_vm.sh OUT_DIR
# exit 0: OUT_DIR/results.json written by the guest; exit 77: the guest cannot run here
# (the reason is in OUT_DIR/skip.txt); anything else: a failure.
# env: BIOFEEDBACK_VM_CACHE (kernel + initrd cache, default ~/.cache/biofeedback-real-bluez),
#      BIOFEEDBACK_VM_BUDGET_S (whole guest run, default 600), BIOFEEDBACK_VM_PYTHON (the
#      venv python the guest uses, default .venv/bin/python of this checkout).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"
cache="${BIOFEEDBACK_VM_CACHE:-$HOME/.cache/biofeedback-real-bluez}"
budget="${BIOFEEDBACK_VM_BUDGET_S:-600}"
py="${BIOFEEDBACK_VM_PYTHON:-$repo/.venv/bin/python}"
rm -f "$out/skip.txt" "$out/results.json" "$out/guest.log"
case "$out" in /tmp/*|/run/*|/var/tmp/*|/var/lib/bluetooth/*)
  echo "real-bluez: OUT_DIR must not be under /tmp, /run, /var/tmp (the guest mounts tmpfs there)" >&2; exit 2;;
esac
skip() { echo "$*" > "$out/skip.txt"; echo "real-bluez: skip: $*" >&2; exit 77; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }

[ "$(uname -m)" = x86_64 ] || skip "needs an x86_64 host (got $(uname -m))"
command -v apt-get >/dev/null || skip "needs a Debian/Ubuntu host (apt-get) to install qemu, bluez and the kernel"
[ -x "$py" ] || skip "no project venv python at $py"

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /usr/libexec/bluetooth/bluetoothd ] || need+=(bluez)
command -v btvirt >/dev/null || need+=(bluez-test-tools)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx switch_root || need+=(busybox-static)
command -v depmod >/dev/null || need+=(kmod)
command -v cpio >/dev/null || need+=(cpio)
command -v dbus-daemon >/dev/null || need+=(dbus)
if [ ${#need[@]} -gt 0 ]; then
  echo "real-bluez: installing ${need[*]}" >&2
  (as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq \
    --no-install-recommends "${need[@]}") >/dev/null || skip "apt-get install ${need[*]} failed"
fi
file /bin/busybox 2>/dev/null | grep -q "statically linked" || [ -x /bin/busybox ] || skip "no static busybox"

# Debian's stock kernel: the version the linux-image-amd64 metapackage points to.
mkdir -p "$cache"
kpkg="$(apt-cache depends linux-image-amd64 2>/dev/null | grep -o 'linux-image-[0-9][^ ]*-amd64' | head -1)"
[ -n "$kpkg" ] || skip "apt knows no linux-image-amd64 kernel"
kver="${kpkg#linux-image-}"
kdir="$cache/$kver"
if [ ! -f "$kdir/initrd.cpio.gz" ]; then
  rm -rf "$kdir" && mkdir -p "$kdir/deb"
  (cd "$kdir/deb" && apt-get download "$kpkg" >/dev/null 2>&1) || skip "apt-get download $kpkg failed"
  dpkg -x "$kdir"/deb/*.deb "$kdir/root"
  depmod -b "$kdir/root" "$kver"
  ird="$kdir/initrd" && mkdir -p "$ird"/{bin,mods,proc,sys,dev,newroot}
  cp /bin/busybox "$ird/bin/busybox"
  for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci netfs fscache \
           9pnet 9pnet_virtio 9p; do
    f="$(find "$kdir/root/lib/modules/$kver" -name "$m.ko*" | head -1)"
    [ -n "$f" ] || continue  # built in
    case "$f" in *.xz) xz -dc "$f" > "$ird/mods/$m.ko" ;; *.zst) zstd -qdc "$f" > "$ird/mods/$m.ko" ;; *) cp "$f" "$ird/mods/$m.ko" ;; esac
  done
  install -m 755 "$here/initrd_init.sh" "$ird/init"
  (cd "$ird" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$kdir/initrd.cpio.gz")
fi

cat > "$out/guest.env" <<ENV
REPO=$repo
OUT=$out
PY=$py
KMODS=$kdir/root
ENV
accel="-accel tcg,thread=multi -cpu max"  # KVM is not reliable on nested CI hosts; TCG is
echo "real-bluez: booting $kver under QEMU (TCG), budget ${budget}s" >&2
set +e
timeout "$budget" qemu-system-x86_64 $accel -m 2048 -smp 2 -nographic -no-reboot -nic none \
  -kernel "$kdir/root/boot/vmlinuz-$kver" -initrd "$kdir/initrd.cpio.gz" \
  -append "console=ttyS0 panic=-1 quiet bfout=$out bfinit=$here/guest_init.sh" \
  -fsdev local,id=r,path=/,security_model=passthrough,readonly=on \
  -device virtio-9p-pci,fsdev=r,mount_tag=hostroot \
  -fsdev local,id=o,path="$out",security_model=passthrough \
  -device virtio-9p-pci,fsdev=o,mount_tag=out > "$out/console.log" 2>&1
rc=$?
set -e
if [ $rc = 124 ]; then
  [ -f "$out/results.json" ] || skip "the guest did not finish within ${budget}s (TCG too slow here?)"
  echo "real-bluez: guest hit the ${budget}s budget; partial results" >&2
fi
[ -f "$out/results.json" ] || skip "the guest wrote no results (see $out/console.log)"
exit 0
