# Sourced by scripts/cluster/*.sh: where the one-node cluster keeps its state (all under .cluster/ in the repo)
# and the addresses its components use. Ports are off the usual ones so that a cluster already on the machine
# is left alone.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
C=$repo/.cluster
# shellcheck source=versions
. "$repo/scripts/cluster/versions"
PKI=$C/pki LOGS=$C/logs PIDS=$C/pids NODE=$C/node
NODE_NAME=${LSMNS_CLUSTER_NODE:-$(hostname | tr 'A-Z' 'a-z')}
# The address the API server advertises (the kubernetes Service's endpoint) and the kubelet registers.
NODE_IP=${LSMNS_CLUSTER_NODE_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')}
ETCD_PORT=12379 ETCD_PEER_PORT=12380 APISERVER_PORT=16443
SERVICE_CIDR=10.96.0.0/16 KUBERNETES_SVC_IP=10.96.0.1 POD_CIDR=10.244.0.0/24 BRIDGE=lsmnsbr0
CTRD_SOCK=$C/containerd/containerd.sock
# Host paths the node's components use (containerd 1.6 hard-codes /run/containerd/s for shim sockets; the agent's
# hostPath volumes, among them the runtimes' configs, which the agent reads for the runtime-handler fact; CNI's
# state): inside the node's private mount namespace each is a bind mount of $NODE/<path>.
NODE_PATHS=(/run/containerd /run/containers /run/netns /run/lsmns /var/lib/lsmns /etc/lsmns /etc/containerd /etc/crio /opt/lsmns
  /usr/share/containers/oci/hooks.d /var/lib/cni /var/log/containers)
# containerd's config as the node sees it (/etc/containerd/config.toml in its mount namespace), written from outside.
CTRD_CONFIG=$NODE/etc/containerd/config.toml
# The kubelet's cgroups go under this parent, so cluster-down can remove exactly those.
CGROUP_ROOT=/lsmns-cluster
kubectl() { "$C/bin/kubectl" --kubeconfig "$C/admin.kubeconfig" "$@"; }
log() { printf '[cluster %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# start NAME CMD...: a control-plane process in the background, its own session, pid in pids/NAME.pid.
start() { local n=$1; shift; setsid "$@" >> "$LOGS/$n.log" 2>&1 < /dev/null & echo $! > "$PIDS/$n.pid"; }
# wait_for WHAT SECONDS CMD...: polls CMD every 0.5 s.
wait_for() {
  local what=$1 n=$(( $2 * 2 )); shift 2
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "$what not ready after ${n}x0.5 s; see $LOGS"
}

# The default admission plugins are on; the ones lsmns depends on are named so that they cannot silently go.
start_apiserver() {
  start kube-apiserver "$C/bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 0.0.0.0 --advertise-address "$NODE_IP" --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" --client-ca-file "$PKI/ca.crt" \
    --service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,PodSecurity \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP
}
