#!/bin/bash
# build-critest.sh: builds critest, the CRI validation suite, from sigs.k8s.io/cri-tools at the version in
# scripts/cluster/versions, and the ginkgo CLI that critest --parallel runs (at the version cri-tools' go.sum
# pins), into $LSMNS_CLUSTER_CACHE/cri-tools-<version>/bin (default /var/cache/lsmns-cluster), outside the repo,
# only when missing: a second run builds nothing. Prints that bin directory as its only line of stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions
. "$here/versions"
bin=${LSMNS_CLUSTER_CACHE:-/var/cache/lsmns-cluster}/cri-tools-${CRI_TOOLS}/bin
if [ -x "$bin/critest" ] && [ -x "$bin/ginkgo" ]; then
  echo "critest: cached in $bin (cri-tools $CRI_TOOLS)" >&2; echo "$bin"; exit 0
fi
command -v go >/dev/null || { echo "build-critest.sh: no go on the PATH; critest is built with Go 1.26 from the module proxy" >&2; exit 3; }
start=$(date +%s)
mkdir -p "$bin"
# critest is a ginkgo test binary (cri-tools' Makefile: go test -c ./cmd/critest). Build it inside the module as
# the proxy serves it, so its own go.mod and go.sum pin every dependency (its release uses -mod=vendor; the
# module zip has no vendor/, so -mod=readonly takes the same versions from go.sum).
src=$(go mod download -json "sigs.k8s.io/cri-tools@$CRI_TOOLS" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "build-critest.sh: go mod download sigs.k8s.io/cri-tools@$CRI_TOOLS gave no source directory" >&2; exit 1; }
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -trimpath"
if [ ! -x "$bin/critest" ]; then
  (cd "$src" && go test -c -o "$bin/critest.tmp" -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${CRI_TOOLS#v}" ./cmd/critest)
  mv "$bin/critest.tmp" "$bin/critest"
fi
# tools/tools.go imports the ginkgo CLI, so cri-tools' go.sum pins it too.
[ -x "$bin/ginkgo" ] || (cd "$src" && go build -o "$bin/ginkgo" -ldflags "-s -w" github.com/onsi/ginkgo/v2/ginkgo)
echo "critest: built cri-tools $CRI_TOOLS (critest, ginkgo) in $(( $(date +%s) - start )) s into $bin" >&2
echo "$bin"
