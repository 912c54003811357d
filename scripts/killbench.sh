#!/usr/bin/env bash
# killbench.sh — what a node crash costs a job. In one run: a wordcount of SIZE_MB of generated
# text (default 200) through maplb (mode dlbp), reducelb and 4 nodes (--slots 2), with no fault,
# and the same job with 1 of the 4 nodes killed (kill -9) mid-map — once a quarter of the map
# tasks are done, the node with the most running map tasks. Map tasks of SPLIT bytes (default
# 4 MiB, so that the map phase runs in several waves and "mid-map" is a moment one can hit). RUNS runs of each (default 3),
# interleaved (clean, fault, clean, fault, …), each on a fresh cluster; every output is
# compared byte for byte with the sequential reference. Prints every time, the median of each
# kind and their ratio (the target is at most 1.5). Failure detection is part of the cost: the
# load balancers probe each node's service every 250 ms and move a node's work as soon as its
# connection is refused, without waiting for gossip (~5 s) and the leave grace (2 s).
#
#   scripts/killbench.sh [SIZE_MB]         RUNS=3, SPLIT=4194304 (environment), TMPDIR: where data goes
#
# Each job is timed from `dlbp submit --detach` (the upload included) until `dlbp wait
# --output FILE` has written the whole result. Every process it starts is stopped on exit,
# Ctrl-C or failure; its temporary directory is removed unless it failed.
set -euo pipefail

size_mb=${1:-200}
runs=${RUNS:-3}
split=${SPLIT:-4194304}
if ! [[ $size_mb =~ ^[1-9][0-9]*$ && $runs =~ ^[1-9][0-9]*$ && $split =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SIZE_MB]   (whole megabytes, default 200; RUNS=N runs of each kind, default 3)" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/procs.sh
. "$root/scripts/lib/procs.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/dlbp-killbench.XXXXXX")
bin=$work/bin
mkdir -p "$bin" "$work/input" "$work/logs"
export DLBP_LB= DLBP_SECRET_FILE=

pids=() # every daemon of the current cluster

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

stop_cluster() {
  ((${#pids[@]})) || return 0
  stop_pids "${pids[@]}"
  wait 2>/dev/null || true
  pids=()
}

finish() {
  local code=$?
  trap - EXIT INT TERM
  stop_cluster
  if ((code == 0 || code == 130 || code == 143)); then
    rm -rf "$work"
  else
    rm -rf "$work/input" "$work/data" "$bin"
    echo "killbench.sh failed (exit $code); logs are in $work/logs" >&2
  fi
  exit "$code"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "building into $bin"
(cd "$root" && go build -o "$bin/" ./cmd/... ./scripts/gencorpus ./scripts/reference)

nfiles=8
inputs=()
for i in $(seq 1 "$nfiles"); do
  f=$work/input/text-$i.txt
  "$bin/gencorpus" -size "$((size_mb * 1024 * 1024 / nfiles))" -seed "$((300 + i))" -o "$f"
  inputs+=("$f")
done
t0=$(now)
"$bin/reference" wordcount "${inputs[@]}" >"$work/want"
echo "input: $size_mb MB in $nfiles files; sequential reference: $(secs "$t0" "$(now)") s"

# start RUN NAME BINARY ARGS... — start a daemon of the cluster of RUN; sets addrs to its
# addrs.json. (No subshell: pids must keep every daemon.)
start() {
  local run=$1 name=$2 prog=$3
  shift 3
  local dir=$work/data/$run/$name
  "$bin/$prog" --name "$name" --data-dir "$dir" --rpc 127.0.0.1:0 --gossip 127.0.0.1:0 --log-level warn \
    "$@" >"$work/logs/$run-$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  echo "$name $pid" >>"$work/data/$run.pids"
  for _ in $(seq 150); do
    if [[ -s $dir/addrs.json ]]; then
      addrs=$(cat "$dir/addrs.json")
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$work/logs/$run-$name.log" >&2; echo "$name exited before serving" >&2; return 1; }
    sleep 0.1
  done
  echo "$name did not write addrs.json within 15 s" >&2
  return 1
}

# cluster RUN — start maplb, reducelb and node1..node4 for RUN; sets lb.
cluster() {
  local run=$1
  mkdir -p "$work/data/$run"
  start "$run" maplb maplb --http ""
  lb=$(jq -r .rpc <<<"$addrs")
  local join
  join=$(jq -r .gossip <<<"$addrs")
  start "$run" reducelb reducelb --join "$join"
  for i in 1 2 3 4; do start "$run" "node$i" node --join "$join" --slots 2; done
  for _ in $(seq 200); do
    [[ $("$bin/dlbp" nodes --lb "$lb" --json | jq '[.[] | select(.state == "alive" and (.role == "node" or .role == "reducelb"))] | length') == 5 ]] && return 0
    sleep 0.1
  done
  echo "the cluster of $run did not form within 20 s" >&2
  return 1
}

# job RUN KIND — one timed job on a fresh cluster; KIND is clean or kill. Sets took (seconds).
job() {
  local run=$1 kind=$2
  cluster "$run"
  local out=$work/out-$run
  local start id victim=""
  start=$(now)
  id=$("$bin/dlbp" submit --lb "$lb" --job wordcount --reducers 4 --split-size "$split" --detach --quiet "${inputs[@]}")
  if [[ $kind == kill ]]; then
    while :; do
      local st
      st=$("$bin/dlbp" status "$id" --lb "$lb" --json)
      if jq -e '.maps_total > 0 and .maps_done * 4 >= .maps_total' <<<"$st" >/dev/null; then
        if jq -e '.maps_done * 4 > .maps_total * 3' <<<"$st" >/dev/null; then
          echo "$run: the map phase went past three quarters between two polls; not a mid-map kill (use a smaller SPLIT)" >&2
          return 1
        fi
        victim=$(jq -r '[.maps[].attempts[] | select(.state == "running") | .node] | group_by(.) | max_by(length) | .[0] // "node4"' <<<"$st")
        local done total
        done=$(jq .maps_done <<<"$st") total=$(jq .maps_total <<<"$st")
        local pid
        pid=$(awk -v n="$victim" '$1 == n { print $2 }' "$work/data/$run.pids")
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null || true # reaped here, so bash does not report "Killed"
        echo "  $run: kill -9 $victim (pid $pid) at $done/$total maps done, $(secs "$start" "$(now)") s in" >&2
        break
      fi
      jq -e '.state == "running" or .state == "queued"' <<<"$st" >/dev/null || { echo "$run: job ended before the kill: $st" >&2; return 1; }
      sleep 0.1
    done
  fi
  "$bin/dlbp" wait "$id" --lb "$lb" --quiet --output "$out" --force
  took=$(secs "$start" "$(now)")
  cat "$out"/part-* | LC_ALL=C sort | cmp -s - "$work/want" || { echo "$run: the output differs from the reference" >&2; return 1; }
  local attempts
  attempts=$("$bin/dlbp" status "$id" --lb "$lb" --json | jq -c '[.maps[].attempts[].state] | group_by(.) | map({(.[0]): length}) | add')
  echo "  $run: $kind $took s, $(jq .maps_total < <("$bin/dlbp" status "$id" --lb "$lb" --json)) map tasks, attempts $attempts, output exact" >&2
  stop_cluster
  rm -rf "$work/data/$run" "$out"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

clean=() killed=()
for r in $(seq 1 "$runs"); do
  job "clean-$r" clean
  clean+=("$took")
  job "kill-$r" kill
  killed+=("$took")
done
mc=$(median "${clean[@]}") mk=$(median "${killed[@]}")
echo "no fault:        ${clean[*]} s  median $mc s"
echo "1 of 4 killed:   ${killed[*]} s  median $mk s"
awk -v c="$mc" -v k="$mk" 'BEGIN { r = k / c; printf "ratio killed/clean: %.2f (target <= 1.5): %s\n", r, (r <= 1.5 ? "PASS" : "OVER") }'
