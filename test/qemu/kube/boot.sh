#!/bin/bash
# usage: boot.sh SHARE_DIR GUEST_SCRIPT_NAME [KVER]  (from shared/lab/qemu/boot)
# Boots Debian's AppArmor kernel under qemu (TCG) with the host / shared read-only and SHARE_DIR read-write at
# /mnt, runs /mnt/GUEST_SCRIPT_NAME, and leaves its output in SHARE_DIR/guest.out. The initramfs is cached.
set -eu
share=$(cd "$1" && pwd); script=$2
KVER=${3:-$(ls /lib/modules | grep -E '^6\.1\.' | sort -V | tail -1)}
here=$(cd "$(dirname "$0")" && pwd)
cache=/tmp/lsmns-qemu-kube-$KVER; irfs=$cache/initramfs.cpio.gz
if [ ! -f $irfs ]; then
  D=$cache/root; rm -rf $D; mkdir -p $D/bin $D/dev $D/proc $D/sys $D/newroot $D/lib/modules
  cp /bin/busybox $D/bin/busybox
  for m in 9p 9pnet_virtio virtio_pci; do modprobe -S $KVER --show-depends $m | awk '$1=="insmod"{print $2}'; done | awk '!s[$0]++' > $cache/mods
  while read -r f; do b=$(basename "$f"); case "$b" in *.ko.xz) b=${b%.xz}; xz -dc "$f" > $D/lib/modules/$b;; *.ko.zst) b=${b%.zst}; zstd -qdc "$f" > $D/lib/modules/$b;; *) cp "$f" $D/lib/modules/$b;; esac; echo $b >> $D/lib/modules/order; done < $cache/mods
  cp "$here/init" $D/init; chmod +x $D/init
  (cd $D && find . | cpio -o -H newc --quiet | gzip -1) > $irfs
fi
rm -f $share/guest.out
exec timeout ${QEMU_TIMEOUT:-900} qemu-system-x86_64 -accel tcg -cpu max -machine q35 -m 2048 -smp 2 \
  -kernel /boot/vmlinuz-$KVER -initrd $irfs \
  -append "console=ttyS0 panic=-1 quiet apparmor=1 security=apparmor labcmd=/mnt/$script" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path=$share,mount_tag=lab,security_model=none,multidevs=remap \
  -display none -serial file:$share/console.log -monitor none -nic none -no-reboot
