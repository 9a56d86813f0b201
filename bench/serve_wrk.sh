#!/usr/bin/env bash
# Benchmark: requests/s of `distrib serve` (waitress) for 200 and for 304 answers, measured with wrk.
#
# Run:  bash bench/serve_wrk.sh            (needs wrk: `apt-get install -y wrk` on Debian/Ubuntu)
# Env:  ROUNDS=3 DURATION=5s THREADS=2 CONNECTIONS=20 PORT=18080 FEED_LIMIT=12
#
# Seeds a throw-away SQLite store with the bench releases, writes the feeds (FEED_LIMIT=12 entries makes
# feed.atom ~50 KB, the size of the reference measurements), starts `distrib serve` and runs wrk against
# /feed.atom: plain GET (200, identity), GET with Accept-Encoding: gzip (200, gzip), and GET with the
# ETag in If-None-Match (304). Rounds are interleaved; the median req/s of each is printed at the end.
# wrk and the server share this machine's cores, so the figures are conservative.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-20}
PORT=${PORT:-18080}
FEED_LIMIT=${FEED_LIMIT:-12}
PY=${PY:-.venv/bin/python}

if ! command -v wrk >/dev/null; then
  echo "wrk is not installed: apt-get install -y wrk" >&2
  exit 2
fi

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export DISTRIB_DATA_DIR="$WORK/data" DISTRIB_PUBLIC_DIR="$WORK/public" DISTRIB_FEED_LIMIT="$FEED_LIMIT"
export DISTRIB_PUBLIC_URL="http://127.0.0.1:$PORT"
"$PY" - <<'PY'
import os, sys
sys.path.insert(0, "bench")
from feeds_build import seed
from distrib.store import Store
store = Store(f"sqlite:///{os.environ['DISTRIB_DATA_DIR']}/distrib.sqlite3")
seed(store, 200)
store.close()
PY

"$PY" -m distrib serve --host 127.0.0.1 --port "$PORT" --refresh 0 >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
URL="http://127.0.0.1:$PORT/feed.atom"
SIZE=$(curl -fsS "$URL" | wc -c)
GZSIZE=$(curl -fsS -H 'Accept-Encoding: gzip' "$URL" | wc -c)
ETAG=$(curl -fsSI "$URL" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
echo "feed.atom: $SIZE bytes ($GZSIZE gzipped), ETag $ETAG; wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds"

declare -A RESULTS
run() {  # name, extra wrk args...
  local name=$1; shift
  local rps
  rps=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$URL" | tee "$WORK/$name.txt" \
        | awk '/Requests\/sec/{print $2}')
  local p50 p99
  p50=$(awk '$1=="50%"{print $2}' "$WORK/$name.txt")
  p99=$(awk '$1=="99%"{print $2}' "$WORK/$name.txt")
  printf '  %-12s %10s req/s   p50 %-8s p99 %s\n' "$name" "$rps" "$p50" "$p99"
  RESULTS[$name]="${RESULTS[$name]:-} $rps"
}
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round"
  run 200
  run 200-gzip -H 'Accept-Encoding: gzip'
  run 304 -H "If-None-Match: $ETAG"
done

echo "median req/s:"
for name in 200 200-gzip 304; do
  # shellcheck disable=SC2086
  median=$(printf '%s\n' ${RESULTS[$name]} | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  printf '  %-10s %s\n' "$name" "$median"
done
