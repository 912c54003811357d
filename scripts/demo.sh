#!/usr/bin/env bash
# demo.sh — build dlbp, start a local cluster (maplb in mode dlbp, a second
# maplb in mode single, reducelb and 3 nodes, all on loopback with free
# ports), run wordcount in both modes, print the top 10 words and the wall
# time of each, and stop every process it started (also on Ctrl-C or error).
#
#   scripts/demo.sh            # the Gutenberg texts of ../shared when present,
#                              # else a generated corpus of 8 MB
#   scripts/demo.sh FILE...    # your own files
#   scripts/demo.sh --keep     # leave the cluster running afterwards, and say how to use
#                              # it (dashboard, DLBP_LB) and how to stop it
set -euo pipefail

keep=0
if [[ ${1:-} == --keep ]]; then
  keep=1
  shift
fi
case ${1:-} in -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/dlbp-demo.XXXXXX")
bin="$work/bin"
pids=()

stop_all() {
  local code=$?
  trap - EXIT INT TERM
  if ((${#pids[@]})); then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
      alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      ((alive)) || break
      sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  if ((code != 0)); then
    echo "demo failed (exit $code); daemon logs are in $work/logs" >&2
  else
    rm -rf "$work"
  fi
  exit "$code"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

echo "building into $bin"
(cd "$root" && go build -o "$bin/" ./cmd/...)
mkdir -p "$work/logs"

# start NAME ARGS... — start a daemon and wait for its addrs.json.
start() {
  local name=$1 prog=$2
  shift 2
  "$bin/$prog" --name "$name" --data-dir "$work/data/$name" --rpc 127.0.0.1:0 --gossip 127.0.0.1:0 \
    --log-level warn "$@" >"$work/logs/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    [[ -s "$work/data/$name/addrs.json" ]] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/logs/$name.log" >&2; return 1; }
    sleep 0.1
  done
  echo "$name did not start" >&2
  return 1
}

field() { sed -n "s/.*\"$2\": \"\([^\"]*\)\".*/\1/p" "$work/data/$1/addrs.json"; }

start maplb maplb --http 127.0.0.1:0
seed=$(field maplb gossip)
start maplb-single maplb --mode single --http "" --join "$seed"
start reducelb reducelb --join "$seed"
for i in 1 2 3; do start "node$i" node --join "$seed" --slots 2; done
lb=$(field maplb rpc)
lb_single=$(field maplb-single rpc)
http=$(field maplb http)
echo "cluster up: maplb (dlbp) $lb, maplb (single) $lb_single; dashboard http://$http/ (health: http://$http/healthz)"

for _ in $(seq 100); do
  n=$("$bin/dlbp" nodes --lb "$lb" | awk '$2 == "node" && $4 == "alive"' | wc -l)
  ((n == 3)) && break
  sleep 0.1
done
"$bin/dlbp" nodes --lb "$lb"

if (($# > 0)); then
  inputs=("$@")
elif compgen -G "$root/../shared/data/gutenberg/*.txt" >/dev/null; then
  inputs=("$root"/../shared/data/gutenberg/*.txt)
else
  echo "no ../shared/data/gutenberg: generating an 8 MB corpus"
  mkdir -p "$work/corpus"
  for i in 1 2 3 4; do
    (cd "$root" && go run ./scripts/gencorpus -size 2MB -seed "$i" -o "$work/corpus/gen-$i.txt")
  done
  inputs=("$work"/corpus/gen-*.txt)
fi
bytes=$(cat "${inputs[@]}" | wc -c)
echo "input: ${#inputs[@]} files, $bytes bytes"

for mode in dlbp single; do
  addr=$lb
  [[ $mode == single ]] && addr=$lb_single
  t0=$(date +%s.%N)
  "$bin/dlbp" submit --lb "$addr" --job wordcount --reducers 3 --quiet "${inputs[@]}" >"$work/wordcount-$mode.txt"
  t1=$(date +%s.%N)
  echo
  echo "== mode $mode: wordcount in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f s", b - a }'), $(wc -l <"$work/wordcount-$mode.txt") distinct words; top 10:"
  sort -k2,2nr -k1,1 "$work/wordcount-$mode.txt" >"$work/top-$mode.txt"
  head -n 10 "$work/top-$mode.txt"
done
echo
if cmp -s "$work/wordcount-dlbp.txt" "$work/wordcount-single.txt"; then
  echo "both modes gave byte-identical results"
else
  echo "the two modes disagree!" >&2
  exit 1
fi

if ((keep)); then
  {
    echo '#!/usr/bin/env bash'
    echo "# stops the cluster scripts/demo.sh --keep started, and removes its files"
    echo "kill -TERM ${pids[*]} 2>/dev/null; sleep 2; kill -KILL ${pids[*]} 2>/dev/null; rm -rf '$work'"
  } >"$work/stop.sh"
  chmod +x "$work/stop.sh"
  pids=() # the cluster stays up
  trap - EXIT
  cat <<NEXT

The cluster keeps running (--keep). Next, the client at the dlbp-mode maplb ($lb_single is
the one in mode single), the built-in jobs with their parameters, and two jobs:
  export DLBP_LB=$lb
  $bin/dlbp nodes
  $bin/dlbp jobs --list
  $bin/dlbp submit --job grep --param pattern='whale' ${inputs[0]}
  $bin/dlbp submit --job sum --param range=1..1000000
  dashboard:   http://$http/
  daemon logs: $work/logs/    data: $work/data/    binaries: $bin/
To stop it and remove its files:
  $work/stop.sh
NEXT
fi
