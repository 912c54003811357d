#!/usr/bin/env bash
# bench.sh — the benchmark of DESIGN.md "Performance": the same job, on the same input, in one
# run, against
#   sequential  the plain sequential program (scripts/reference, internal/reference)
#   parallel    a hand-written parallel program, one goroutine per core (scripts/bench/parallel)
#   single      a local cluster, maplb --mode single, 2 nodes
#   dlbp-2      a local cluster, maplb --mode dlbp, 2 nodes
#   dlbp-4      a local cluster, maplb --mode dlbp, 4 nodes
#   user-wasm   (wordcount only) the SDK's word count (examples/wordcount) as a user job, built as
#               WebAssembly, on the cluster of dlbp-2: dlbp submit --mapper 'wc.wasm map' ...
#   user-native (wordcount only) the same program built natively, as a Hadoop Streaming program
#               shipped with --file to nodes started with --allow-exec
# with every node at --slots = ceil(cores / nodes). Runs are interleaved (run 1 of every job and
# variant, then run 2, ...), each figure is the median of the runs, and every output is checked
# byte for byte against the sequential one. Then small jobs (sum of 1..1000, no input): p50/p99
# latency of sequential submissions and jobs/s from concurrent clients, through `dlbp submit`
# processes and through the pkg/client library (scripts/bench/smalljobs), in modes dlbp and
# single. Then CPU profiles: pprof of the baselines (-cpuprofile) and of the cluster's daemons
# (/debug/pprof on their --http) and, from `dlbp status --json`, where a cluster job's time went.
#
# Both clusters stay up for the whole benchmark (started once, not timed): cluster A is maplb
# (dlbp), a second maplb (single) joined to it, reducelb and 2 nodes; cluster B is maplb,
# reducelb and 4 nodes. Before each cluster run the peak RSS (VmHWM) of the daemons involved is
# reset (/proc/PID/clear_refs, "5"), so the peak read right after the run is that run's.
#
#   scripts/bench.sh                                   # 512 MB, 3 runs, wordcount,indexer,sort
#   scripts/bench.sh --size 128 --runs 3
#   scripts/bench.sh --size 32 --runs 1 --jobs wordcount --no-small --no-profile
#
# Options: --size MB (input, MB = 2^20 bytes), --runs N, --jobs LIST, --reducers R (default: the
# number of cores), --seed S (input seeds S, S+1, ...), --small-n N (sequential small jobs, 200),
# --small-clients C (16), --small-seconds S (10), --no-small, --no-profile, --doc FILE (the
# markdown report, default docs/bench.md; "" for none).
# Environment: TMPDIR (work directory), DLBP_BENCH_CACHE (where inputs are cached; default
# $TMPDIR/dlbp-bench-cache, keyed by size and seed, reused by later runs).
# Exit status: 0 when every output matched, 1 on a mismatch or a failed job, 2 usage.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

size_mb=512 runs=3 jobs_csv=wordcount,indexer,sort reducers="" seed=1
small=1 profile=1 small_n=200 small_clients=16 small_seconds=10
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/procs.sh
. "$root/scripts/lib/procs.sh"
# shellcheck source=lib/args.sh
. "$root/scripts/lib/args.sh"
doc=$root/docs/bench.md
cmdline="scripts/bench.sh${*:+ $*}"
while (($#)); do
  case $1 in
  --size) size_mb=${2:?}; shift 2 ;;
  --runs) runs=${2:?}; shift 2 ;;
  --jobs) jobs_csv=${2:?}; shift 2 ;;
  --reducers) reducers=${2:?}; shift 2 ;;
  --seed) seed=${2:?}; shift 2 ;;
  --small-n) small_n=${2:?}; shift 2 ;;
  --small-clients) small_clients=${2:?}; shift 2 ;;
  --small-seconds) small_seconds=${2:?}; shift 2 ;;
  --no-small) small=0; shift ;;
  --no-profile) profile=0; shift ;;
  --doc) doc=${2?}; shift 2 ;;
  -h | --help) usage ;;
  *) echo "bench.sh: unknown argument $1" >&2; usage ;;
  esac
done
need_whole bench.sh size_mb runs small_n small_clients small_seconds seed
IFS=, read -r -a jobs <<<"$jobs_csv"
need_jobs bench.sh "${jobs[@]}"
cores=$(nproc)
[[ -n $reducers ]] || reducers=$cores
[[ $reducers =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --reducers $reducers: want a positive whole number" >&2; exit 2; }
slots2=$(((cores + 1) / 2)) slots4=$(((cores + 3) / 4))
variants=(sequential parallel single dlbp-2 dlbp-4)

work=$(mktemp -d "${TMPDIR:-/tmp}/dlbp-bench.XXXXXX")
bin=$work/bin logs=$work/logs out=$work/out prof=$work/profiles
mkdir -p "$bin" "$logs" "$out" "$prof"
export DLBP_LB='' DLBP_SECRET_FILE='' # the clusters below have no secret; --lb is always given

daemons=() # "cluster name pid" of every daemon started
others=()  # pids of other background processes (profile downloads)
stop_all() {
  local code=$?
  trap - EXIT INT TERM
  local pids=() d
  for p in "${others[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for d in "${daemons[@]}"; do pids+=("${d##* }"); done
  stop_pids "${pids[@]}"
  wait 2>/dev/null || true
  if ((code == 0)); then
    rm -rf "$work"
  else
    rm -rf "$work/data" "$bin"
    echo "bench.sh: exit $code; logs, outputs and profiles kept in $work" >&2
  fi
  exit "$code"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ns() { date +%s%N; }
kib_mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
clk=$(getconf CLK_TCK)
# cpu_ticks PID... — utime + stime of the processes and of their reaped children (a user job's
# programs and WebAssembly runners), in clock ticks.
cpu_ticks() {
  local t=0 p v
  for p in "$@"; do
    v=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$p/stat" 2>/dev/null || echo 0)
    t=$((t + v))
  done
  echo "$t"
}
# kv LINE KEY — the value of KEY=VALUE in a line of smalljobs output.
kv() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_reset=1

echo "== building into $bin"
(cd "$root" && go build -o "$bin/" ./cmd/... && go build -o "$bin/" ./scripts/reference ./scripts/gencorpus \
  ./scripts/bench/parallel ./scripts/bench/smalljobs ./scripts/bench/phases &&
  GOOS=wasip1 GOARCH=wasm go build -o "$bin/wc.wasm" ./examples/wordcount && go build -o "$bin/wc" ./examples/wordcount)
timer=(/usr/bin/time -f "%M %U %S")
[[ -x /usr/bin/time ]] || { echo "bench.sh: GNU time (/usr/bin/time) is needed for the peak RSS and CPU of the baselines" >&2; exit 1; }

# --- input: files of about 128 MB (4 to 16 of them), seeds seed, seed+1, ...; cached.
nfiles=$((size_mb / 128))
((nfiles < 4)) && nfiles=4
((nfiles > 16)) && nfiles=16
cache=${DLBP_BENCH_CACHE:-${TMPDIR:-/tmp}/dlbp-bench-cache}/text-${size_mb}MB-seed${seed}-${nfiles}files
inputs=()
for i in $(seq 0 $((nfiles - 1))); do inputs+=("$cache/text-$(printf %02d "$i").txt"); done
if [[ -f $cache/complete ]]; then
  echo "== input: $size_mb MB in $nfiles files, cached in $cache"
else
  echo "== input: generating $size_mb MB in $nfiles files into $cache"
  rm -rf "$cache" && mkdir -p "$cache"
  total=$((size_mb * 1024 * 1024))
  for i in $(seq 0 $((nfiles - 1))); do
    bytes=$((total / nfiles))
    ((i == nfiles - 1)) && bytes=$((total - bytes * (nfiles - 1)))
    "$bin/gencorpus" -size "$bytes" -seed $((seed + i)) -o "${inputs[i]}"
  done
  touch "$cache/complete"
fi

# --- clusters, kept up for the whole benchmark.
# start CLUSTER NAME BINARY ARGS... — start a daemon and wait for its addrs.json.
start() {
  local cl=$1 name=$2 prog=$3
  shift 3
  local dir=$work/data/$cl/$name
  "$bin/$prog" --name "$cl-$name" --data-dir "$dir" --rpc 127.0.0.1:0 --gossip 127.0.0.1:0 \
    --http 127.0.0.1:0 --log-level warn "$@" >"$logs/$cl-$name.log" 2>&1 &
  local pid=$!
  daemons+=("$cl $name $pid")
  for _ in $(seq 150); do
    [[ -s $dir/addrs.json ]] && return 0
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logs/$cl-$name.log" >&2; echo "$cl-$name exited before serving" >&2; return 1; }
    sleep 0.1
  done
  echo "$cl-$name did not write addrs.json within 15 s" >&2
  return 1
}
field() { sed -n "s/.*\"$3\": *\"\([^\"]*\)\".*/\1/p" "$work/data/$1/$2/addrs.json"; }
pid_of() {
  local d
  for d in "${daemons[@]}"; do
    if [[ ${d% *} == "$1 $2" ]]; then echo "${d##* }"; return 0; fi
  done
  return 1
}
# wait_alive LB N — until maplb at LB lists N alive nodes and an alive reducelb.
wait_alive() {
  local i n r
  for i in $(seq 150); do
    n=$("$bin/dlbp" nodes --lb "$1" 2>/dev/null | awk '$2 == "node" && $4 == "alive"' | wc -l)
    r=$("$bin/dlbp" nodes --lb "$1" 2>/dev/null | awk '$2 == "reducelb" && $4 == "alive"' | wc -l)
    ((n == $2 && r >= 1)) && return 0
    sleep 0.1
  done
  echo "maplb $1 does not list $2 alive nodes and a reducelb" >&2
  "$bin/dlbp" nodes --lb "$1" >&2 || true
  return 1
}
echo "== clusters: A = maplb (dlbp) + maplb (single) + reducelb + 2 nodes x $slots2 slots; B = maplb + reducelb + 4 nodes x $slots4 slots"
lb_args=(--result-ttl 2m) # results are read once; let them go so the disk does not fill
start A maplb maplb --mode dlbp "${lb_args[@]}"
seedA=$(field A maplb gossip)
start A maplb-single maplb --mode single --join "$seedA" "${lb_args[@]}"
start A reducelb reducelb --join "$seedA"
for i in 1 2; do start A "node$i" node --join "$seedA" --slots "$slots2" --allow-exec; done
start B maplb maplb --mode dlbp "${lb_args[@]}"
seedB=$(field B maplb gossip)
start B reducelb reducelb --join "$seedB"
for i in 1 2 3 4; do start B "node$i" node --join "$seedB" --slots "$slots4"; done
lbA=$(field A maplb rpc) lbS=$(field A maplb-single rpc) lbB=$(field B maplb rpc)
wait_alive "$lbA" 2 && wait_alive "$lbS" 2 && wait_alive "$lbB" 4
echo "   A: maplb $lbA (dlbp), $lbS (single); B: maplb $lbB (dlbp)"

# job_args VARIANT JOB — sets what, the arguments of `dlbp submit` that name the job.
job_args() {
  case $1 in
  user-wasm) what=(--mapper "$bin/wc.wasm map" --reducer "$bin/wc.wasm reduce") ;;
  user-native) what=(--mapper "wc map" --reducer "wc reduce" --file "$bin/wc") ;;
  *) what=(--job "$2") ;;
  esac
}

# The daemons each cluster variant involves (their peak RSS and CPU are counted), and its maplb.
declare -A lb_of procs_of
lb_of[single]=$lbS lb_of[dlbp-2]=$lbA lb_of[dlbp-4]=$lbB lb_of[user-wasm]=$lbA lb_of[user-native]=$lbA
procs_of[single]="A:maplb-single A:node1 A:node2"
procs_of[dlbp-2]="A:maplb A:reducelb A:node1 A:node2"
procs_of[user-wasm]=${procs_of[dlbp-2]} procs_of[user-native]=${procs_of[dlbp-2]}
procs_of[dlbp-4]="B:maplb B:reducelb B:node1 B:node2 B:node3 B:node4"

results=$work/results.tsv # job variant run seconds cpu_s peak_kib peak_proc sum_kib ok
phases=$work/phases.tsv   # job variant run phases...
cpuproc=$work/cpu.tsv     # job variant run process cpu_s
: >"$results"
: >"$cpuproc"
: >"$phases"
mismatch=0

# check JOB VARIANT RUN FILE — compare FILE with the job's sequential output.
check() {
  local ref=$out/$1.reference
  if [[ $2 == sequential && ! -f $ref ]]; then
    mv "$4" "$ref"
    echo ok
    return
  fi
  if cmp -s "$4" "$ref"; then
    rm -f "$4"
    echo ok
  else
    mismatch=1
    mv "$4" "$out/$1.$2.run$3.MISMATCH"
    echo "!! MISMATCH: $1 $2 run $3 differs from the sequential output: $(cmp "$out/$1.$2.run$3.MISMATCH" "$ref" 2>&1 | head -n 1)" >&2
    echo MISMATCH
  fi
}

# measure JOB VARIANT RUN — one timed run; appends a line to results.tsv.
measure() {
  local job=$1 v=$2 run=$3 o=$out/$1.$2.run$3 t0 t1 rc=0 secs cpu peak=0 peak_proc="" sum=0 ok
  case $v in
  sequential | parallel)
    local prog=reference
    [[ $v == parallel ]] && prog=parallel
    t0=$(now_ns)
    "${timer[@]}" -o "$o.time" "$bin/$prog" "$job" "${inputs[@]}" >"$o" 2>"$logs/$job.$v.run$run.log" || rc=$?
    t1=$(now_ns)
    read -r peak u s < <(tail -n 1 "$o.time")
    cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
    peak_proc=$prog sum=$peak
    ;;
  *)
    local lb=${lb_of[$v]} pids=() names=() p k c0 c1
    for k in ${procs_of[$v]}; do
      p=$(pid_of "${k%%:*}" "${k#*:}")
      pids+=("$p") names+=("${k#*:}")
      if ((hwm_reset)) && ! echo 5 2>/dev/null >"/proc/$p/clear_refs"; then
        hwm_reset=0
        echo "   (cannot reset VmHWM through /proc/PID/clear_refs: daemon peaks are since start)" >&2
      fi
    done
    local c0s=()
    for p in "${pids[@]}"; do c0s+=("$(cpu_ticks "$p")"); done
    local what
    job_args "$v" "$job"
    t0=$(now_ns)
    "${timer[@]}" -o "$o.time" "$bin/dlbp" submit --lb "$lb" "${what[@]}" --reducers "$reducers" --quiet "${inputs[@]}" \
      >"$o" 2>"$logs/$job.$v.run$run.log" || rc=$?
    t1=$(now_ns)
    if [[ $v == user-* ]] && ((rc == 0)); then
      # A user job's parts are hash-partitioned: sorted (not timed), its lines are the reference's.
      LC_ALL=C sort -o "$o" "$o"
    fi
    read -r peak u s < <(tail -n 1 "$o.time")
    c0=0 c1=0
    for i in "${!pids[@]}"; do
      k=$(cpu_ticks "${pids[i]}")
      c0=$((c0 + c0s[i])) c1=$((c1 + k))
      awk -v j="$job" -v v="$v" -v r="$run" -v n="${names[i]%-single}" -v d=$((k - c0s[i])) -v t="$clk" \
        'BEGIN { printf "%s\t%s\t%s\t%s\t%.2f\n", j, v, r, n, d / t }' >>"$cpuproc"
    done
    awk -v j="$job" -v v="$v" -v r="$run" -v u="$u" -v s="$s" 'BEGIN { printf "%s\t%s\t%s\tclient\t%.2f\n", j, v, r, u + s }' >>"$cpuproc"
    peak_proc=dlbp sum=$peak
    for i in "${!pids[@]}"; do
      k=$(hwm_kib "${pids[i]}")
      sum=$((sum + k))
      if ((k > peak)); then peak=$k peak_proc=${names[i]}; fi
    done
    cpu=$(awk -v a="$c0" -v b="$c1" -v t="$clk" -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", (b - a) / t + u + s }')
    local id
    id=$("$bin/dlbp" jobs --lb "$lb" --json 2>/dev/null | jq -r 'max_by(.submitted) | .id' 2>/dev/null || true)
    if [[ -n $id && $id != null ]]; then
      "$bin/dlbp" status --lb "$lb" --json "$id" 2>/dev/null | "$bin/phases" -t0 "$t0" -t1 "$t1" 2>/dev/null |
        sed "s/^/$job\t$v\t$run\t/" >>"$phases" || true
    fi
    ;;
  esac
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  if ((rc != 0)); then
    mismatch=1
    ok="FAILED(exit $rc)"
    echo "!! $job $v run $run: exit $rc: $(tail -n 3 "$logs/$job.$v.run$run.log")" >&2
    rm -f "$o"
  else
    ok=$(check "$job" "$v" "$run" "$o")
    [[ $ok == ok ]] || mismatch=1
  fi
  rm -f "$o.time"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$job" "$v" "$run" "$secs" "$cpu" "$peak" "$peak_proc" "$sum" "$ok" >>"$results"
  printf '   run %d/%d  %-9s %-10s %8s s  cpu %7s s  peak RSS %5s MiB (%s)  %s\n' "$run" "$runs" "$job" "$v" "$secs" "$cpu" \
    "$(kib_mib "$peak")" "$peak_proc" "$ok"
}

commit=$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(cd "$root" && git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  commit="$commit plus uncommitted changes in the working tree (built at $(date -u '+%H:%M UTC'))"
fi
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
date_start=$(date -u '+%Y-%m-%d %H:%M UTC')
echo "== $runs interleaved runs of ${jobs[*]} x ${variants[*]} on $size_mb MB (R=$reducers); load average $load_start"
for run in $(seq 1 "$runs"); do
  for job in "${jobs[@]}"; do
    vs=("${variants[@]}")
    [[ $job == wordcount ]] && vs+=(user-wasm user-native)
    for v in "${vs[@]}"; do measure "$job" "$v" "$run"; done
  done
done

# --- the table: medians, ratios to parallel and dlbp / single.
table=$work/table.tsv
awk -F'\t' -v size="$size_mb" -v order="${variants[*]} user-wasm user-native" -v jobs="${jobs[*]}" '
function median(s,   a, n, i, j, t) {
  n = split(s, a, " ")
  for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
  return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{
  k = $1 SUBSEP $2
  t[k] = t[k] (t[k] == "" ? "" : " ") $4
  c[k] = c[k] (c[k] == "" ? "" : " ") $5
  if ($6 + 0 >= peak[k] + 0) { peak[k] = $6; pp[k] = $7 }
  if ($8 + 0 >= sum[k] + 0) sum[k] = $8
  if ($9 != "ok") bad[k] = bad[k] (bad[k] == "" ? "" : ",") "run" $3 ":" $9
}
END {
  nv = split(order, vs, " "); nj = split(jobs, js, " ")
  for (a = 1; a <= nj; a++) {
    for (b = 1; b <= nv; b++) { k = js[a] SUBSEP vs[b]; if (k in t) med[k] = median(t[k]) }
    for (b = 1; b <= nv; b++) {
      k = js[a] SUBSEP vs[b]
      if (!(k in t)) continue
      par = med[js[a] SUBSEP "parallel"]; sgl = med[js[a] SUBSEP "single"]
      rp = par > 0 ? sprintf("%.2f", med[k] / par) : "-"
      rs = (vs[b] ~ /^dlbp/ && sgl > 0) ? sprintf("%.2f", med[k] / sgl) : "-"
      d2 = med[js[a] SUBSEP "dlbp-2"]
      if (vs[b] ~ /^user/ && d2 > 0) rs = sprintf("%.2f of dlbp-2", med[k] / d2)
      printf "%s\t%s\t%.2f\t%.1f\t%.1f\t%.0f\t%s\t%.0f\t%s\t%s\t%s\t%s\n", js[a], vs[b], med[k], size / med[k], median(c[k]),
        peak[k] / 1024, pp[k], sum[k] / 1024, rp, rs, t[k], (k in bad) ? "MISMATCH " bad[k] : "ok"
    }
  }
}' "$results" >"$table"

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "== $size_mb MB, $nfiles files, R=$reducers, $cores cores; median of $runs interleaved runs; load average $load_start at start, $load_end at end"
printf '%-9s %-10s %8s %7s %7s %9s %-13s %8s %7s %7s  %s\n' job variant "time s" "MB/s" "cpu s" "peak MiB" "(process)" "Σpeaks" "/par" "/single" "output  [every run, s]"
awk -F'\t' '{ printf "%-9s %-10s %8.2f %7.1f %7.1f %9s %-13s %8s %7s %7s  %s  [%s]\n", $1, $2, $3, $4, $5, $6, "(" $7 ")", $8, $9, $10, $12, $11 }' "$table"
echo "time: wall clock of the program, or of \`dlbp submit ... --quiet FILES > out\` (upload, job, result); cluster start-up not counted"
echo "cpu: user+sys of the program, or of the client plus every daemon involved; peak: the largest VmHWM (Σpeaks: their sum)"

# --- small jobs
smallres=$work/small.tsv
: >"$smallres"
if ((small)); then
  echo
  echo "== small jobs: sum --param range=1..1000 (no input, R=1) on cluster A; $small_n sequential, then $small_clients clients for $small_seconds s"
  for via in exec lib; do
    for mode in dlbp single; do
      lb=$lbA
      [[ $mode == single ]] && lb=$lbS
      line=$("$bin/smalljobs" -lb "$lb" -via "$via" -dlbp "$bin/dlbp" -n "$small_n") || { mismatch=1; line="FAILED"; }
      printf '%s\t%s\tlatency\t%s\n' "$via" "$mode" "$line" >>"$smallres"
      echo "   $via $mode latency: $line"
      line=$("$bin/smalljobs" -lb "$lb" -via "$via" -dlbp "$bin/dlbp" -clients "$small_clients" -duration "${small_seconds}s") || { mismatch=1; line="FAILED"; }
      printf '%s\t%s\tthroughput\t%s\n' "$via" "$mode" "$line" >>"$smallres"
      echo "   $via $mode throughput: $line"
    done
  done
fi

# --- profiles
if ((profile)); then
  echo
  echo "== profiles (one extra, untimed run of each)"
  for job in "${jobs[@]}"; do
    "$bin/parallel" -sequential -cpuprofile "$prof/$job.sequential.pprof" "$job" "${inputs[@]}" >/dev/null
    "$bin/parallel" -cpuprofile "$prof/$job.parallel.pprof" "$job" "${inputs[@]}" >/dev/null
    for v in sequential parallel; do
      go tool pprof -top -nodecount=14 "$bin/parallel" "$prof/$job.$v.pprof" 2>/dev/null | sed -n '/^Showing\|^ *flat/,$p' >"$prof/$job.$v.top" || true
    done
    pvs=(single dlbp-2)
    [[ $job == wordcount ]] && pvs+=(user-wasm user-native)
    for v in "${pvs[@]}"; do
      # The daemons serve /debug/pprof on --http: profile every daemon involved for a while longer
      # than the job took in the timed runs, during one more run of it.
      secs=$(awk -F'\t' -v j="$job" -v v="$v" '$1 == j && $2 == v { s = int($3 * 1.5) + 2; print (s > 120 ? 120 : s) }' "$table")
      cpids=() profs=()
      for k in ${procs_of[$v]}; do
        h=$(field "${k%%:*}" "${k#*:}" http)
        [[ -n $h ]] || continue
        f=$prof/$job.$v.${k#*:}.pprof
        curl -sf -o "$f" "http://$h/debug/pprof/profile?seconds=${secs:-10}" &
        cpids+=($!) profs+=("$f")
      done
      others=("${cpids[@]}")
      sleep 0.3
      t0=$(now_ns)
      job_args "$v" "$job"
      "$bin/dlbp" submit --lb "${lb_of[$v]}" "${what[@]}" --reducers "$reducers" --quiet "${inputs[@]}" >/dev/null 2>>"$logs/profile.$job.$v.log" || true
      t1=$(now_ns)
      for p in "${cpids[@]}"; do wait "$p" 2>/dev/null || true; done
      others=()
      {
        echo "job wall $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }') s; profiles of ${secs:-10} s from /debug/pprof/profile of every daemon involved"
        for b in maplb node reducelb; do
          fs=()
          for f in "${profs[@]}"; do [[ $f == *".$b"[0-9.-]* && -s $f ]] && fs+=("$f"); done
          ((${#fs[@]})) || continue
          echo "-- $b (${#fs[@]} process(es), merged):"
          go tool pprof -top -nodecount=12 "$bin/$b" "${fs[@]}" 2>/dev/null | sed -n '/^Showing nodes\|^ *flat/,$p' || true
          echo "-- $b, dlbp's own functions by cumulative time:"
          go tool pprof -top -cum -nodecount=12 -show='^github.com/dlbp/' "$bin/$b" "${fs[@]}" 2>/dev/null | sed -n '/^ *flat/,$p' || true
        done
      } >"$prof/$job.$v.cluster.txt"
      echo "   $job $v: $(head -n 1 "$prof/$job.$v.cluster.txt")"
    done
  done
fi

# --- markdown report
if [[ -n $doc ]]; then
  md=$work/bench.md
  {
    echo "# dlbp benchmark"
    echo
    echo "Made by \`scripts/bench.sh\`; rerun it to replace this file. Only what the script measured is here."
    echo
    echo "- date: $date_start"
    echo "- command: \`$cmdline\`"
    echo "- code: $commit"
    echo "- machine: $cores cores ($(nproc --all) online), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory, Linux $(uname -r), $(go version | cut -d' ' -f3)"
    echo "- load average (1, 5, 15 min): $load_start at start, $load_end at end (other work was running on the machine)"
    echo "- input: $size_mb MB (2^20 bytes) of generated text (scripts/gencorpus, seeds $seed..$((seed + nfiles - 1))) in $nfiles files"
    echo "- clusters: A = maplb (dlbp) + maplb (single) joined to it + reducelb + 2 nodes with --slots $slots2; B = maplb + reducelb + 4 nodes with --slots $slots4; all on loopback, started once before the runs and kept up (start-up not timed); R = $reducers reducers for every job"
    echo "- method: $runs runs, interleaved (run 1 of every job and variant, then run 2, ...); each figure is the median; every output compared byte for byte with the sequential one"
    echo
    echo "## Jobs"
    echo
    echo "| job | variant | time (s, median) | MB/s | CPU s (user+sys) | peak RSS MiB (process) | Σ peak RSS MiB | time / parallel | dlbp / single | output | every run (s) |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"
    awk -F'\t' '{ printf "| %s | %s | %.2f | %.1f | %.1f | %s (%s) | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $11 }' "$table"
    echo
    echo "- time: wall clock of the program, or of \`dlbp submit --job J --reducers $reducers --quiet FILES > out\`: upload, the job, and the result streamed back."
    echo "- CPU s: user+sys of the program (GNU time), or of the client plus every daemon the variant involves (single: the single maplb and 2 nodes; dlbp: maplb, reducelb and the nodes), from /proc/PID/stat."
    echo "- peak RSS: the largest VmHWM among the client and the daemons involved (reset before each run through /proc/PID/clear_refs$( ((hwm_reset)) || echo ' — not possible here: daemon peaks are since start-up')); for the baselines GNU time's %M. Max over the runs. Σ: the sum of the processes' peaks."
    echo "- variants: sequential = scripts/reference (internal/reference); parallel = scripts/bench/parallel, $cores goroutines, 8 MiB chunks cut at line boundaries, a map (sort: a sorted slice) per goroutine merged (k-way) at the end."
    if ((small)); then
      echo
      echo "## Small jobs"
      echo
      echo "\`sum --param range=1..1000\`, no input, R=1, on cluster A (2 nodes). Latency: $small_n submissions one after another (after 5 of warm-up). Throughput: $small_clients clients each submitting in a loop for $small_seconds s. Every result checked (500500). \`exec\` runs one \`dlbp submit ... --quiet\` process per job (what a user at a shell sees, process start-up included); \`lib\` uses pkg/client in one process (Submit, Wait, WriteResult)."
      echo
      echo "| via | mode | p50 ms | p99 ms | jobs/s (1 client) | jobs/s ($small_clients clients) | p50 / p99 ms under $small_clients clients | errors |"
      echo "|---|---|---:|---:|---:|---:|---:|---|"
      for via in exec lib; do
        for mode in dlbp single; do
          lat=$(awk -F'\t' -v a="$via" -v b="$mode" '$1 == a && $2 == b && $3 == "latency" { print $4 }' "$smallres")
          thr=$(awk -F'\t' -v a="$via" -v b="$mode" '$1 == a && $2 == b && $3 == "throughput" { print $4 }' "$smallres")
          echo "| $via | $mode | $(kv "$lat" p50_ms) | $(kv "$lat" p99_ms) | $(kv "$lat" jobs_per_s) | $(kv "$thr" jobs_per_s) | $(kv "$thr" p50_ms) / $(kv "$thr" p99_ms) | $(($(kv "$lat" errors) + $(kv "$thr" errors))) |"
        done
      done
    fi
    echo
    echo "## Where the time goes"
    echo
    echo "### CPU seconds by process (median over the runs)"
    echo
    echo "user+sys during the timed run, from /proc/PID/stat (the client: GNU time). The baselines' total is in the table above."
    echo
    echo "| job | variant | client | maplb | reducelb | nodes (sum) | busiest node | total |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '
    function median(s,   a, n, i, j, t) {
      n = split(s, a, " ")
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
      return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
    }
    {
      k = $1 "\t" $2
      if (!(k in seen)) { seen[k] = 1; keys[++nk] = k }
      if (!((k, $4) in v)) names[k] = names[k] " " $4
      v[k, $4] = v[k, $4] (v[k, $4] == "" ? "" : " ") $5
    }
    END {
      for (i = 1; i <= nk; i++) {
        k = keys[i]; split(k, jv, "\t")
        nodes = 0; top = 0; total = 0
        n = split(names[k], ns, " ")
        for (x = 1; x <= n; x++) {
          m = median(v[k, ns[x]]); total += m
          if (ns[x] ~ /^node/) { nodes += m; if (m > top) top = m }
        }
        printf "| %s | %s | %.2f | %.2f | %s | %.2f | %.2f | %.2f |\n", jv[1], jv[2], median(v[k, "client"]), median(v[k, "maplb"]),
          ((k, "reducelb") in v) ? sprintf("%.2f", median(v[k, "reducelb"])) : "-", nodes, top, total
      }
    }' "$cpuproc"
    echo
    echo "### Cluster jobs, from \`dlbp status --json\` (median over the runs)"
    echo
    echo "upload+queue: client start to the job running (the input is uploaded to maplb and stored); maps: running to the last map attempt's end; reduce tail: last map to the job finished; result: job finished to client end (the result streamed to the client). Task-seconds: the sum of the attempts' durations."
    echo
    echo "| job | variant | map tasks | upload+queue s | maps s | reduce tail s | result s | map task-s | reduce task-s |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '
    function median(s,   a, n, i, j, t) {
      n = split(s, a, " ")
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
      return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
    }
    {
      k = $1 "\t" $2
      if (!(k in seen)) { seen[k] = 1; keys[++nk] = k }
      n = split($4, f, " ")
      for (i = 1; i <= n; i++) { split(f[i], kv, "="); v[k, kv[1]] = v[k, kv[1]] (v[k, kv[1]] == "" ? "" : " ") kv[2] }
    }
    END {
      for (i = 1; i <= nk; i++) {
        k = keys[i]; split(k, jv, "\t")
        printf "| %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %.1f | %.1f |\n", jv[1], jv[2], median(v[k, "maps"]),
          median(v[k, "upload_queue_s"]), median(v[k, "map_phase_s"]), median(v[k, "reduce_tail_s"]),
          median(v[k, "result_transfer_s"]), median(v[k, "map_task_s"]), median(v[k, "reduce_task_s"])
      }
    }' "$phases"
    if ((profile)); then
      echo
      echo "### CPU profiles"
      echo
      echo "The baselines: \`parallel -cpuprofile FILE [-sequential] JOB FILES\` (runtime/pprof; -sequential runs internal/reference), \`go tool pprof -top\`. The daemons serve /debug/pprof on --http: during one extra run of modes single and dlbp-2 the script takes \`/debug/pprof/profile?seconds=S\` from every daemon involved (S: 1.5 times the job's median time, plus 2) and shows \`go tool pprof -top\` per binary, the profiles of its processes merged."
      for job in "${jobs[@]}"; do
        for v in sequential parallel; do
          [[ -s $prof/$job.$v.top ]] || continue
          echo
          echo "#### $job, $v (pprof)"
          echo
          echo '```'
          cat "$prof/$job.$v.top"
          echo '```'
        done
        for v in single dlbp-2 user-wasm user-native; do
          [[ -s $prof/$job.$v.cluster.txt ]] || continue
          echo
          echo "#### $job, $v cluster (pprof of the daemons)"
          echo
          echo '```'
          cat "$prof/$job.$v.cluster.txt"
          echo '```'
        done
      done
    fi
  } >"$md"
  mkdir -p "$(dirname "$doc")"
  cp "$md" "$doc"
  echo
  echo "== report written to $doc"
fi

if ((mismatch)); then
  echo "!! at least one output differed from the sequential one, or a job failed: see the table" >&2
  exit 1
fi
