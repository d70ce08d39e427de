#!/usr/bin/env bash
# Load test of `sharpcnn serve` on loopback with Debian's `hey` (apt-get install hey): the seed CNN, trained briefly,
# serves one 28 x 28 PNG digit; N1 requests at concurrency 1, then N64 at concurrency 64. Every answer must be 200
# (no errors), and with dynamic batching the throughput at concurrency 64 must be at least RATIO times that at 1.
# Prints throughput and p50/p99 latency of both, the server's batch figures, the CPU and the load average.
# Usage: tests/load/serve-load.sh [SHARPCNN-COMMAND]   (default: the Release build of src/SharpCnn.Cli, built first)
# Environment: N1 (2000), N64 (20032), RATIO (3), OUT (a file to copy the report to).
set -euo pipefail
cd "$(dirname "$0")/../.."
n1=${N1:-2000}
n64=${N64:-20032} # 313 per client: hey sends N/C requests per client, so a multiple of 64 sends them all
ratio=${RATIO:-3}
if [ $# -ge 1 ]; then
  sharpcnn=$1
else
  dotnet build -c Release src/SharpCnn.Cli -v q -nologo >/dev/null
  sharpcnn=src/SharpCnn.Cli/bin/Release/net10.0/SharpCnn.Cli
fi
command -v hey >/dev/null || { echo "error: hey is not installed (apt-get install hey)" >&2; exit 2; }
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill -TERM "$server"; wait "$server" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== training the seed CNN briefly (1 epoch of 2,000 bundled digits)"
"$sharpcnn" train --epochs 1 --limit 2000 --plain --output "$work/seed.scnn" | tail -n 2
digit=samples/digits/7-grey.png

"$sharpcnn" serve "$work/seed.scnn" --port 0 --max-batch 32 >"$work/serve.log" 2>&1 &
server=$!
url=""
for _ in $(seq 1 200); do
  url=$(grep -oE 'serving on http://[0-9.:]+' "$work/serve.log" | head -n 1 | sed 's/serving on //') || true
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "error: the server did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
echo "== serving on $url"
port=${url##*:}
get() { # get PATH: the body of GET PATH, over bash's /dev/tcp (no curl needed)
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
  sed '1,/^\r$/d' <&3
  exec 3<&-
}
echo "health: $(get /health)"

run() { # run NAME N C: hey's report into $work/NAME.txt, a one-line summary on stdout
  local name=$1 n=$2 c=$3
  hey -n "$n" -c "$c" -m POST -T image/png -D "$digit" -t 30 "$url/predict" >"$work/$name.txt"
  local rps p50 p99 ok
  rps=$(awk '/Requests\/sec:/ {print $2}' "$work/$name.txt")
  p50=$(awk '/ 50% in / {printf "%.2f", $3 * 1000}' "$work/$name.txt")
  p99=$(awk '/ 99% in / {printf "%.2f", $3 * 1000}' "$work/$name.txt")
  ok=$(awk '/\[200\]/ {print $2}' "$work/$name.txt")
  n=$((n / c * c)) # what hey sends: N/C per client
  if [ "${ok:-0}" != "$n" ] || grep -q "Error distribution" "$work/$name.txt"; then
    echo "error: $name: $n requests, ${ok:-0} answered 200" >&2
    cat "$work/$name.txt" >&2
    exit 1
  fi
  echo "$name: $n requests at concurrency $c: $rps requests/s, p50 $p50 ms, p99 $p99 ms, 0 errors"
  eval "${name}_rps=$rps"
}

echo "== warm-up"
hey -n 500 -c 16 -m POST -T image/png -D "$digit" "$url/predict" >/dev/null
{
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  run c1 "$n1" 1
  run c64 "$n64" 64
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "server metrics: $(get /metrics)"
} | tee "$work/report.txt"
c1_rps=$(awk '/^c1:/ {print $7}' "$work/report.txt")
c64_rps=$(awk '/^c64:/ {print $7}' "$work/report.txt")
gain=$(awk -v a="$c64_rps" -v b="$c1_rps" 'BEGIN {printf "%.2f", a / b}')
echo "throughput at concurrency 64 / concurrency 1: $gain (at least $ratio required)" | tee -a "$work/report.txt"
if [ -n "${OUT:-}" ]; then cp "$work/report.txt" "$OUT"; fi
awk -v g="$gain" -v r="$ratio" 'BEGIN {exit !(g >= r)}' || { echo "error: dynamic batching gave only ${gain}x" >&2; exit 1; }
