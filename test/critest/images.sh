#!/bin/bash
# images.sh REGISTRY STORE: the images critest pulls, built here (no registry can be reached) from this host's
# busybox-static with buildah, and pushed to the loopback registry at REGISTRY (host:port, plain HTTP) whose
# storage is STORE, under the paths critest asks for once --registry-prefix REGISTRY replaces its registry host
# (framework.PrepareImageName keeps the path). Each stands in for the upstream image with what the specs check:
#   e2e-test-images/busybox:1.29-2       every busybox applet (hard links, as in busybox's image, so masking
#                                        /bin/ls leaves sh alone), pgrep and ipcs (which Debian's busybox lacks)
#   e2e-test-images/nginx:1.14-2         a process named nginx whose cmdline says "master process", writing
#                                        /var/run/nginx.pid, serving / on :80 (busybox httpd)
#   e2e-test-images/httpd:2.4.39-4       serves / on :80 and logs a line naming httpd
#   e2e-test-images/nonewprivs:1.3       a setuid-root program printing "Effective uid: N"
#   k8s-staging-cri-tools/hostnet-nginx-amd64   serves / on :12003
#   k8s-staging-cri-tools/test-image-*   busybox plus a file named after the image; the user images set USER as
#                                        cri-tools' images/build does (1002, www-data, 1003:1004, www-data:1004,
#                                        and 1000 in group 50000 for test-image-predefined-group)
#   pause:3.9                            what registry.k8s.io/pause:3.9 and k8s.gcr.io/pause:3.9 both become
#   pause:3.10                           the pods' sandbox image (containerd's sandbox_image): pause.c, which starts
#                                        nothing; not 3.9, which an image spec removes
# The digest-pinned test-image-digest cannot be rebuilt (its digest is upstream's bytes); make test-critest skips
# the spec that pulls it. The images are pushed only when STORE has no stamp for this script's inputs.
set -euo pipefail
reg=$1 store=$2
here=$(cd "$(dirname "$0")" && pwd)
key=$(cat "$here/images.sh" "$here/nonewprivs.c" "$here/pause.c" /bin/busybox | sha256sum | cut -c1-16)
[ -f "$store/lsmns-critest-images-$key" ] && { echo "critest images: cached in $store ($key)" >&2; exit 0; }
t=$(date +%s)
w=$(mktemp -d /tmp/lsmns-critest-images.XXXXXX)
trap 'buildah --root "$w/root" --runroot "$w/run" --storage-driver vfs rm -a >/dev/null 2>&1 || true; rm -rf "$w"' EXIT
bah=(buildah --root "$w/root" --runroot "$w/run" --storage-driver vfs)

# The base rootfs: busybox-static with every applet, root and www-data (33) as in busybox's own image, and this
# host's pgrep and ipcs with the libraries they link.
base=$w/base
mkdir -p "$base"/{bin,etc,proc,sys,dev,tmp,var/run,root,usr/sbin,www}
cp /bin/busybox "$base/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln "$base/bin/busybox" "$base/bin/$a"; done
for b in pgrep ipcs; do
  f=$(readlink -f "$(command -v $b)")
  cp "$f" "$base/bin/$b"
  for lib in $(ldd "$f" | grep -o '/[^ ]*'); do mkdir -p "$base$(dirname "$lib")"; cp -Ln "$lib" "$base$lib"; done
done
chmod 1777 "$base/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$base/etc/passwd"
printf 'root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n' > "$base/etc/group"
echo '<html><body>lsmns critest</body></html>' > "$base/www/index.html"
# The web servers: a shell named nginx (so pidof finds it) that keeps running in front of busybox httpd.
cat > "$base/usr/sbin/nginx" <<'SH'
#!/bin/sh
echo $$ > /var/run/nginx.pid
httpd -f -p "${PORT:-80}" -h /www &
trap 'kill $!; exit 0' TERM INT QUIT
wait
SH
cat > "$base/usr/sbin/httpd-foreground" <<'SH'
#!/bin/sh
echo "httpd: serving / on port 80"
exec httpd -f -v -p 80 -h /www
SH
chmod 755 "$base/usr/sbin/nginx" "$base/usr/sbin/httpd-foreground"
tar --owner=0 --group=0 --numeric-owner -C "$base" -cf "$w/base.tar" .

# push "NAME:TAG..." [buildah config args...]: one image of the base plus the files under $w/extra, if any, pushed
# under each name (timestamp 0, so a rebuild gives the same digests).
push() {
  local refs=$1; shift
  local c; c=$("${bah[@]}" from scratch)
  "${bah[@]}" add "$c" "$w/base.tar" / >/dev/null
  [ ! -d "$w/extra" ] || { tar --numeric-owner -C "$w/extra" -cf "$w/extra.tar" . && "${bah[@]}" add "$c" "$w/extra.tar" / >/dev/null; }
  "${bah[@]}" config --env PATH=/usr/sbin:/bin --cmd '["sh"]' "$@" "$c" >/dev/null
  "${bah[@]}" commit -q --timestamp 0 "$c" "localhost/critest-build" >/dev/null
  local ref; for ref in $refs; do "${bah[@]}" push -q --tls-verify=false --format docker localhost/critest-build "docker://$reg/$ref"; done
  "${bah[@]}" rm "$c" >/dev/null
  rm -rf "$w/extra" "$w/extra.tar"
}
# marked NAME: extra holds a file /NAME, so images with different names differ.
marked() { mkdir -p "$w/extra"; echo "$1" > "$w/extra/$1"; }

push e2e-test-images/busybox:1.29-2
push e2e-test-images/nginx:1.14-2 --entrypoint '["/usr/sbin/nginx","master process nginx"]' --cmd '[]' --port 80
push e2e-test-images/httpd:2.4.39-4 --entrypoint '["/usr/sbin/httpd-foreground"]' --cmd '[]' --port 80
push k8s-staging-cri-tools/hostnet-nginx-amd64:latest --env PORT=12003 --entrypoint '["/usr/sbin/nginx","master process nginx"]' --cmd '[]'
mkdir -p "$w/extra/usr/local/bin"
gcc -static -O2 -o "$w/extra/usr/local/bin/nonewprivs" "$here/nonewprivs.c"
chmod 4755 "$w/extra/usr/local/bin/nonewprivs"
push e2e-test-images/nonewprivs:1.3 --entrypoint '["/usr/local/bin/nonewprivs"]' --cmd '[]'
push pause:3.9 --entrypoint '["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]' --cmd '[]'
mkdir -p "$w/extra"
gcc -static -O2 -o "$w/extra/pause" "$here/pause.c"
push pause:3.10 --entrypoint '["/pause"]' --cmd '[]'
for u in test-image-user-uid=1002 test-image-user-username=www-data test-image-user-uid-group=1003:1004 test-image-user-username-group=www-data:1004; do
  push "k8s-staging-cri-tools/${u%%=*}:latest" --user "${u#*=}"
done
mkdir -p "$w/extra/etc"
{ cat "$base/etc/passwd"; echo 'default-user:x:1000:1000::/home/default-user:/bin/sh'; } > "$w/extra/etc/passwd"
{ cat "$base/etc/group"; echo 'default-user:x:1000:'; echo 'group-defined-in-image:x:50000:default-user'; } > "$w/extra/etc/group"
push k8s-staging-cri-tools/test-image-predefined-group:latest --user 1000
for i in test-image-latest:latest test-image-1:latest test-image-2:latest test-image-3:latest; do marked "${i%%:*}"; push "k8s-staging-cri-tools/$i"; done
marked test-image-tag; push "k8s-staging-cri-tools/test-image-tag:test k8s-staging-cri-tools/test-image-tag:all"
marked test-image-tags; push "$(printf 'k8s-staging-cri-tools/test-image-tags:%s ' 1 2 3)"
touch "$store/lsmns-critest-images-$key"
echo "critest images: built and pushed in $(( $(date +%s) - t )) s to $reg ($key)" >&2
