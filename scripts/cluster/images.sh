#!/bin/bash
# images.sh: every image the cluster needs, built here (no registry can be reached) and imported into the node's
# containerd (namespace k8s.io): the pause image, a small test image (busybox), and the lsmns image, built with
# buildah from the repo's Containerfile on a Node base made offline from this host's node binary. Each archive is
# rebuilt only when its inputs change (a hash of them names it in .cluster/images/).
set -euo pipefail
. "$(dirname "$0")/env.sh"
LSMNS_IMAGE=ghcr.io/lsmns/lsmns:0.1.0-local BASE_IMAGE=localhost/lsmns-node-base:local
I=$C/images
mkdir -p "$I"
t=$(date +%s)
[ -f "$I/pause.tar" ] || bash "$repo/test/cri/mkimage.sh" lsmns.test/pause:1 "$I/pause.tar" \
  '["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]' >&2
[ -f "$I/busybox.tar" ] || bash "$repo/test/cri/mkimage.sh" lsmns.test/busybox:1 "$I/busybox.tar" '["/bin/sh"]' >&2

# The lsmns image's context: what a release holds (package files, bin, dist without tests, hooks) and the
# production dependencies, from npm's cache. The key leaves out V8's code caches (*.cache), which differ per build.
ctx=$I/context
key=$(cd "$repo" && cat Containerfile package.json package-lock.json oclif.manifest.json \
  <(find bin hooks dist/src dist/bundle dist/native -type f ! -name '*.cache' 2>/dev/null | sort | xargs sha256sum) | sha256sum | cut -c1-16)
if [ ! -f "$I/lsmns-$key.tar" ]; then
  rm -rf "$ctx" "$I"/lsmns-*.tar
  mkdir -p "$ctx/dist"
  (cd "$repo" && cp -a Containerfile package.json package-lock.json oclif.manifest.json bin hooks "$ctx/" \
    && cp -a dist/src dist/bundle "$ctx/dist/" && { [ ! -d dist/native ] || cp -a dist/native "$ctx/dist/"; })
  (cd "$ctx" && npm ci --omit=dev --ignore-scripts --offline --no-audit --no-fund --loglevel=error >&2)
  bah=(buildah --root "$I/buildah/root" --runroot "$I/buildah/run" --storage-driver vfs)
  # The base: node and the libraries it links, busybox for /bin/sh and install, and the controller's user.
  if ! "${bah[@]}" inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
    r=$(mktemp -d); trap 'rm -rf "$r"' EXIT
    mkdir -p "$r"/{bin,usr/bin,etc,tmp,proc,sys,dev,run}
    chmod 1777 "$r/tmp"
    # node, and install(1) from coreutils (Debian's busybox has no install applet), with the libraries they link.
    for b in node install; do
      f=$(readlink -f "$(command -v $b)")
      cp "$f" "$r/usr/bin/$b"
      for lib in $(ldd "$f" | grep -o '/[^ ]*'); do mkdir -p "$r$(dirname "$lib")"; cp -Ln "$lib" "$r$lib"; done
    done
    cp /bin/busybox "$r/bin/busybox"
    for a in sh cat ls mkdir rm cp mv ln chmod echo sleep test env id ps grep sed true false; do ln -s busybox "$r/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/false\n' > "$r/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' > "$r/etc/group"
    b=$("${bah[@]}" from scratch)
    "${bah[@]}" copy "$b" "$r/" / >/dev/null
    "${bah[@]}" config --env PATH=/usr/bin:/bin "$b" >/dev/null
    "${bah[@]}" commit -q "$b" "$BASE_IMAGE" >/dev/null
    "${bah[@]}" rm "$b" >/dev/null
  fi
  "${bah[@]}" bud -q --pull-never --build-arg "BASE=$BASE_IMAGE" -f "$ctx/Containerfile" -t "$LSMNS_IMAGE" "$ctx" >&2
  "${bah[@]}" push -q "$LSMNS_IMAGE" "docker-archive:$I/lsmns-$key.tar:$LSMNS_IMAGE" >&2
  "${bah[@]}" rmi -q "$LSMNS_IMAGE" >/dev/null 2>&1 || true
fi
for a in pause busybox "lsmns-$key"; do echo "$I/$a.tar"; done > "$C/node-images"
while read -r a; do "$CTR" --address "$CTRD_SOCK" -n k8s.io images import "$a" >/dev/null; done < "$C/node-images"
log "images built and imported in $(( $(date +%s) - t )) s: lsmns.test/pause:1 lsmns.test/busybox:1 $LSMNS_IMAGE"
