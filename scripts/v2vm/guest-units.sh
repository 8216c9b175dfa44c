#!/bin/bash
# In the v2 guest: installs deploy/systemd's units as a host would (runcell in /opt/runcell),
# starts Redis, runcell-worker@1 and runcell-api, and checks that a job runs, that a job over
# its memory limit is stopped, and that the worker's cgroups are under its own unit.
set -euo pipefail
fail() {
  echo "[units] FAILED: $*"
  systemctl list-jobs --no-pager | head -20
  systemctl status --no-pager runcell-api runcell-worker@1 redis-server | head -40
  journalctl -b --no-pager -o cat _SYSTEMD_UNIT=runcell-api.service + _SYSTEMD_UNIT=runcell-worker@1.service | tail -40 | cut -c1-1000
  exit 1
}
install -m 0644 deploy/systemd/runcell-api.service deploy/systemd/runcell-worker@.service /etc/systemd/system/
printf '%s\n' REDIS_URL=redis://127.0.0.1:6379 RUNCELL_HOST=127.0.0.1 RUNCELL_PORT=8080 RUNCELL_SLOTS=4 RUNCELL_CONCURRENCY=2 \
  RUNCELL_DEFAULT_CPU_MS=30000 RUNCELL_DEFAULT_WALL_MS=90000 > /etc/default/runcell   # emulation: see guest-tests.sh
rm -f /etc/systemd/system/redis-server.service   # masked in the guest image (the tests start their own)
systemctl daemon-reload
# --no-block: the lane's own unit is still part of the boot transaction; the loop below waits.
systemctl start --no-block redis-server runcell-worker@1 runcell-api
start=$(date +%s)
while ! curl -fs -m 10 http://127.0.0.1:8080/readyz >/dev/null; do
  waited=$(( $(date +%s) - start ))
  for u in runcell-api runcell-worker@1; do
    [ "$(systemctl is-active $u)" = failed ] && fail "$u failed"
    # Restart=on-failure hides a unit that cannot start: after a few restarts, say so instead of waiting.
    [ "$(systemctl show -p NRestarts --value $u)" -ge 3 ] && fail "$u keeps failing (restarted $(systemctl show -p NRestarts --value $u) times)"
  done
  [ "$waited" -lt 1200 ] || fail "the API is not ready after $waited s"
  echo "[units] waiting for /readyz ($waited s); the last lines of their logs:"
  journalctl -b --no-pager -o cat -n 6 _SYSTEMD_UNIT=runcell-api.service + _SYSTEMD_UNIT=runcell-worker@1.service | cut -c1-600
  sleep 30
done
echo "[units] ready after $(( $(date +%s) - start )) s"
# A job's answer once it has finished (?wait holds at most 60 s; emulation can take longer).
post() {
  local answer id
  answer=$(curl -sS -X POST 'http://127.0.0.1:8080/v1/jobs?wait=60' -H 'Content-Type: application/json' -d "$1")
  id=$(echo "$answer" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
  for i in $(seq 20); do
    echo "$answer" | grep -q '"status":"\(queued\|running\)"' || break
    sleep 5
    answer=$(curl -sS "http://127.0.0.1:8080/v1/jobs/$id")
  done
  echo "$answer"
}
ok=$(post '{"command": ["/bin/sh", "-c", "echo hello from $(id -u)"], "limits": {"wall_ms": 60000}}')
echo "[units] job: $ok"
echo "$ok" | grep -q '"status":"ok"' || fail "a job did not run"
echo "$ok" | grep -q '"stdout":"hello from ' || fail "a job's output is missing"
oom=$(post '{"command": ["/usr/bin/python3", "-c", "a = bytearray(256 * 1024 * 1024)"], "limits": {"memory_bytes": 67108864, "wall_ms": 60000}}')
echo "[units] memory hog: $oom"
echo "$oom" | grep -q '"status":"memory_limit"' || fail "a job over its memory limit was not stopped by it"
cgroup=$(systemctl show -P ControlGroup runcell-worker@1)   # /system.slice/system-runcell\x2dworker.slice/runcell-worker@1.service
unit=/sys/fs/cgroup$cgroup
pid=$(systemctl show -P MainPID runcell-worker@1)
grep -qxF "0::$cgroup/runcell-supervisor" "/proc/$pid/cgroup" || fail "the worker is not in its supervisor leaf: $(cat /proc/$pid/cgroup)"
[ -d "$unit/runcell" ] || fail "no runcell cgroup under $unit"
[ -z "$(cat "$unit/cgroup.procs")" ] || fail "processes left in $unit itself"
echo "[units] worker cgroups: $(cd "$unit" && find . -mindepth 1 -maxdepth 3 -type d | sort | tr '\n' ' ')"
systemctl stop runcell-api runcell-worker@1
[ ! -e "$unit" ] || [ -z "$(find "$unit" -mindepth 3 -maxdepth 3 -type d)" ] || fail "run cgroups left after the worker stopped"
echo "[units] ok: runcell-api and runcell-worker@1 served jobs, limits held, cgroups under the worker's unit"
