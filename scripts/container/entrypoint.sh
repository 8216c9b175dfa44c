#!/bin/sh
# The container's entrypoint for a runcell worker (or `runcell serve`) without --privileged: podman and
# docker mount the cgroup tree read-only in an unprivileged container and have no switch for it alone.
# With its own cgroup namespace (--cgroupns=private) the tree it sees is its own cgroup's subtree; with
# CAP_SYS_ADMIN it can make those mounts writable itself (a bind remount: the flag of this mount only).
# Then runs its arguments (default: runcell serve).
set -eu
for target in $(findmnt -rno TARGET -t cgroup,cgroup2); do
  mount -o remount,bind,rw "$target" || echo "entrypoint: cannot make $target writable (needs CAP_SYS_ADMIN)" >&2
done
[ $# -gt 0 ] || set -- node /opt/runcell/bin/runcell.js serve
exec "$@"
