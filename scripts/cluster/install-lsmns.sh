#!/bin/bash
# install-lsmns.sh: installs lsmns on the running test cluster as a user would: the manifests through the local
# overlay, the webhook certificate with scripts/webhook-cert.sh, then waits for the agent and both controllers.
set -euo pipefail
. "$(dirname "$0")/env.sh"
t=$(date +%s)
export KUBECONFIG=$C/admin.kubeconfig PATH=$C/bin:$PATH
kubectl apply -k "$repo/manifests/overlays/local" >&2
"$repo/scripts/webhook-cert.sh" "$C/webhook-cert" >&2
kubectl -n lsmns-system rollout status daemonset/lsmns-agent --timeout=180s >&2
kubectl -n lsmns-system rollout status deployment/lsmns-controller --timeout=180s >&2
log "lsmns installed and Ready in $(( $(date +%s) - t )) s"
