#!/usr/bin/env bash
# What the live training page costs training: the same short run without --live, with --live and no page
# open, and with --live and one client on the event stream (curl on /events, standing in for a browser
# tab), interleaved round by round (the starting variant rotates), on a machine that may be shared.
# Reports each round's wall time, CPU time (user + system of the training process, from /usr/bin/time)
# and the trainer's own samples/s, the ratio of each --live run to the same round's run without it, and
# the median ratios; every run's final test accuracy must be the same (the page changes no arithmetic).
#
# Usage: bash bench/live-overhead.sh            (3 rounds)
#        ROUNDS=5 TRAIN_ARGS="--limit 8000 --epochs 2 --seed 1 --threads 2 --plain" bash bench/live-overhead.sh
#        SHARPCNN_DLL=path/to/SharpCnn.Cli.dll bash bench/live-overhead.sh   (an already built tool)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
read -r -a train_args <<< "${TRAIN_ARGS:---limit 8000 --epochs 2 --seed 1 --threads 2 --plain}"
dll=${SHARPCNN_DLL:-}
if [ -z "$dll" ]; then
  dotnet build -c Release src/SharpCnn.Cli -nologo -v q >/dev/null
  dll=src/SharpCnn.Cli/bin/Release/net10.0/SharpCnn.Cli.dll
fi
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 2; }
out=$(mktemp -d)
variants=(off live client)
echo "cpu: $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo "run: dotnet $dll train ${train_args[*]}  [+ --live --port 0] [+ curl -sN URL/events]"
echo "logs: $out"

run() { # variant round
  local v=$1 r=$2 log="$out/$1-$2" client=""
  local extra=()
  [ "$v" = off ] || extra=(--live --port 0)
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f "%e %U %S" -o "$log.time" dotnet "$dll" train "${train_args[@]}" "${extra[@]}" >"$log.out" 2>"$log.err" &
  local pid=$!
  if [ "$v" = client ]; then
    local url=""
    for _ in $(seq 1200); do
      url=$(grep -o 'http://127.0.0.1:[0-9]*/' "$log.err" 2>/dev/null | head -n 1 || true)
      [ -n "$url" ] && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    if [ -n "$url" ]; then
      curl -sN --max-time 3600 "${url}events" >"$log.sse" 2>/dev/null &
      client=$!
    fi
  fi
  wait "$pid" || { echo "run $v $r failed:" >&2; cat "$log.err" >&2; exit 1; }
  if [ -n "$client" ]; then kill "$client" 2>/dev/null || true; wait "$client" 2>/dev/null || true; fi
  local wall user sys
  read -r wall user sys < <(tail -n 1 "$log.time")
  local cpu; cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  local sps; sps=$(grep -o '([0-9,]* samples/s)' "$log.out" | tr -d '(,' | awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n; else print "nan" }')
  local acc; acc=$(grep -o 'test accuracy [0-9.]* %' "$log.out" | tail -n 1 | awk '{ print $3 }')
  local events=""
  [ -f "$log.sse" ] && events=" sse_events=$(grep -c '^event:' "$log.sse" || true)"
  echo "$r $v wall=$wall cpu=$cpu sps=$sps acc=$acc load=$load$events" | tee -a "$out/results"
}

for ((r = 1; r <= rounds; r++)); do
  for ((k = 0; k < 3; k++)); do run "${variants[$(((r - 1 + k) % 3))]}" "$r"; done
done

echo
echo "per round: ratio of each --live variant to the same round's run without it (wall, cpu: > 1 costs more; samples/s: < 1 is slower)"
awk '
  { split($3, w, "="); split($4, c, "="); split($5, s, "="); split($6, a, "=");
    wall[$1, $2] = w[2]; cpu[$1, $2] = c[2]; sps[$1, $2] = s[2]; acc[$2 " " a[2]] = 1; rounds[$1] = 1 }
  END {
    n = 0
    for (r in rounds) {
      for (i = 1; i <= 2; i++) {
        v = (i == 1) ? "live" : "client"
        printf "round %s %-6s wall %.3f  cpu %.3f  samples/s %.3f\n", r, v, wall[r, v] / wall[r, "off"], cpu[r, v] / cpu[r, "off"], sps[r, v] / sps[r, "off"]
      }
    }
    accs = ""; for (k in acc) accs = accs " [" k "]"
    print "final test accuracies by variant:" accs
  }' "$out/results" | sort
echo
median() { sort -g | awk '{ x[NR] = $1 } END { if (NR % 2) print x[(NR + 1) / 2]; else printf "%.4f\n", (x[NR / 2] + x[NR / 2 + 1]) / 2 }'; }
for v in live client; do
  for m in wall cpu sps; do
    col=$(case $m in wall) echo 3;; cpu) echo 4;; sps) echo 5;; esac)
    med=$(awk -v v="$v" -v col="$col" '
      { split($col, x, "="); val[$1, $2] = x[2]; rounds[$1] = 1 }
      END { for (r in rounds) if ((r, v) in val && (r, "off") in val) printf "%.4f\n", val[r, v] / val[r, "off"] }' "$out/results" | median)
    echo "median $v/off $m: $med"
  done
done
