#!/bin/bash
# usage: boot.sh KVER SHARE_DIR GUEST_SCRIPT_NAME
# Boots Debian's kernel KVER (apparmor=1 security=apparmor) under qemu TCG (no KVM on these machines) with the
# host / shared read-only and SHARE_DIR read-write at /mnt, runs /mnt/GUEST_SCRIPT_NAME once, and powers off.
# The initramfs (busybox-static + the 9p modules of KVER) is built once per kernel and init script, in /tmp.
# Output: SHARE_DIR/guest.out (the script's), SHARE_DIR/guest.rc, SHARE_DIR/console.log (the serial console).
set -euo pipefail
kver=$1; share=$(cd "$2" && pwd); script=$3
here=$(cd "$(dirname "$0")" && pwd)
# The project itself, shared again at its own path: a checkout under /tmp, /run or /var/lib would otherwise be
# hidden by the tmpfs the guest mounts there.
proj=$(cd "$here/../.." && pwd)
[ -f /boot/vmlinuz-$kver ] || { echo "boot.sh: no /boot/vmlinuz-$kver (scripts/deps.sh installs the kernels)" >&2; exit 2; }
key=$(cat "$here/init" /bin/busybox | sha256sum | cut -c1-12)
cache=/tmp/lsmns-qemu-$kver-$key; irfs=$cache/initramfs.cpio.gz
if [ ! -f $irfs ]; then
  D=$cache/root; rm -rf $D; mkdir -p $D/bin $D/dev $D/proc $D/sys $D/newroot $D/lib/modules
  cp /bin/busybox $D/bin/busybox
  for m in 9p 9pnet_virtio virtio_pci; do modprobe -S $kver --show-depends $m | awk '$1=="insmod"{print $2}'; done | awk '!s[$0]++' > $cache/mods
  while read -r f; do b=$(basename "$f"); case "$b" in *.ko.xz) b=${b%.xz}; xz -dc "$f" > $D/lib/modules/$b;; *.ko.zst) b=${b%.zst}; zstd -qdc "$f" > $D/lib/modules/$b;; *) cp "$f" $D/lib/modules/$b;; esac; echo $b >> $D/lib/modules/order; done < $cache/mods
  cp "$here/init" $D/init; chmod +x $D/init
  (cd $D && find . | cpio -o -H newc --quiet | gzip -1) > $irfs.tmp && mv $irfs.tmp $irfs
fi
rm -f $share/guest.out $share/guest.rc
# One TCG thread for both vCPUs: with multi-threaded TCG, Debian's 6.12 kernel oopsed on an int3 in
# get_page_from_freelist or kmem_cache_free about 20 s in, when runc's first cgroup flipped a static key and
# the kernel patched its own text while the other vCPU ran it. Seen three times in one day, twice in a row in CI.
timeout ${QEMU_TIMEOUT:-900} qemu-system-x86_64 -accel tcg,thread=${QEMU_TCG_THREAD:-single} -cpu max -machine q35 -m 2048 -smp 2 \
  -kernel /boot/vmlinuz-$kver -initrd $irfs \
  -append "console=ttyS0 panic=-1 quiet apparmor=1 security=apparmor labcmd=/mnt/$script lsmns_proj=$proj" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path=$share,mount_tag=lab,security_model=none,multidevs=remap \
  -virtfs local,path=$proj,mount_tag=proj,security_model=none,readonly=on,multidevs=remap \
  -display none -serial file:$share/console.log -monitor none -nic none -no-reboot
