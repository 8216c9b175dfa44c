#!/bin/bash
# Runs a command as root in a throwaway QEMU guest whose host layout is a production one on
# cgroup v2: Debian 12, its 6.1 kernel booted with cgroup_no_v1=all, systemd as init, the
# command in runcell-v2lane.service with Delegate=yes.
#
#   run-lane.sh [-e NAME=VALUE]... 'a shell command line'
#
# The repository is shared read-write (9p) at its host path (and /opt/runcell); the command
# runs there with bash; its stdout and stderr stream to this script's, whose exit code is the
# command's (125: the guest failed). The guest image comes from build-image.sh (cached by the
# hash of its inputs); the rootfs the host built (`runcell rootfs path` in $RUNCELL_DATA_DIR, default
# /var/lib/runcell) is copied once into an ext4 data disk (cached by the rootfs' hash), mounted
# at /var/lib/runcell in the guest. Both disks get a qcow2 overlay per run: runs leave no trace.
# No network device: the guest has loopback only.
# Environment: V2VM_CACHE (/var/cache/runcell-v2vm), V2VM_MEM (MiB, 3072), V2VM_CPUS (2),
# V2VM_TIMEOUT (seconds, 3600), V2VM_ACCEL (kvm|tcg; tcg where /dev/kvm is kvm-pvm or absent).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export V2VM_CACHE=${V2VM_CACHE:-/var/cache/runcell-v2vm}
envs=()
while [ $# -gt 0 ]; do
  case "$1" in
    -e) envs+=("$2"); shift 2 ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: $0 [-e NAME=VALUE]... 'command line'" >&2; exit 125; }
now() { date +%s.%N; }
secs() { awk "BEGIN{printf \"%.0f\", $2 - $1}"; }
t0=$(now)
command -v qemu-system-x86_64 >/dev/null && command -v qemu-img >/dev/null \
  || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 qemu-utils >&2
image=$("$here/build-image.sh" | tail -1)
t1=$(now)
rootfs_parent=${RUNCELL_DATA_DIR:-/var/lib/runcell}/rootfs
# The image of the current manifest: a layered image's read-only overlay (mounted by `rootfs path`), or a
# monolithic directory; the guest gets it as one directory, rootfs/<hash>.
rootfs_path=$(node "$repo/bin/runcell.js" rootfs path 2>/dev/null) || rootfs_path=
if [ -n "$rootfs_path" ] && [ -f "$rootfs_path/.runcell-rootfs.json" ]; then
  rootfs=$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).hash)' "$rootfs_path/.runcell-rootfs.json")
else
  rootfs=$(find "$rootfs_parent" -mindepth 1 -maxdepth 1 -type d ! -name '*.tmp*' -printf '%T@ %f\n' | sort -rn | head -1 | cut -d' ' -f2)
  rootfs_path="$rootfs_parent/$rootfs"
fi
[ -n "$rootfs" ] || { echo "v2vm: no rootfs in $rootfs_parent (run: node scripts/setup.js)" >&2; exit 125; }
data="$V2VM_CACHE/data-$rootfs.img"
if [ ! -f "$data" ]; then
  stage="$V2VM_CACHE/data-$rootfs.stage"
  rm -rf "$stage" "$data.tmp"; mkdir -p "$stage/rootfs/$rootfs"
  # A bind mount of the image (a plain directory or the layered image's overlay): no copy; mke2fs -d keeps owners and modes.
  mount --bind -o ro "$rootfs_path" "$stage/rootfs/$rootfs"
  mke2fs -q -t ext4 -L v2data -d "$stage" "$data.tmp" 8G && mv "$data.tmp" "$data"
  umount "$stage/rootfs/$rootfs"
  rm -rf "$stage"
  find "$V2VM_CACHE" -maxdepth 1 -name 'data-*.img' ! -name "data-$rootfs.img" -delete   # older rootfs
fi
t2=$(now)
ctl=$(mktemp -d "$V2VM_CACHE/run.XXXXXX")
trap 'rm -rf "$ctl"' EXIT
echo "$repo" > "$ctl/workpath"
printf '%s\n' "$1" > "$ctl/cmd"
: > "$ctl/env"
for kv in "${envs[@]+"${envs[@]}"}"; do printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}" >> "$ctl/env"; done
qemu-img create -q -f qcow2 -b "$image/root.img" -F raw "$ctl/root.qcow2"
qemu-img create -q -f qcow2 -b "$data" -F raw "$ctl/data.qcow2"
# KVM where it works; TCG (emulation) where /dev/kvm is PVM's (Debian's kernel does not boot
# under it) or absent.
if [ -z "${V2VM_ACCEL:-}" ]; then
  if [ -d /sys/module/kvm_pvm ] || [ ! -w /dev/kvm ]; then V2VM_ACCEL=tcg; else V2VM_ACCEL=kvm; fi
fi
if [ "$V2VM_ACCEL" = kvm ]; then accel=(-accel kvm -cpu host,-arch-capabilities); else accel=(-accel tcg,thread=multi,tb-size=512 -cpu max); fi
# The guest's stdout and stderr come through FIFOs copied by cat, written through this
# script's own descriptors.
mkfifo "$ctl/out" "$ctl/err"
cat "$ctl/out" & outcat=$!
cat "$ctl/err" >&2 & errcat=$!
# no_timer_check: under emulation on a loaded host the kernel's early check of the IO-APIC timer can
# miss its ticks and panic ("IO-APIC + timer doesn't work"), seen here while mmdebstrap ran beside it.
set +e
timeout --foreground -k 5 "${V2VM_TIMEOUT:-3600}" qemu-system-x86_64 \
  -nodefaults -no-user-config -display none -no-reboot \
  "${accel[@]}" -smp "${V2VM_CPUS:-2}" -m "${V2VM_MEM:-3072}" \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
  -append "console=ttyS0 root=/dev/vda rw quiet loglevel=4 panic=-1 no_timer_check cgroup_no_v1=all systemd.show_status=false" \
  -drive "file=$ctl/root.qcow2,if=virtio,format=qcow2,cache=unsafe" \
  -drive "file=$ctl/data.qcow2,if=virtio,format=qcow2,cache=unsafe" \
  -virtfs "local,path=$ctl,mount_tag=ctl,security_model=passthrough,id=ctl" \
  -virtfs "local,path=$repo,mount_tag=work,security_model=passthrough,id=work" \
  -nic none -serial "file:$ctl/console.log" \
  -device virtio-serial-pci \
  -chardev "file,id=out,path=$ctl/out" -device virtconsole,chardev=out \
  -chardev "file,id=err,path=$ctl/err" -device virtconsole,chardev=err \
  </dev/null
qrc=$?
for f in out err; do exec 3<>"$ctl/$f"; exec 3>&-; done   # releases a cat still in open()
wait "$outcat" "$errcat" 2>/dev/null
set -e
t3=$(now)
boot=$(grep -ho 'command starts at uptime [0-9.]*' "$ctl/console.log" | grep -o '[0-9.]*$' || echo '?')
echo "[v2vm] $V2VM_ACCEL: image $(secs "$t0" "$t1")s, data disk $(secs "$t1" "$t2")s, guest $(secs "$t2" "$t3")s (boot to command ${boot}s)" >&2
if [ -f "$ctl/rc" ]; then exit "$(cat "$ctl/rc")"; fi
echo "v2vm: the guest stopped without the command's exit code (qemu exit $qrc); console log:" >&2
tail -40 "$ctl/console.log" >&2 || true
exit 125
