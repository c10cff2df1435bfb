#!/usr/bin/env bash
# Regenerates the operator console's screenshots (docs/console.md): runs the main job briefly with the console on and
# --keep-serving, adds a small text bank for the explainer, photographs the bank list, a benchmark bank and the
# explainer with Debian's headless chromium, then stops the job. Usage: docs/img/console-screenshots.sh [OUT_DIR]
# (default docs/img). CI runs it into a temporary folder to check that it still works, with SHOTS_EPOCHS=2 (the
# benchmark's least) since its images are thrown away.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mkdir -p "${1:-$root/docs/img}" && cd "${1:-$root/docs/img}" && pwd)
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "chromium is not installed (apt-get install chromium)"; exit 1; }
work=$(mktemp -d)
job=""
cleanup() {
  if [ -n "$job" ]; then kill "$job" 2>/dev/null || true; wait "$job" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

dotnet build "$root/bench/MemRL.Bench.Learning" -c Release -v q -nologo >/dev/null
# In its own folder: the job's data (./data/memrl.db) and results stay out of the repository.
(cd "$work" && exec dotnet "$root/bench/MemRL.Bench.Learning/bin/Release/net10.0/MemRL.Bench.Learning.dll" \
  --scenario distractors --seeds 1 --epochs "${SHOTS_EPOCHS:-4}" --methods memrl,similarity --keep-serving --out "$work/out" >"$work/job.log" 2>&1) &
job=$!
for _ in $(seq 1 600); do
  grep -q "Console still serving" "$work/job.log" && break
  kill -0 "$job" 2>/dev/null || { echo "the main job stopped:"; cat "$work/job.log"; exit 1; }
  sleep 0.5
done
grep -q "Console still serving" "$work/job.log" || { echo "the main job did not finish in 300 s:"; tail -20 "$work/job.log"; exit 1; }
url=$(grep -o 'http://[^ ]*#key=[A-Za-z0-9_-]*' "$work/job.log" | head -n 1)
base=${url%%#*}
key=${url#*#key=}
api() { curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' "$@"; }
bank=$(api "${base%/console}/v1/banks" | grep -o '"name":"distractors-memrl[^"]*"' | head -n 1 | cut -d'"' -f4)
[ -n "$bank" ] || { echo "no benchmark bank is listed"; exit 1; }

# A small text bank (hashing embedder: no model to load) so the explainer has text to explain.
v1=${base%/console}/v1/banks
api -X POST "$v1" -d '{"name":"support","embedderId":"memrl-hashing/v1/64","options":{"delta":0.1,"k2":2,"mergeThreshold":2}}' >/dev/null
for m in 'reset my password|send the reset link from the login page|true' \
         'reset a forgotten password|ask an admin to reset it|false' \
         'password reset link expired|request a new link; links live 15 minutes|true' \
         'change the account email|verify the new address first|true'; do
  IFS='|' read -r intent experience success <<<"$m"
  api -X POST "$v1/support/memories" -d "{\"intentText\":\"$intent\",\"experience\":\"$experience\",\"success\":$success}" >/dev/null
done
for reward in 1 1 0; do
  token=$(api -X POST "$v1/support/recall" -d '{"queryText":"reset password"}' | grep -o '"token":"[^"]*"' | cut -d'"' -f4)
  api -X POST "$v1/support/reward" -d "{\"token\":\"$token\",\"reward\":$reward}" >/dev/null
done

shoot() {
  local name=$1 fragment=$2 height=$3
  DBUS_SESSION_BUS_ADDRESS=disabled: "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$work/profile-$name" --virtual-time-budget=4000 --window-size="1280,$height" \
    --screenshot="$out/$name.png" "$base#key=$key&$fragment" >/dev/null 2>&1
  [ -s "$out/$name.png" ] || { echo "no screenshot $name.png"; exit 1; }
}
# In parallel: a browser start is most of each shot's time.
shoot console-banks "" 520 & shots=($!)
shoot console-bank "bank=$bank" 1250 & shots+=($!)
shoot console-explain "bank=support&q=how%20do%20I%20reset%20my%20password" 1450 & shots+=($!)
wait "${shots[@]}" || true
for name in console-banks console-bank console-explain; do
  [ -s "$out/$name.png" ] || { echo "no screenshot $name.png"; exit 1; }
  echo "wrote $out/$name.png"
done
