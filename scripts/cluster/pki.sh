#!/bin/bash
# pki.sh: the cluster's certificates with openssl (one CA for everything; the service-account key pair), and a
# kubeconfig per client. Idempotent: files that exist are kept.
set -euo pipefail
. "$(dirname "$0")/env.sh"
mkdir -p "$PKI"
cd "$PKI"
[ -f ca.crt ] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=lsmns-cluster-ca" -keyout ca.key -out ca.crt 2>/dev/null
[ -f sa.key ] || { openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null; }
# cert NAME SUBJECT [SAN]: a key and a certificate signed by the CA.
cert() {
  [ -f "$1.crt" ] && return 0
  openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  { echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "${3:-}" ]; then echo "extendedKeyUsage=serverAuth"; echo "subjectAltName=$3"; else echo "extendedKeyUsage=clientAuth"; fi
  } > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
cert apiserver "/CN=kube-apiserver" "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$KUBERNETES_SVC_IP,IP:$NODE_IP"
cert admin "/O=system:masters/CN=lsmns-cluster-admin"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
cert controller-manager "/CN=system:kube-controller-manager"
cert scheduler "/CN=system:kube-scheduler"
cert kube-proxy "/CN=system:kube-proxy"
cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
# kubeconfig NAME: $C/NAME.kubeconfig for the client certificate NAME.
for n in admin controller-manager scheduler kube-proxy kubelet; do
  f=$C/$n.kubeconfig
  [ -f "$f" ] && continue
  cat > "$f" <<KC
apiVersion: v1
kind: Config
clusters:
- name: lsmns
  cluster: {server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority: "$PKI/ca.crt"}
users:
- name: $n
  user: {client-certificate: "$PKI/$n.crt", client-key: "$PKI/$n.key"}
contexts:
- name: lsmns
  context: {cluster: lsmns, user: $n}
current-context: lsmns
KC
done
