#!/usr/bin/env bash
# The project's test command (README): build once in Release, run every test project, print "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
dotnet build MemRL.Cluster.sln -c Release 2>&1 | tail -n 3
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit "$rc"
fi
dotnet test MemRL.Cluster.sln -c Release --no-build 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
# VSTest prints one "Passed!/Failed! - Failed: F, Passed: P, Skipped: S" line per test project; sum them.
awk '/^(Passed|Failed)! +- Failed: +[0-9]+, Passed: +[0-9]+/ { gsub(",", ""); f += $4; p += $6; s += $8; n++ }
     END { if (n == 0) { print "no test project reported"; f += 1 }
           printf "%d skipped\n%d passed, %d failed\n", s, p, f }' "$log"
rm -f "$log"
exit "$rc"
