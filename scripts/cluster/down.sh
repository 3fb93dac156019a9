#!/bin/bash
# down.sh (make cluster-down): stops everything up.sh started, by the pids it recorded, and undoes its effects on
# the host (pod sandboxes, the pod bridge, kube-proxy's nftables tables, the kubelet's cgroups, empty mount points
# it created). Removes nothing else outside .cluster/; the state under .cluster/ stays for reading the logs.
set -uo pipefail
. "$(dirname "$0")/env.sh"
quiet=; [ "${1:-}" = --quiet ] && quiet=1
say() { [ -n "$quiet" ] || log "$@"; }
[ -d "$C" ] || exit 0
stop kube-proxy
stop_node
stop kube-scheduler kube-controller-manager
stop kube-apiserver
stop etcd
# Whatever a process of the node left mounted under .cluster in this namespace (normally nothing: they mount in
# the node's private namespace, which is gone with them), deepest first.
grep -o " $C/[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | while read -r m; do umount -l "$m" && say "unmounted $m"; done
ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE" && say "removed bridge $BRIDGE"
for fam in ip ip6; do nft list table "$fam" kube-proxy >/dev/null 2>&1 && nft delete table "$fam" kube-proxy && say "removed nftables table $fam kube-proxy"; done
# The kubelet's own iptables chains (it still makes KUBE-FIREWALL, which drops DNAT to 127.0.0.0/8 from outside,
# and kube-proxy's canaries), and the jumps into them; the tables themselves stay.
for ipt in iptables ip6tables; do
  command -v $ipt >/dev/null || continue
  for hook in INPUT OUTPUT; do while $ipt -w -t filter -D $hook -j KUBE-FIREWALL 2>/dev/null; do :; done; done
  for tc in filter/KUBE-FIREWALL filter/KUBE-KUBELET-CANARY nat/KUBE-KUBELET-CANARY mangle/KUBE-KUBELET-CANARY mangle/KUBE-IPTABLES-HINT; do
    $ipt -w -t "${tc%/*}" -F "${tc#*/}" 2>/dev/null && $ipt -w -t "${tc%/*}" -X "${tc#*/}" 2>/dev/null && say "removed $ipt ${tc%/*} ${tc#*/}"
  done
done
if [ -f "$C/nft-tables.before" ]; then
  nft list tables 2>/dev/null | while read -r _ fam name; do
    grep -qx "table $fam $name" "$C/nft-tables.before" && continue
    # Only if nothing is in it but chains (anything else is someone else's).
    [ "$(nft list table "$fam" "$name" | grep -cvE '^\s*(table |chain |type |\}|$|#)')" = 0 ] || continue
    nft delete table "$fam" "$name" && say "removed empty nftables table $fam $name"
  done
  rm -f "$C/nft-tables.before"
fi
# The kubelet's cgroups, deepest first (only empty ones can go, which is all of them once the pods are gone).
for c in /sys/fs/cgroup/*"$CGROUP_ROOT"; do
  [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
done
if [ -f "$C/ip_forward.before" ]; then
  v=$(cat "$C/ip_forward.before")
  [ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$v" ] || { echo "$v" > /proc/sys/net/ipv4/ip_forward; say "net.ipv4.ip_forward back to $v"; }
  rm -f "$C/ip_forward.before"
fi
if [ -f "$C/created-paths" ]; then
  tac "$C/created-paths" | while read -r p; do rmdir "$p" 2>/dev/null; done
  rm -f "$C/created-paths"
fi
say "cluster down"
exit 0
