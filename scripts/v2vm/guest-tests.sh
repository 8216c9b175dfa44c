#!/bin/bash
# The v2 lane's steps, in the guest (run-lane.sh runs it in runcell-v2lane.service, Delegate=yes):
# runcell doctor, the test files that exercise cgroups and limits on the kernel, then runcell's
# shipped systemd units (deploy/systemd) serving a job. Exit code: 0 when all passed.
# V2_REPORT: where vitest writes its JSON report (a path the host reads, in the repository).
set -u
export RUNCELL_DATA_DIR=/var/lib/runcell RUNCELL_CGROUP_PARENT=runcell RUNCELL_TEST_NO_TIMING=1 RUNCELL_V2_LANE=1
export UV_THREADPOOL_SIZE=16
# The guest console is a tty: vitest would redraw its progress; CI=1 keeps the plain log.
export CI=1
# Default CPU and wall limits for what emulation makes 10 to 50 times slower (a Python start-up
# alone passes 2 s of CPU); tests that set their own limits keep them.
export RUNCELL_DEFAULT_CPU_MS=30000 RUNCELL_DEFAULT_WALL_MS=90000 RUNCELL_COMPILE_DEFAULT_CPU_MS=60000 RUNCELL_COMPILE_DEFAULT_WALL_MS=120000
FILES=${V2_FILES:-test/cgroup2.test.ts test/cgroup2-kernel.test.ts test/cgroup-entry.test.ts test/limits.test.ts test/isolation.test.ts test/security/resources.test.ts test/cleanup.test.ts test/workers.test.ts}
failed=0
step() { echo "== [v2 lane] $* (uptime $(cut -d' ' -f1 /proc/uptime)s)"; }
step "host layout: $(uname -r), $(findmnt -no FSTYPE,OPTIONS /sys/fs/cgroup), own cgroup $(cut -d: -f3 /proc/self/cgroup)"
report=${V2_REPORT:-/tmp/v2-report.json}
# The lane's two checks outside vitest, one line each for the host's count: "<name> passed|failed".
check() { local name=$1; shift; if "$@"; then echo "$name passed" >> "$report.checks"; else echo "$name failed" >> "$report.checks"; failed=1; fi; }
step "runcell doctor"
check "runcell doctor" node bin/runcell.js doctor
step "tests: $FILES"
# Emulation is 10 to 50 times slower than the host: the per-test timeouts are raised (behaviour is asserted, not time).
node node_modules/vitest/vitest.mjs run --reporter=default --reporter=json --outputFile="$report" \
  --testTimeout=900000 --hookTimeout=900000 $FILES || failed=1
step "systemd units"
check "systemd units serve jobs" bash scripts/v2vm/guest-units.sh
step "done, failed=$failed"
exit $failed
