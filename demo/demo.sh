#!/usr/bin/env bash
# `make demo`: start the sandbox, run a real purge against it, show the status, stop the sandbox.
set -euo pipefail
cd "$(dirname "$0")"

port="${DEMO_PORT:-8765}"
log="$(mktemp)"
rm -f runner.db runner.db-wal runner.db-shm runner.db.lock
python make_numbers.py data/dnc.csv

runner sandbox --port "$port" --present-ratio 0.7 --rate-limit 1200/min --error-rate 0.03 \
  --campaign Outbound_Sales >"$log" 2>&1 &
sandbox_pid=$!
trap 'kill "$sandbox_pid" 2>/dev/null; wait "$sandbox_pid" 2>/dev/null; rm -f "$log"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for _ in $(seq 100); do
  grep -q "listening" "$log" && break
  if ! kill -0 "$sandbox_pid" 2>/dev/null; then
    echo "demo: the sandbox did not start:" >&2; cat "$log" >&2; exit 1
  fi
  sleep 0.1
done
echo "== $(cat "$log")  (rate limit 1200/min, 70 % of numbers present, 3 % server errors)"
echo "== runner run jobs.yaml"
export CLOUDAGENT_API_KEY=sandbox-key
code=0
runner run jobs.yaml --log-format console || code=$?
echo "== runner run exited $code"
echo "== runner status jobs.yaml"
runner status jobs.yaml
echo "== the sandbox's counters: $(python -c "import json,urllib.request as u; s=json.load(u.urlopen('http://127.0.0.1:$port/_sandbox/stats')); print({k: s[k] for k in ('requests','deleted','not_found','rate_limited','errors','max_in_window_overall')})")"
# `runner` is on the PATH of this script only (make puts the venv there): name it in full.
runner_bin="$(command -v runner)"
echo "== done: try '$runner_bin export jobs.yaml --state invalid' or '$runner_bin status jobs.yaml --json' in demo/"
