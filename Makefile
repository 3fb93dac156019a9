# lsmns: build, demo, tests and benchmarks. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin
# No --exit: a run ends when the tests leave nothing open, and test/support/exit-check names what they left.
MOCHA := $(NODE_BIN)/mocha --forbid-only --require dist/test/support/exit-check.js --reporter dot --timeout 20000

.PHONY: all deps npm-deps build demo test test-unit fuzz test-policy-corpus test-runtimes test-cri test-critest test-qemu test-qemu-kube test-cluster cluster-up cluster-down bench clean

# Suites: unit and CLI tests run anywhere; the others use real components that deps.sh installs.
# test-cluster last: it builds Kubernetes from the Go module proxy on a machine that has no cached build yet.
TEST_SUITES := test-unit test-policy-corpus test-runtimes test-cri test-critest test-qemu test-cluster

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

npm-deps: node_modules/.package-lock.json

# The native helpers need gcc, which deps.sh installs. Without it the build goes on: the demo and the sim need
# neither, the securityfs backend then says its helper is missing, and served hooks use the sh client
# and the shim the sh front.
GCC := $(shell command -v gcc 2>/dev/null)
NATIVE := $(if $(GCC),dist/native/lsmns-task dist/native/lsmns-hook-client dist/native/lsmns-runtime)

build: npm-deps $(NATIVE) dist/src/policy/grammar.js
	@$(if $(GCC),:,echo "build: no gcc, so dist/native/ is not built (scripts/deps.sh installs it)" >&2)
	$(NODE_BIN)/tsc -p .
	node scripts/bundle.mjs
	node scripts/oclif-manifest.mjs

# The AppArmor policy parser, generated from its grammar (never committed); src/policy/grammar.d.ts types it.
dist/src/policy/grammar.js: src/policy/grammar.peggy node_modules/.package-lock.json
	@mkdir -p $(@D)
	$(NODE_BIN)/peggy --format es --allowed-start-rules Policy,Body -o $@ $<

# The static helpers, one rule: lsmns-task (the securityfs backend's: a task sets its own exec label, then
# execs; LSM syscalls 459-461), lsmns-hook-client (the served hooks' and shim's thin client: what
# hooks/lsmns-hook-client does, without starting sh and socat) and lsmns-runtime (the shim front: what
# hooks/lsmns-runtime does, without starting sh for each of a pod's dozen runtime calls).
# lsmns-runtime is built without libc: glibc's start-up alone (its CPU probe's cpuid instructions, each a VM exit
# on a virtual machine) costs more than the front's work, and containerd runs it 12 times per pod.
# The other two are built on musl where it is installed (deps.sh installs musl-tools), for the same reason: a
# static musl program starts in about 0.08 ms of CPU here, static glibc in 0.57 ms, and runc forks the client for
# every hook (four per pod, two more for the shim). Without musl-gcc, gcc builds them on glibc, alike.
NATIVE_CFLAGS = -static -O2 -Wall -Wextra
NATIVE_CC := $(or $(shell command -v musl-gcc 2>/dev/null),gcc)
dist/native/lsmns-runtime: NATIVE_CC = gcc
dist/native/lsmns-runtime: NATIVE_CFLAGS += -nostdlib -ffreestanding -fno-stack-protector -fno-tree-loop-distribute-patterns
dist/native/%: native/%.c native/node-conf.h
	@mkdir -p $(@D)
	$(NATIVE_CC) $(NATIVE_CFLAGS) -o $@ $<

demo: build
	./scripts/demo.sh

test-unit: build
	$(MOCHA) --ignore 'dist/test/runtimes/**' --ignore 'dist/test/qemu/**' --ignore 'dist/test/cri/**' --ignore 'dist/test/critest/**' --ignore 'dist/test/cluster/**' --ignore 'dist/test/policy/corpus.test.js' 'dist/test/**/*.test.js'

# The policy parser against apparmor_parser on every installed Debian profile (about 30 s: apparmor_parser
# compiles each one), so it is not part of test-unit.
test-policy-corpus: build
	$(MOCHA) --timeout 300000 dist/test/policy/corpus.test.js

# The property tests at full strength: each fuzz target (annotation schema, OCI readers, pod reader, agent HTTP
# parsing, CEL against the webhook) runs FUZZ_RUNS (or LSMNS_FUZZ_RUNS) times, 10,000 unless set; test-unit runs 300.
FUZZ_RUNS ?= $(or $(LSMNS_FUZZ_RUNS),10000)
fuzz: build
	LSMNS_FUZZ_RUNS=$(FUZZ_RUNS) $(MOCHA) --timeout 0 'dist/test/**/*.fuzz.test.js' dist/test/manifests/admission-policy.test.js

# Real runc, crun, podman and containerd (ctr) on this host, with the sim backend.
test-runtimes: build
	$(MOCHA) --timeout 120000 'dist/test/runtimes/**/*.test.js'

# The securityfs backend on Debian's AppArmor kernels 6.1 and 6.12 under qemu TCG: one boot per kernel runs every
# guest scenario. LSMNS_CAPTURE_FIDELITY=1 stores the runs as the captures make test-unit checks the sim against.
test-qemu: build
	$(MOCHA) --timeout 1200000 'dist/test/qemu/**/*.test.js'

# containerd's CRI plugin over its socket, as kubelet drives it (a private containerd; needs root).
test-cri: build
	$(MOCHA) --timeout 180000 'dist/test/cri/**/*.test.js'

# critest (sigs.k8s.io/cri-tools' CRI validation suite, built from the Go module proxy into
# /var/cache/lsmns-cluster/cri-tools-<version>/) against a private containerd 1.6, with the default handler and with
# handler lsmns from `lsmns install --containerd 2` (served, sim). Fails when a spec passes only on the default
# handler; the comparison is in .work/critest/<containerd>/comparison.txt. Needs root, Go on a first run,
# docker-registry. CRITEST_CONTAINERD=DIR runs the containerd (and its shim) in DIR instead of Debian's.
test-critest: build
	LSMNS_CRITEST_CONTAINERD=$(CRITEST_CONTAINERD) $(MOCHA) --timeout 1200000 'dist/test/critest/**/*.test.js'

# Only the Kubernetes path's tests on Debian's 6.1 AppArmor kernel (test-qemu runs them too, in the same 6.1 boot
# as the port-level scenarios): CRI handler lsmns with the securityfs backend, the node agent setting Confined.
test-qemu-kube: build
	$(MOCHA) --timeout 1200000 'dist/test/qemu/kube/*.test.js'

# A one-node Kubernetes cluster built from source (scripts/cluster/; binaries cached under
# /var/cache/lsmns-cluster), lsmns installed from manifests/overlays/local; state, logs and kubeconfig in .cluster/.
cluster-up: build
	./scripts/cluster/up.sh

cluster-down:
	./scripts/cluster/down.sh

# Against the cluster of cluster-up (started here if it is not running; left running for the next run): every case
# on Debian's containerd 1.6, then the tenant's pod again with the node swapped to the built containerd 2.x (config
# version 3; scripts/cluster/swap-containerd.sh). The second pass runs even when the first failed.
test-cluster: build
	@[ -f .cluster/pids/kube-apiserver.pid ] && kill -0 $$(cat .cluster/pids/kube-apiserver.pid) 2>/dev/null || ./scripts/cluster/up.sh
	./scripts/cluster/swap-containerd.sh 1
	@t=$$(date +%s); $(MOCHA) --timeout 300000 'dist/test/cluster/**/*.test.js'; s=$$?; \
	  echo "test-cluster: containerd 1.6 pass in $$(( $$(date +%s) - t )) s"; t=$$(date +%s); \
	  ./scripts/cluster/swap-containerd.sh 2 && LSMNS_CLUSTER_CONTAINERD=2 $(MOCHA) --timeout 300000 dist/test/cluster/tenant.test.js; s2=$$?; \
	  echo "test-cluster: containerd 2 pass (swap and tenant cases) in $$(( $$(date +%s) - t )) s"; [ $$s = 0 ] && [ $$s2 = 0 ]

deps:
	./scripts/deps.sh

test: deps
	$(MAKE) $(TEST_SUITES)

bench: build
	node dist/bench/run.js $(BENCH)

clean:
	rm -rf dist
