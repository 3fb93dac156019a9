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
# hostPath volumes; CNI's state): inside the node's private mount namespace each is a bind mount of $NODE/<path>.
NODE_PATHS=(/run/containerd /run/netns /run/lsmns /var/lib/lsmns /etc/lsmns /opt/lsmns /usr/share/containers/oci/hooks.d /var/lib/cni
  /var/log/containers)
# The kubelet's cgroups go under this parent, so cluster-down can remove exactly those.
CGROUP_ROOT=/lsmns-cluster
kubectl() { "$C/bin/kubectl" --kubeconfig "$C/admin.kubeconfig" "$@"; }
log() { printf '[cluster %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
