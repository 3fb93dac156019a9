#!/bin/bash
# up.sh (make cluster-up): a one-node Kubernetes cluster from source with lsmns installed from its manifests.
# Everything lives under .cluster/ (admin.kubeconfig, bin/kubectl, logs/, pids/); down.sh stops it all.
set -euo pipefail
. "$(dirname "$0")/env.sh"
t0=$(date +%s)
alive() { [ -f "$PIDS/$1.pid" ] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }
if alive kube-apiserver; then log "already up (kube-apiserver pid $(cat "$PIDS/kube-apiserver.pid")); make cluster-down first"; exit 0; fi
[ "$(id -u)" = 0 ] || die "needs root (containerd, the kubelet, mounts and netfilter)"
[ -n "$NODE_IP" ] || die "no IPv4 address with a default route for the node; set LSMNS_CLUSTER_NODE_IP"
for t in containerd ctr runc unshare openssl nft ip buildah; do command -v $t >/dev/null || die "$t is missing (scripts/deps.sh installs it)"; done
[ -x /usr/lib/cni/bridge ] || die "/usr/lib/cni/bridge is missing (containernetworking-plugins; scripts/deps.sh installs it)"
"$repo/scripts/cluster/down.sh" --quiet

bin=$("$repo/scripts/cluster/build.sh")
# containerd 2.x for swap-containerd.sh 2 (make test-cluster's second pass), built here so that the build's time is
# the build's and not the tests'.
"$repo/scripts/cluster/build-containerd.sh" >/dev/null
# Fresh state each time (certificates too: they name this machine's address); built images (images/) are kept
# and rebuilt only when their inputs change.
rm -rf "$C/etcd" "$C/kubelet" "$C/containerd" "$C/node" "$C/pod-logs" "$C/cni" "$C/webhook-cert" "$PKI" "$LOGS" "$PIDS"
rm -f "$C"/*.kubeconfig "$C/containerd-bin" "$C/node-images"
node_runtime
mkdir -p "$C/bin" "$LOGS" "$PIDS" "$C/containerd" "$C/cni/net.d" "$C/pod-logs" "$C/kubelet"
for b in "$bin"/*; do ln -sfn "$b" "$C/bin/$(basename "$b")"; done
"$repo/scripts/cluster/pki.sh"

start etcd "$C/bin/etcd" --name lsmns --data-dir "$C/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "lsmns=http://127.0.0.1:$ETCD_PEER_PORT" --log-level warn
wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

start_apiserver
wait_for kube-apiserver 90 kubectl get --raw /readyz
log "kube-apiserver ready on https://127.0.0.1:$APISERVER_PORT"

start kube-controller-manager "$C/bin/kube-controller-manager" --kubeconfig "$C/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$C/controller-manager.kubeconfig" --authorization-kubeconfig "$C/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" --service-cluster-ip-range "$SERVICE_CIDR"
start kube-scheduler "$C/bin/kube-scheduler" --kubeconfig "$C/scheduler.kubeconfig" \
  --authentication-kubeconfig "$C/scheduler.kubeconfig" --authorization-kubeconfig "$C/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false

# Debian's containerd 1.6 (config version 2), private to the cluster, at /etc/containerd/config.toml in the node's
# mount namespace; the lsmns handler is added by lsmns install as a user would. (swap-containerd.sh 2 puts the
# built containerd 2.x in its place, with a version 3 config.)
write_containerd_config 2
# The shim front where the agent DaemonSet's init container installs it (manifests/base/agent.yaml).
node "$repo/bin/lsmns.cjs" install --containerd 2 --write --containerd-config "$CTRD_CONFIG" --shim /opt/lsmns/bin/lsmns-runtime >&2

# Pod network: one bridge, host-local addresses (no CNI daemon). The agent and the controllers are not
# hostNetwork pods, and two controller replicas could not share the node's webhook port.
cat > "$C/cni/net.d/10-lsmns-cluster.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "lsmns-cluster", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "loopback"}]}
JSON
cat > "$C/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$CTRD_SOCK
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
failSwapOn: false
failCgroupV1: false
podLogsDir: $C/pod-logs
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
YAML
cat > "$C/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $C/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the machine's conntrack sysctls as they are.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML

# Mount points for the node's private bind mounts: created empty where missing, and removed by down.sh.
# netfilter tables that exist now (the kubelet's iptables calls may add empty ones; down.sh removes those).
nft list tables > "$C/nft-tables.before" 2>/dev/null || true
# The bridge plugin turns on IPv4 forwarding (isGateway); down.sh puts back the value found here.
cat /proc/sys/net/ipv4/ip_forward > "$C/ip_forward.before"
: > "$C/created-paths"
for p in "${NODE_PATHS[@]}"; do
  d=; IFS=/ read -ra parts <<< "${p#/}"
  for part in "${parts[@]}"; do d+=/$part; [ -e "$d" ] || { mkdir "$d"; echo "$d" >> "$C/created-paths"; }; done
done
# The kubelet's cgroup root must exist in every v1 hierarchy it checks; a new cpuset starts with no cpus or mems.
for h in /sys/fs/cgroup/*/; do
  [ -L "${h%/}" ] || [ "$(stat -f -c %T "$h")" != cgroupfs ] && continue
  mkdir -p "$h${CGROUP_ROOT#/}"
done
if [ -d "/sys/fs/cgroup/cpuset$CGROUP_ROOT" ]; then
  for f in cpuset.cpus cpuset.mems; do cat "/sys/fs/cgroup/cpuset/$f" > "/sys/fs/cgroup/cpuset$CGROUP_ROOT/$f"; done
fi
start node unshare -m --propagation private "$repo/scripts/cluster/node.sh"
start kube-proxy "$C/bin/kube-proxy" --config "$C/kube-proxy.yaml"
wait_for "node $NODE_NAME" 120 kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s
log "node $NODE_NAME Ready ($(( $(date +%s) - t0 )) s)"

"$repo/scripts/cluster/images.sh"
"$repo/scripts/cluster/install-lsmns.sh"
log "cluster up in $(( $(date +%s) - t0 )) s: export KUBECONFIG=$C/admin.kubeconfig; kubectl is $C/bin/kubectl"
