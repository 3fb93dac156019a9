#!/bin/bash
# Installs what lsmns's build, demo and test suites need on a fresh Debian bookworm machine (root, apt + npm).
# Idempotent: it installs only what is missing. Each suite's packages are listed here, in one place.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

# Packages by suite (see the Makefile's test targets).
APT_PACKAGES=(
  jq curl socat                             # scripts, the thin hook client
  runc crun podman containerd busybox-static # test-runtimes (real runtimes, busybox rootfs)
  gcc libc6-dev musl-tools                  # build: the static helpers (native/*.c; the client and task on musl)
  qemu-system-x86 linux-image-amd64 linux-image-6.12-amd64 apparmor cpio kmod xz-utils  # test-qemu (AppArmor kernels 6.1, 6.12; initramfs)
  util-linux openssl                        # test-cri (unshare for a private mount namespace), webhook TLS in tests
  systemd                                   # systemd-socket-activate: the agent's socket activation test
  apparmor-profiles apparmor-profiles-extra # test-policy-corpus: the profiles the policy parser is checked on
  buildah containernetworking-plugins nftables iproute2  # cluster-up: the lsmns image, the pod bridge, kube-proxy
  docker-registry                           # test-critest: critest's images, served on loopback (built with buildah)
)
# cluster-up and test-critest also need Go (1.26, not from apt: the machine has it) to build Kubernetes, etcd and
# critest from the module proxy.

missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "deps: need root to apt-get install ${missing[*]}" >&2; exit 1; fi
  echo "deps: apt-get install ${missing[*]}"
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/lsmns-apt.log 2>&1 || { tail -20 /tmp/lsmns-apt.log; exit 1; }
fi
[ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error
