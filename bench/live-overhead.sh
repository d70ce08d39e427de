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
#        SUMMARISE=results.txt bash bench/live-overhead.sh                    (summarise saved result lines again)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
read -r -a train_args <<< "${TRAIN_ARGS:---limit 8000 --epochs 2 --seed 1 --threads 2 --plain}"
summarise() { # results file
  echo
  echo "per round: each --live variant over the same round's run without it (wall, cpu: above 1 costs more; samples/s: below 1 is slower)"
  awk '
    { for (i = 3; i <= NF; i++) { split($i, kv, "="); val[$1, $2, kv[1]] = kv[2] } rounds[$1] = 1; acc[$2 " " val[$1, $2, "acc"]] = 1 }
    END {
      for (r in rounds) for (i = 1; i <= 2; i++) {
        v = (i == 1) ? "live" : "client"
        if (!((r, v, "wall") in val) || !((r, "off", "wall") in val)) continue
        printf "round %s %-6s wall %.3f  cpu %.3f  samples/s %.3f\n", r, v, val[r, v, "wall"] / val[r, "off", "wall"], val[r, v, "cpu"] / val[r, "off", "cpu"], val[r, v, "sps"] / val[r, "off", "sps"]
      }
      accs = ""; for (k in acc) accs = accs " [" k "]"
      print "final test accuracy by variant:" accs
    }' "$1" | sort
  echo
  for v in live client; do
    for m in wall cpu sps; do
      med=$(awk -v v="$v" -v m="$m" '
        { for (i = 3; i <= NF; i++) { split($i, kv, "="); val[$1, $2, kv[1]] = kv[2] } rounds[$1] = 1 }
        END { for (r in rounds) if ((r, v, m) in val && (r, "off", m) in val) printf "%.4f\n", val[r, v, m] / val[r, "off", m] }' "$1" |
        sort -g | awk '{ x[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print x[(NR + 1) / 2]; else printf "%.4f\n", (x[NR / 2] + x[NR / 2 + 1]) / 2 }')
      echo "median $v/off $m: $med"
    done
  done
  awk '{ for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "thread_cost_pct") print kv[2] } }' "$1" |
    sort -g | awk '{ x[NR] = $1 } END { if (NR) printf "median time the page cost the training thread (its own measurement): %s %% of the run\n", (NR % 2) ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2 }'
}

# SUMMARISE=FILE: only summarise the result lines of an earlier run (the lines starting "ROUND VARIANT wall=...").
if [ -n "${SUMMARISE:-}" ]; then summarise "$SUMMARISE"; exit 0; fi
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
  local cost; cost=$(grep -o 'live page: [0-9.]* s of the training thread.* ([0-9.]* % of the run' "$log.err" | grep -o '([0-9.]* %' | tr -d '( %' || true)
  local events=""
  [ -n "$cost" ] && events=" thread_cost_pct=$cost"
  # What the page received (how lively it was): all events, and the per-layer statistics and pictures among them.
  [ -f "$log.sse" ] && events="$events sse_events=$(grep -c '^event:' "$log.sse" || true) sse_layers=$(grep -c '^event: layers' "$log.sse" || true) sse_pictures=$(grep -c '^event: pictures' "$log.sse" || true)"
  echo "$r $v wall=$wall cpu=$cpu sps=$sps acc=$acc load=$load$events" | tee -a "$out/results"
}

for ((r = 1; r <= rounds; r++)); do
  for ((k = 0; k < 3; k++)); do run "${variants[$(((r - 1 + k) % 3))]}" "$r"; done
done
summarise "$out/results"
