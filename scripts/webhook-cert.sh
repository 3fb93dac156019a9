#!/bin/bash
# Serving certificate for the lsmns webhook without cert-manager: a private CA and a server certificate for
# lsmns-webhook.lsmns-system.svc, the Secret lsmns-webhook-tls, and the CA in the webhook's caBundle.
#   scripts/webhook-cert.sh [OUTDIR]     (needs openssl and kubectl with access to the cluster)
# Re-run it before the certificate expires (365 days); the controller reloads a rotated pair without a restart.
set -euo pipefail
ns=${LSMNS_NAMESPACE:-lsmns-system}
svc=lsmns-webhook
out=${1:-$(mktemp -d)}
mkdir -p "$out"
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=lsmns-webhook-ca" -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=$svc.$ns.svc" -keyout "$out/tls.key" -out "$out/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s.%s.svc,DNS:%s.%s.svc.cluster.local\n' "$svc" "$ns" "$svc" "$ns" >"$out/ext.cnf"
openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial -days 365 -extfile "$out/ext.cnf" -out "$out/tls.crt" 2>/dev/null
kubectl -n "$ns" create secret tls lsmns-webhook-tls --cert="$out/tls.crt" --key="$out/tls.key" --dry-run=client -o yaml | kubectl apply -f -
kubectl patch mutatingwebhookconfiguration lsmns --type=json \
  -p "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$(base64 -w0 <"$out/ca.crt")\"}]"
echo "webhook certificate in $out (CA key: $out/ca.key; keep it or delete it)"
