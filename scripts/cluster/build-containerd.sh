#!/bin/bash
# build-containerd.sh: builds containerd, containerd-shim-runc-v2 and ctr from github.com/containerd/containerd/v2 at
# CONTAINERD2 (scripts/cluster/versions), through the Go module proxy, into
# $LSMNS_CLUSTER_CACHE/containerd-<version>/bin (default /var/cache/lsmns-cluster), outside the repo. Builds only
# what is missing, so a second run builds nothing. Prints the bin directory as its only line of stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions
. "$here/versions"
bin=${LSMNS_CLUSTER_CACHE:-/var/cache/lsmns-cluster}/containerd-${CONTAINERD2}/bin
comps=(containerd containerd-shim-runc-v2 ctr)
missing=(); for c in "${comps[@]}"; do [ -x "$bin/$c" ] || missing+=("$c"); done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "containerd binaries: cached in $bin (containerd $CONTAINERD2)" >&2; echo "$bin"; exit 0
fi
command -v go >/dev/null || { echo "build-containerd.sh: no go on the PATH; containerd 2.x is built with Go 1.26 from the module proxy" >&2; exit 3; }
start=$(date +%s)
mkdir -p "$bin"
# containerd's go.mod has no replace directives, so `go install pkg@version` builds it with the module's own go.sum.
# CGO off: the only cgo plugin is btrfs (not used here), and the shim is built without cgo upstream too. The tags
# are the Makefile's (no_grpc for the shim, as SHIM_GO_BUILDTAGS has it).
export GOFLAGS="-trimpath ${LSMNS_CLUSTER_BUILD_P:+-p=$LSMNS_CLUSTER_BUILD_P}" CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN=$bin
m=github.com/containerd/containerd/v2
# As the Makefile's GO_LDFLAGS, so that `containerd --version` names the version (the module zip has no commit).
ld="-s -w -X $m/version.Version=$CONTAINERD2 -X $m/version.Package=github.com/containerd/containerd/v2 -X $m/version.Revision="
for c in "${missing[@]}"; do
  tags=urfave_cli_no_docs; [ "$c" = containerd-shim-runc-v2 ] && tags+=,no_grpc
  go install -tags "$tags" -ldflags "$ld" "$m/cmd/$c@$CONTAINERD2"
done
echo "containerd binaries: built containerd $CONTAINERD2 (${missing[*]}) in $(( $(date +%s) - start )) s into $bin" >&2
echo "$bin"
