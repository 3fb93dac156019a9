#!/bin/bash
# The main job, on the simulated kernel: a pod with lsmns annotations, its plan, the apply, the resulting
# kernel (namespace, profile, task label), then the pod stopping and its namespace going away.
set -euo pipefail
cd "$(dirname "$0")/.."
D=$(mktemp -d /tmp/lsmns-demo.XXXXXX)
export LSMNS_SIM_STATE=$D/sim-kernel.json LSMNS_STATE_DIR=$D/state LSMNS_POLICY_DIR=$PWD/examples/policies
lsmns() { echo "\$ lsmns $*"; node bin/lsmns.cjs "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. A pod that opts in (examples/pod.yaml) and its tenant policy (examples/policies/team-a/web.aa)"
cat examples/pod.yaml
step "2. Boot a simulated node: Debian's 6.1 kernel with apparmor=1 security=apparmor"
lsmns sim reset --lsm lockdown,capability,landlock,yama,apparmor,bpf --kernel 6.1.0-56-amd64 >/dev/null && echo "(sim state: $LSMNS_SIM_STATE)"
step "3. The plan (a dry run)"
lsmns plan --pod examples/pod.yaml
step "3b. The same plan, compared with containerd's default profile (the host bound the shim keeps): conflicts"
lsmns plan --pod examples/pod.yaml --host-profile-dir test/fixtures/policy/hosts | sed -n '/^Conflicts/,$p' | head -6
echo "  ..."
step "4. Apply it: the hook's steps, then the runtime starting the container under its label"
lsmns apply --pod examples/pod.yaml
step "5. The simulated kernel now"
lsmns sim show
step "6. The pod stops: poststop releases its last reference and removes the namespace"
lsmns apply --pod examples/pod.yaml --stage poststop
lsmns sim show
step "7. The same pod on a node whose LSMs are lockdown,capability,landlock,bpf (no AppArmor): exit 3"
lsmns plan --pod examples/pod.yaml --lsm lockdown,capability,landlock,bpf --kernel 6.18.44 || echo "(exit $?)"
step "8. A hostile annotation is refused before anything runs: exit 2, and the kernel is unchanged"
sed 's|apparmor-namespace: tenant-a|apparmor-namespace: "../../policy/namespaces"|' examples/pod.yaml > "$D/hostile.yaml"
lsmns apply --pod "$D/hostile.yaml" || echo "(exit $?)"
echo; echo "Demo state is in $D"
