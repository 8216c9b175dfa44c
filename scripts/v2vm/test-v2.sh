#!/bin/bash
# npm run test:v2: the cgroup v2 lane. Runs scripts/v2vm/guest-tests.sh in a QEMU guest with pure
# cgroup v2 and systemd as init (run-lane.sh; the guest image is built once, then reused), and
# prints the lane's times and a closing "v2 lane: N passed, N failed" line (vitest's tests plus
# the lane's two checks: runcell doctor, the systemd units serving jobs).
# V2_REPORT_OUT=FILE: also writes {"numPassedTests", "numFailedTests", "testResults"} there (for .ci/run: the
# failed tests in vitest's JSON shape, the lane's failed checks as files without tests).
set -uo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
# In the repository: the guest writes it through the 9p share.
report=$(mktemp -p "$PWD" .v2-report.XXXXXX)
trap 'rm -f "$report" "$report.checks"' EXIT
scripts/v2vm/run-lane.sh -e V2_REPORT="$report" ${V2_FILES:+-e V2_FILES="$V2_FILES"} 'bash scripts/v2vm/guest-tests.sh'
status=$?
node -e '
  const fs = require("fs");
  const [report, out] = process.argv.slice(1);
  let passed = 0, failed = 0, missing = "", testResults = [];
  try {
    const r = JSON.parse(fs.readFileSync(report, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests;
    // Only what .ci/run prints of a failure: the file, the failed tests and their first message.
    testResults = (r.testResults ?? []).filter((file) => file.status === "failed").map((file) => ({
      name: file.name, status: file.status, message: file.message,
      assertionResults: (file.assertionResults ?? []).filter((test) => test.status === "failed").map(({ fullName, status, failureMessages }) => ({ fullName, status, failureMessages: (failureMessages ?? []).slice(0, 1) })),
    }));
  } catch { missing = " (no vitest report: the tests did not run to the end)"; }
  try {
    for (const line of fs.readFileSync(`${report}.checks`, "utf8").trim().split("\n")) {
      if (line.endsWith(" passed")) passed++;
      else { failed++; testResults.push({ name: "v2 lane check", status: "failed", message: line }); }
    }
  } catch { missing += " (no checks)"; }
  if (out) fs.writeFileSync(out, JSON.stringify({ numPassedTests: passed, numFailedTests: failed, complete: missing === "", testResults }));
  console.log(`v2 lane: ${passed} passed, ${failed} failed${missing}`);
' "$report" "${V2_REPORT_OUT:-}"
echo "v2 lane: $(( $(date +%s) - start )) s in all (image, data disk, boot, tests)"
exit "$status"
