#!/bin/bash
# build.sh: builds kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl and etcd
# from the Go module proxy at the versions in scripts/cluster/versions, into $LSMNS_CLUSTER_CACHE/<k8s>-etcd-<etcd>/bin
# (default /var/cache/lsmns-cluster), outside the repo. Only missing binaries are built, so a second run with the
# same versions builds nothing. Prints the bin directory as its only line of stdout. Build parallelism:
# LSMNS_CLUSTER_BUILD_P (go build -p; default: as many as cores).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions
. "$here/versions"
root=${LSMNS_CLUSTER_CACHE:-/var/cache/lsmns-cluster}/${KUBERNETES}-etcd-${ETCD}
bin=$root/bin
comps=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
missing=(); for c in "${comps[@]}"; do [ -x "$bin/$c" ] || missing+=("$c"); done
if [ "${#missing[@]}" -eq 0 ] && [ -x "$bin/etcd" ]; then
  echo "cluster binaries: cached in $bin (Kubernetes $KUBERNETES, etcd $ETCD)" >&2; echo "$bin"; exit 0
fi
command -v go >/dev/null || { echo "build.sh: no go on the PATH; the cluster's components are built with Go 1.26 from the module proxy" >&2; exit 3; }

start=$(date +%s)
mkdir -p "$bin" "$root/src"
export GOFLAGS="-mod=mod -trimpath ${LSMNS_CLUSTER_BUILD_P:+-p=$LSMNS_CLUSTER_BUILD_P}" CGO_ENABLED=0 GOTOOLCHAIN=local

if [ "${#missing[@]}" -gt 0 ]; then
  # Kubernetes' go.mod requires its staging modules at v0.0.0 and replaces them with ./staging, which Go ignores
  # in a dependency (kubernetes issue 79384): replace each with the published v0.MINOR.PATCH instead.
  k=$root/src/kubernetes
  mkdir -p "$k"
  staging=v0.${KUBERNETES#v1.}
  kmod=$(cd "$k" && go mod download -json "k8s.io/kubernetes@$KUBERNETES" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
  {
    echo "module lsmns.local/cluster-build"
    echo "go 1.26"
    echo "require k8s.io/kubernetes $KUBERNETES"
    awk -v v="$staging" '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print "replace " $1 " => " $1 " " v }' "$kmod"
  } > "$k/go.mod"
  tools=(); pkgs=()
  for c in "${missing[@]}"; do tools+=("k8s.io/kubernetes/cmd/$c@$KUBERNETES"); pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$k" && go get -tool "${tools[@]}")
  # Without these the binaries say v0.0.0-master, and the emulated-version check needs the real one.
  minor=${KUBERNETES#v1.}; minor=${minor%%.*}
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$KUBERNETES -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date -X $pkg.gitCommit="  # the module zip has no commit
  done
  (cd "$k" && go build -ldflags "$ld" -o "$bin/" "${pkgs[@]}")
  echo "built Kubernetes $KUBERNETES (${missing[*]}) in $(( $(date +%s) - start )) s" >&2
fi

if [ ! -x "$bin/etcd" ]; then
  # etcd's server module has its own main.
  t=$(date +%s)
  e=$root/src/etcd
  mkdir -p "$e"
  printf 'module lsmns.local/etcd-build\ngo 1.26\n' > "$e/go.mod"
  (cd "$e" && go get -tool "go.etcd.io/etcd/server/v3@$ETCD" && go build -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
  echo "built etcd $ETCD in $(( $(date +%s) - t )) s" >&2
fi
echo "cluster binaries: built in $(( $(date +%s) - start )) s into $bin" >&2
echo "$bin"
