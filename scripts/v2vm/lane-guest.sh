#!/bin/bash
# Runs in the v2 guest as runcell-v2lane.service (installed in the image by build-image.sh):
# mounts the host's shares (9p "ctl": the run's control folder; "work": the repository, at the
# host's path, also bound at /opt/runcell where the shipped units expect runcell) and the data
# disk, runs ctl/cmd with bash in the repository with stdout on /dev/hvc0 and stderr on
# /dev/hvc1, writes its exit code to ctl/rc and powers the guest off.
set -u
log() { echo "v2lane: $*" > /dev/console; }
modprobe -a 9p 9pnet_virtio virtio_console 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 ctl /mnt/ctl || { log "cannot mount ctl"; exit 1; }
workpath=$(cat /mnt/ctl/workpath)
mkdir -p "$workpath" /opt/runcell
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=loose work "$workpath" || log "cannot mount work at $workpath"
mount --bind "$workpath" /opt/runcell
[ -b /dev/vdb ] && { mount -o noatime /dev/vdb /var/lib/runcell || log "cannot mount /dev/vdb"; }
for i in $(seq 50); do [ -c /dev/hvc1 ] && break; sleep 0.1; done
stty -F /dev/hvc0 raw -echo 2>/dev/null; stty -F /dev/hvc1 raw -echo 2>/dev/null
read -r up _ < /proc/uptime
log "command starts at uptime ${up}s"
cd "$workpath" && bash -c '. /mnt/ctl/env; exec bash /mnt/ctl/cmd' </dev/null >/dev/hvc0 2>/dev/hvc1
rc=$?
read -r up _ < /proc/uptime
log "command exited $rc at uptime ${up}s"
echo "$rc" > /mnt/ctl/rc
# Both disks are throwaway overlays: power off now rather than wait for an orderly shutdown
# (a minute or more under emulation).
sync
echo o > /proc/sysrq-trigger
exit 0
