#!/usr/bin/env bash
# scale.sh — the bounded-memory proof. Builds dlbp, generates SIZE_MB of text (several files,
# fixed seeds), starts maplb (mode dlbp), reducelb and 2 nodes (--slots 2) on loopback with
# free ports, runs `dlbp submit --job wordcount --reducers 2` on it (DLBP_SCALE_JOB picks
# another job), and compares the output with the sequential reference (scripts/reference).
# While the big job runs it submits a 1 MB wordcount and times it, then times the same small
# job on the idle cluster.
#
# Prints the wall time and MB/s of the job and of the reference, the small job's latency under
# load and idle, and the peak RSS (VmHWM) of every daemon and of the client. PASS only if the
# output is byte-identical and every daemon's peak RSS is at most 512 MiB; else FAIL and a
# non-zero exit. Every process it starts is stopped on exit, Ctrl-C or failure; its temporary
# directory is removed unless it failed (then the logs and outputs are kept, and named; the
# input and the cluster's data are removed: the same seeds give the same input again).
#
#   scripts/scale.sh          # 1024 MB
#   scripts/scale.sh 256
#
# Environment: DLBP_RSS_LIMIT_MIB (default 512), DLBP_NODE_MEMORY (a node's --memory; default:
# the node's own default), DLBP_SCALE_JOB (the big job: wordcount, the default, or indexer,
# sort, grep; grep uses DLBP_SCALE_PATTERN, default '^The|ing$'), TMPDIR (where the input and
# the cluster's data go).
set -euo pipefail

size_mb=${1:-1024}
if ! [[ $size_mb =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SIZE_MB]   (a whole number of megabytes, default 1024)" >&2
  exit 2
fi
limit_mib=${DLBP_RSS_LIMIT_MIB:-512}
job=${DLBP_SCALE_JOB:-wordcount}
job_args=() ref_args=()
case $job in
wordcount | indexer | sort) ;;
grep)
  pattern=${DLBP_SCALE_PATTERN:-'^The|ing$'}
  job_args=(--param "pattern=$pattern") ref_args=(-pattern "$pattern")
  ;;
*) echo "DLBP_SCALE_JOB=$job: want wordcount, indexer, sort or grep" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/procs.sh
. "$root/scripts/lib/procs.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/dlbp-scale.XXXXXX")
bin=$work/bin
logs=$work/logs
mkdir -p "$bin" "$logs" "$work/input" "$work/out"
export DLBP_LB= DLBP_SECRET_FILE= # the cluster below has no secret; --lb is always given

daemons=() # "name pid" of every daemon started
clients=() # pids of background clients
rss_done=0

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v mb="$size_mb" -v s="$1" 'BEGIN { printf "%.1f", (s > 0 ? mb / s : 0) }'; }
kib_to_mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

stop_all() {
  local code=$?
  trap - EXIT INT TERM
  for pid in "${clients[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true # the client under /usr/bin/time
    kill -TERM "$pid" 2>/dev/null || true
  done
  local pids=()
  for d in "${daemons[@]}"; do pids+=("${d#* }"); done
  stop_pids "${pids[@]}"
  wait 2>/dev/null || true
  if ((code == 0)); then
    rm -rf "$work"
  elif ((code == 130 || code == 143)); then
    rm -rf "$work"
    echo "scale.sh interrupted: every process it started is stopped, $work removed" >&2
  else
    # Keep what explains the failure; drop the bulk (the input can be generated again).
    rm -rf "$work/input" "$work/data" "$bin"
    echo "scale.sh failed (exit $code); logs and outputs are in $work (logs/: one per daemon and client)" >&2
  fi
  exit "$code"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- disk: the input, maplb's durable copy of it, the nodes' partials and spills, outputs.
need_kib=$(((size_mb * 5 / 2 + 512) * 1024))
[[ $job == wordcount ]] || need_kib=$((need_kib + size_mb * 3 * 1024)) # output, reference, partials
avail_kib=$(df -Pk "$work" | awk 'NR == 2 { print $4 }')
echo "disk: $(kib_to_mib "$avail_kib") MiB free under $work; this run needs about $(kib_to_mib "$need_kib") MiB"
if ((avail_kib < need_kib)); then
  echo "not enough free disk for $size_mb MB (input, maplb's copy, partials, outputs): free some or set TMPDIR" >&2
  exit 1
fi

echo "building into $bin"
(cd "$root" && go build -o "$bin/" ./cmd/... && go build -o "$bin/gencorpus" ./scripts/gencorpus &&
  go build -o "$bin/reference" ./scripts/reference)

# --- input: files of about 128 MiB (4 to 16 of them), seeds 1, 2, ...
nfiles=$((size_mb / 128))
((nfiles < 4)) && nfiles=4
((nfiles > 16)) && nfiles=16
total=$((size_mb * 1024 * 1024))
inputs=()
t0=$(now)
for i in $(seq 1 "$nfiles"); do
  size=$((total / nfiles))
  ((i == nfiles)) && size=$((total - size * (nfiles - 1)))
  f=$work/input/text-$(printf %02d "$i").txt
  "$bin/gencorpus" -size "$size" -seed "$i" -o "$f"
  inputs+=("$f")
done
small=$work/input/small-1MB.txt
"$bin/gencorpus" -size 1MB -seed 999 -o "$small"
echo "input: $size_mb MB in $nfiles files ($(secs "$t0" "$(now)") s to generate), small job: 1 MB"

# --- cluster
# start NAME BINARY ARGS... — start a daemon and wait for its addrs.json.
start() {
  local name=$1 prog=$2
  shift 2
  "$bin/$prog" --name "$name" --data-dir "$work/data/$name" --rpc 127.0.0.1:0 --gossip 127.0.0.1:0 \
    "$@" >"$logs/$name.log" 2>&1 &
  local pid=$!
  daemons+=("$name $pid")
  for _ in $(seq 150); do
    [[ -s "$work/data/$name/addrs.json" ]] && return 0
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logs/$name.log" >&2; echo "$name exited before serving" >&2; return 1; }
    sleep 0.1
  done
  echo "$name did not write addrs.json within 15 s" >&2
  return 1
}
field() { sed -n "s/.*\"$2\": *\"\([^\"]*\)\".*/\1/p" "$work/data/$1/addrs.json"; }

node_args=(--slots 2)
[[ -n ${DLBP_NODE_MEMORY:-} ]] && node_args+=(--memory "$DLBP_NODE_MEMORY")
start maplb maplb --mode dlbp --http 127.0.0.1:0
seed=$(field maplb gossip)
lb=$(field maplb rpc)
start reducelb reducelb --join "$seed"
start node1 node --join "$seed" "${node_args[@]}"
start node2 node --join "$seed" "${node_args[@]}"
for i in $(seq 100); do
  listed=$("$bin/dlbp" nodes --lb "$lb" 2>/dev/null | awk '$4 == "alive" && ($2 == "node" || $2 == "reducelb")' | wc -l)
  ((listed == 3)) && break
  ((i == 100)) && { echo "the 2 nodes and reducelb are not all listed alive after 10 s" >&2; "$bin/dlbp" nodes --lb "$lb" >&2; exit 1; }
  sleep 0.1
done
echo "cluster up: maplb $lb (mode dlbp), reducelb, node1 and node2 (${node_args[*]})"
"$bin/dlbp" nodes --lb "$lb"

# --- the small job's reference, then the big job with a small one submitted while it runs
"$bin/reference" wordcount "$small" >"$work/out/small-reference.txt"
small_ok=1
small_s=""
# small_job OUT — run the 1 MB wordcount into OUT, set small_s to its wall time (start to
# result), check its output.
small_job() {
  local t0 rc=0
  t0=$(now)
  # In the background, so that a signal is handled at once (bash defers traps until a
  # foreground command ends, but not during `wait`).
  "$bin/dlbp" submit --lb "$lb" --job wordcount --reducers 1 --quiet "$small" >"$1" 2>>"$logs/client-small.log" &
  clients+=("$!")
  wait "$!" || rc=$?
  unset 'clients[-1]'
  small_s=$(secs "$t0" "$(now)")
  if ((rc != 0)); then
    small_ok=0
    echo "small job: dlbp exit $rc (see $logs/client-small.log)" >&2
  elif ! cmp -s "$1" "$work/out/small-reference.txt"; then
    small_ok=0
    echo "small job: output $1 differs from the reference" >&2
  fi
}

timer=()
[[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f %M -o "$work/out/client-rss.kib")
echo
echo "running: dlbp submit --job $job${job_args[*]:+ ${job_args[*]}} --reducers 2 --quiet <$nfiles files, $size_mb MB>"
big_t0=$(now)
"${timer[@]}" "$bin/dlbp" submit --lb "$lb" --job "$job" "${job_args[@]}" --reducers 2 --quiet "${inputs[@]}" \
  >"$work/out/$job.txt" 2>"$logs/client-big.log" &
big_pid=$!
clients+=("$big_pid")

# While it runs: sample the client's VmHWM (when /usr/bin/time, which reports the exact peak,
# is absent) and wait for maplb to list the job as running (its input is uploaded first), then
# submit the small job.
client_hwm=0
sample_client() {
  local k
  ((${#timer[@]})) && return 0
  k=$(awk '/^VmHWM:/ { print $2 }' "/proc/$big_pid/status" 2>/dev/null || true)
  [[ -n $k ]] && ((k > client_hwm)) && client_hwm=$k
  return 0
}
small_load=""
big_running_after=""
while kill -0 "$big_pid" 2>/dev/null; do
  sample_client
  if [[ -z $small_load ]] && "$bin/dlbp" jobs --lb "$lb" 2>/dev/null | awk 'NR > 1 && $3 == "running" { f = 1 } END { exit !f }'; then
    echo "big job running ($(secs "$big_t0" "$(now)") s after submit began): submitting the 1 MB job"
    small_job "$work/out/small-under-load.txt"
    small_load=$small_s
    if "$bin/dlbp" jobs --lb "$lb" 2>/dev/null | awk 'NR > 1 && $3 == "running" { f = 1 } END { exit !f }'; then
      big_running_after=yes
    else
      big_running_after="no (the big job finished first)"
    fi
    echo "small job under load: $small_load s (big job still running when it ended: $big_running_after)"
  fi
  sleep 0.5
done
if wait "$big_pid"; then big_rc=0; else big_rc=$?; fi
big_t1=$(now)
clients=()
big_s=$(secs "$big_t0" "$big_t1")
echo "big job: exit $big_rc in $big_s s"
((big_rc == 0)) || tail -n 20 "$logs/client-big.log" >&2
if [[ -s $work/out/client-rss.kib ]]; then
  client_hwm=$(tail -n 1 "$work/out/client-rss.kib")
  client_how="getrusage, via /usr/bin/time"
else
  client_how="sampled every 0.5 s from /proc"
fi

# --- the same small job on the idle cluster, three times
small_idle=()
for _ in 1 2 3; do
  small_job "$work/out/small-idle.txt"
  small_idle+=("$small_s")
done

# --- peak RSS of every daemon, right before stopping them
declare -A hwm
for d in "${daemons[@]}"; do
  name=${d% *} pid=${d#* }
  hwm[$name]=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
done
"$bin/dlbp" jobs --lb "$lb" >"$work/out/jobs.txt" 2>&1 || true

# --- the sequential reference
echo "running the sequential reference (scripts/reference $job${ref_args[*]:+ ${ref_args[*]}})"
ref_timer=()
[[ -x /usr/bin/time ]] && ref_timer=(/usr/bin/time -f %M -o "$work/out/reference-rss.kib")
ref_t0=$(now)
"${ref_timer[@]}" "$bin/reference" "$job" "${ref_args[@]}" "${inputs[@]}" >"$work/out/reference.txt"
ref_s=$(secs "$ref_t0" "$(now)")
identical=0
((big_rc == 0)) && cmp -s "$work/out/$job.txt" "$work/out/reference.txt" && identical=1

# --- report
verdict=PASS
why=()
echo
echo "== $job of $size_mb MB ($nfiles files), R=2, 2 nodes x 2 slots, mode dlbp"
printf '%-38s %10s s  %7s MB/s\n' "dlbp submit (upload to result)" "$big_s" "$(rate "$big_s")"
printf '%-38s %10s s  %7s MB/s\n' "sequential reference" "$ref_s" "$(rate "$ref_s")"
if ((identical)); then
  echo "output: byte-identical to the reference ($(wc -l <"$work/out/reference.txt") lines)"
else
  verdict=FAIL
  if ((big_rc != 0)); then
    why+=("the job failed (dlbp exit $big_rc; see $logs/client-big.log)")
  else
    why+=("the output differs from the reference: $(cmp "$work/out/$job.txt" "$work/out/reference.txt" 2>&1 | head -n 1)")
  fi
fi
printf '%-38s %10s s  (big job still running at its end: %s)\n' "small job (1 MB) under load" "${small_load:-n/a}" "${big_running_after:-n/a}"
printf '%-38s %10s s  (3 runs: %s)\n' "small job (1 MB) on the idle cluster" "${small_idle[0]}" "${small_idle[*]}"
[[ -z $small_load ]] && why+=("the small job was never submitted: the big job was not seen running")
((small_ok)) || { verdict=FAIL; why+=("a small job's output differs from the reference"); }
echo "peak RSS (VmHWM), limit $limit_mib MiB per daemon:"
for d in "${daemons[@]}"; do
  name=${d% *}
  k=${hwm[$name]}
  if [[ -z $k ]]; then
    printf '  %-10s %s\n' "$name" "gone before the end (crashed?)"
    verdict=FAIL
    why+=("$name was not running at the end")
    continue
  fi
  mark=""
  if ((k > limit_mib * 1024)); then
    mark="  > limit"
    verdict=FAIL
    why+=("$name peak RSS $(kib_to_mib "$k") MiB > $limit_mib MiB")
  fi
  printf '  %-10s %6s MiB%s\n' "$name" "$(kib_to_mib "$k")" "$mark"
done
printf '  %-10s %6s MiB  (%s)\n' "dlbp" "$(kib_to_mib "$client_hwm")" "$client_how"
[[ -s $work/out/reference-rss.kib ]] && printf '  %-10s %6s MiB  (the sequential reference, for comparison)\n' "reference" "$(kib_to_mib "$(tail -n 1 "$work/out/reference-rss.kib")")"
echo "jobs as maplb lists them:"
sed 's/^/  /' "$work/out/jobs.txt"
echo
if [[ $verdict == PASS ]]; then
  echo "PASS"
  exit 0
fi
echo "FAIL"
for w in "${why[@]}"; do echo "  - $w"; done
exit 1
