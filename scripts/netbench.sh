#!/usr/bin/env bash
# netbench.sh — the network-bound comparison of the performance issue: hosts in network
# namespaces, the master's link rate-limited (tc) so that it is the bottleneck, mode single
# (every partial comes back to the master) against mode dlbp with R >= 2 reducers (partials go
# node to node, the shuffle spread across the reducers).
#
# Topology, built afresh for each run of the script (namespaces nb<PID>-*, a random 10.x/24):
#   client   runs `dlbp submit` (the input is uploaded from here, the result read here)
#   master   maplb --mode dlbp, maplb --mode single joined to the same gossip cluster, reducelb
#   node1..N node --slots 1 each
# every host joined by a veth pair to a bridge in a switch namespace. Only the master's link is
# limited, in both directions: a tbf qdisc on the master's eth0 (what the master sends) and on the
# switch's port to the master (what the master receives). Every other link is unlimited.
#
# Jobs: wordcount with a small --split-size (many map tasks: the combined partials, the shuffle,
# are large) and sort (the shuffle is the input), with R = N reducers, on the same deterministic
# input (scripts/gencorpus). Each job is run in mode single and in mode dlbp; when `dlbp submit`
# has --fetch, mode dlbp is run with --fetch direct (result parts read from the reducer nodes) and
# with --fetch lb (through maplb). Runs are interleaved (run 1 of every job and mode, then run
# 2, ...); each figure is the median; the bytes the master's eth0 received (rx) and sent (tx)
# during each run are read from its counters; every output is compared byte for byte with
# scripts/reference. The daemons stay up for the whole benchmark (start-up is not timed).
# Also shown: where each job's time went (`dlbp status --json`), what the maplb of the mode says
# it moved by kind (dlbp_bytes_total on its /metrics, read inside the master's namespace) and the
# TCP segments retransmitted (every host's /proc/net/snmp).
#
#   sudo scripts/netbench.sh                              # 4 nodes, 100 Mbit/s, 32 MB, 3 runs
#   sudo scripts/netbench.sh --rate 50 --size 64 --runs 5
#   sudo scripts/netbench.sh --jobs sort --nodes 2 --runs 1 --doc ""
#
# Options: --nodes N (4, at least 2; R = N), --rate MBIT (the master's link, each direction,
# Mbit/s = 10^6 bit/s; 100), --burst SIZE (tbf burst, 64kb), --latency TIME (tbf latency, 50ms),
# --size MB (input, MB = 2^20 bytes; 32), --files N (input files, 4), --seed S (input seeds
# S, S+1, ...; 1), --runs N (3), --jobs LIST (wordcount,sort; indexer also possible),
# --split-size SIZE (wordcount's and indexer's --split-size; 64KiB; sort's is maplb's choice),
# --run-timeout SECONDS (one submission; 300), --rev REV (build the code of git revision REV,
# e.g. HEAD, instead of the working tree), --doc FILE (the markdown report, default
# docs/netbench.md; "" for none).
# Needs root, iproute2 (ip, tc with the tbf qdisc) and Go. Environment: TMPDIR (work directory).
# Namespaces left by a script killed with SIGKILL: `ip netns list | grep '^nb[0-9x]*-'`.
# Exit status: 0 when every output matched, 1 on a mismatch or a failed job, 2 usage, 3 this
# machine cannot run it (not root, no ip/tc, no network namespaces or tbf).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

nodes=4 rate=100 burst=64kb latency=50ms size_mb=32 nfiles=4 seed=1 runs=3 jobs_csv=wordcount,sort
split=64KiB run_timeout=300 rev=""
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/procs.sh
. "$root/scripts/lib/procs.sh"
# shellcheck source=lib/args.sh
. "$root/scripts/lib/args.sh"
# shellcheck source=lib/netns.sh
. "$root/scripts/lib/netns.sh"
doc=$root/docs/netbench.md
# awk_median: an awk function, the median of the space-separated numbers in a string.
awk_median='function median(s,   a, n, i, j, t) {
  n = split(s, a, " ")
  for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
  return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
'
cmdline="scripts/netbench.sh${*:+ $*}"
while (($#)); do
  case $1 in
  --nodes) nodes=${2:?}; shift 2 ;;
  --rate) rate=${2:?}; shift 2 ;;
  --burst) burst=${2:?}; shift 2 ;;
  --latency) latency=${2:?}; shift 2 ;;
  --size) size_mb=${2:?}; shift 2 ;;
  --files) nfiles=${2:?}; shift 2 ;;
  --seed) seed=${2:?}; shift 2 ;;
  --runs) runs=${2:?}; shift 2 ;;
  --jobs) jobs_csv=${2:?}; shift 2 ;;
  --split-size) split=${2:?}; shift 2 ;;
  --run-timeout) run_timeout=${2:?}; shift 2 ;;
  --rev) rev=${2:?}; shift 2 ;;
  --doc) doc=${2?}; shift 2 ;;
  -h | --help) usage ;;
  *) echo "netbench.sh: unknown argument $1" >&2; usage ;;
  esac
done
need_whole netbench.sh nodes rate size_mb nfiles seed runs run_timeout
((nodes >= 2)) || { echo "netbench.sh: --nodes $nodes: want at least 2 (R = nodes, and R >= 2 is the point)" >&2; exit 2; }
((nodes <= 32)) || { echo "netbench.sh: --nodes $nodes: at most 32" >&2; exit 2; }
((nfiles <= 64)) || { echo "netbench.sh: --files $nfiles: at most 64" >&2; exit 2; }
[[ $burst =~ ^[0-9]+[kKmM]?[bB]?$ ]] || { echo "netbench.sh: --burst $burst: want a tc size such as 64kb" >&2; exit 2; }
[[ $latency =~ ^[0-9]+(ms|us|s)$ ]] || { echo "netbench.sh: --latency $latency: want a tc time such as 50ms" >&2; exit 2; }
[[ $split =~ ^[0-9]+([KMG]i?B?|B)?$ ]] || { echo "netbench.sh: --split-size $split: want bytes, e.g. 65536 or 64KiB" >&2; exit 2; }
IFS=, read -r -a jobs <<<"$jobs_csv"
((${#jobs[@]})) || { echo "netbench.sh: --jobs: empty" >&2; exit 2; }
need_jobs netbench.sh "${jobs[@]}"
reducers=$nodes

# --- can this machine run it?
PATH=$PATH:/usr/sbin:/sbin
cannot() { echo "netbench.sh: $*" >&2; exit 3; }
((EUID == 0)) || cannot "needs root (it makes network namespaces and tc qdiscs): run it with sudo"
for c in ip tc go timeout; do
  command -v "$c" >/dev/null || cannot "needs the $c command (ip and tc: iproute2; timeout: coreutils)"
done
if [[ -n $rev ]]; then
  rev_sha=$(cd "$root" && git rev-parse --short --verify "$rev^{commit}" 2>/dev/null) ||
    { echo "netbench.sh: --rev $rev: not a git revision of $root" >&2; exit 2; }
fi
has_jq=0
command -v jq >/dev/null && has_jq=1

work=$(mktemp -d "${TMPDIR:-/tmp}/dlbp-netbench.XXXXXX")
bin=$work/bin logs=$work/logs out=$work/out data=$work/data in=$work/input
mkdir -p "$bin" "$logs" "$out" "$data" "$in"
export DLBP_LB='' DLBP_SECRET_FILE='' # every call below names its maplb and the secret

# Namespaces: a prefix of this process's id; another prefix if a namespace of it is left over
# from an earlier run that was killed with SIGKILL (its pid since reused).
pfx=nb$$
if ip netns list 2>/dev/null | grep -q "^$pfx-"; then pfx=nb$$x$RANDOM; fi
ns_sw=$pfx-sw ns_client=$pfx-client ns_master=$pfx-master
hosts=(client master)
for i in $(seq 1 "$nodes"); do hosts+=("node$i"); done
subnet=10.$((200 + RANDOM % 50)).$((1 + RANDOM % 250))
declare -A ip_of
for i in "${!hosts[@]}"; do ip_of[${hosts[i]}]=$subnet.$((10 + i)); done

daemons=()  # "name pid" of every daemon started
client_pid="" # the submission running, if any
stop_all() {
  local code=$?
  trap - EXIT INT TERM
  local pids=() d
  [[ -z $client_pid ]] || stop_pids "$client_pid"
  for d in "${daemons[@]}"; do pids+=("${d##* }"); done
  stop_pids "${pids[@]}"
  wait 2>/dev/null || true
  netns_delete_all
  if ((code == 0)); then
    rm -rf "$work"
  else
    rm -rf "$data" "$bin" "$in"
    echo "netbench.sh: exit $code; logs and outputs kept in $work" >&2
  fi
  exit "$code"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ns() { date +%s%N; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

src=$root
if [[ -n $rev ]]; then # the code of that revision, not the working tree
  src=$work/src
  mkdir -p "$src"
  (cd "$root" && git archive "$rev_sha") | tar -x -C "$src"
fi
echo "== building ${rev:+$rev ($rev_sha) }into $bin"
(cd "$src" && go build -o "$bin/" ./cmd/... ./scripts/reference ./scripts/gencorpus ./scripts/bench/phases)
fetch_flag=0
# The flag may be printed as --fetch (a custom usage) or -fetch (Go's flag package). The help is
# read whole first: `submit --help` exits non-zero, which pipefail would take for "no match".
submit_help=$("$bin/dlbp" submit --help 2>&1 || true)
if grep -Eq -- '(^|[^[:alnum:]-])--?fetch([^[:alnum:]-]|$)' <<<"$submit_help"; then fetch_flag=1; fi

# --- input: nfiles files, seeds seed, seed+1, ...; the reference outputs.
inputs=()
total=$((size_mb * 1024 * 1024))
echo "== input: $size_mb MB of generated text in $nfiles files (seeds $seed..$((seed + nfiles - 1)))"
for i in $(seq 0 $((nfiles - 1))); do
  f=$in/text-$(printf %02d "$i").txt
  bytes=$((total / nfiles))
  ((i == nfiles - 1)) && bytes=$((total - bytes * (nfiles - 1)))
  "$bin/gencorpus" -size "$bytes" -seed $((seed + i)) -o "$f"
  inputs+=("$f")
done
for j in "${jobs[@]}"; do
  "$bin/reference" "$j" "${inputs[@]}" >"$out/$j.reference"
  echo "   reference $j: $(mib "$(stat -c %s "$out/$j.reference")") MB"
done

# --- the network
echo "== network: namespaces $pfx-{sw,${hosts[*]// /,}}, $subnet.0/24; the master's link limited to $rate Mbit/s each way"
netns_switch "$ns_sw" || cannot "cannot make a network namespace with a bridge here (ip netns add / ip link add type bridge failed)"
for h in "${hosts[@]}"; do
  netns_host "$ns_sw" "$pfx-$h" "p-$h" "${ip_of[$h]}/24" || cannot "cannot make host $h (a veth pair into a namespace)"
done
if ! netns_limit "$ns_master" eth0 "$rate" "$burst" "$latency" || ! netns_limit "$ns_sw" p-master "$rate" "$burst" "$latency"; then
  cannot "cannot add a tbf qdisc (tc qdisc ... tbf): is the sch_tbf module available?"
fi
tc_master=$(ip netns exec "$ns_master" tc qdisc show dev eth0 | grep tbf)
tc_port=$(ip netns exec "$ns_sw" tc qdisc show dev p-master | grep tbf)
echo "   master eth0 (egress, what the master sends): $tc_master"
echo "   switch port p-master (egress, what the master receives): $tc_port"

# --- the cluster, kept up for the whole benchmark
secret=$work/secret
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret"
chmod 600 "$secret"
# start HOST NAME BINARY ARGS... — start a daemon in HOST's namespace and wait for its addrs.json.
start() {
  local host=$1 name=$2 prog=$3
  shift 3
  local dir=$data/$name
  ip netns exec "$pfx-$host" "$bin/$prog" --name "$name" --data-dir "$dir" --secret-file "$secret" \
    --log-level warn "$@" >"$logs/$name.log" 2>&1 &
  local pid=$!
  daemons+=("$name $pid")
  for _ in $(seq 150); do
    [[ -s $dir/addrs.json ]] && return 0
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logs/$name.log" >&2; echo "netbench.sh: $name exited before serving" >&2; return 1; }
    sleep 0.1
  done
  echo "netbench.sh: $name did not write addrs.json within 15 s" >&2
  return 1
}
# client ARGS... — the client, in the client's namespace, with the secret.
client() { ip netns exec "$ns_client" "$bin/dlbp" "$@" --secret-file "$secret"; }
# wait_alive LB — until maplb at LB lists every node and a reducelb alive.
wait_alive() {
  local l n r
  for _ in $(seq 300); do
    l=$(client nodes --lb "$1" 2>/dev/null || true)
    n=$(awk '$2 == "node" && $4 == "alive"' <<<"$l" | wc -l)
    r=$(awk '$2 == "reducelb" && $4 == "alive"' <<<"$l" | wc -l)
    ((n == nodes && r >= 1)) && return 0
    sleep 0.2
  done
  echo "netbench.sh: maplb $1 does not list $nodes alive nodes and a reducelb after 60 s:" >&2
  client nodes --lb "$1" >&2 || true
  return 1
}
m=${ip_of[master]}
lb_dlbp=$m:7070 lb_single=$m:7072
echo "== cluster: maplb (dlbp) $lb_dlbp, maplb (single) $lb_single, reducelb $m:7080, $nodes nodes x 1 slot"
lb_args=(--result-ttl 2m) # every result is read once; let it go so the disk does not fill
# The maplbs serve /metrics on the master's address (read from the master's namespace: that
# traffic stays off eth0); the others serve no HTTP.
start master maplb maplb --mode dlbp --rpc "$lb_dlbp" --gossip "$m:7946" --http "$m:7071" "${lb_args[@]}"
start master maplb-single maplb --mode single --rpc "$lb_single" --gossip "$m:7948" --join "$m:7946" --http "$m:7073" "${lb_args[@]}"
start master reducelb reducelb --rpc "$m:7080" --gossip "$m:7947" --join "$m:7946" --http ""
for i in $(seq 1 "$nodes"); do
  a=${ip_of[node$i]}
  start "node$i" "node$i" node --rpc "$a:7000" --gossip "$a:7946" --join "$m:7946" --slots 1 --http ""
done
wait_alive "$lb_dlbp"
wait_alive "$lb_single"
for lb in "$lb_dlbp" "$lb_single"; do # a first, tiny job through each: every connection made
  got=$(timeout 60 ip netns exec "$ns_client" "$bin/dlbp" submit --lb "$lb" --secret-file "$secret" --job sum \
    --param range=1..1000 --reducers "$reducers" --quiet 2>>"$logs/warmup.log") || true
  [[ $got == 500500 ]] || { echo "netbench.sh: warm-up job on $lb printed '$got', want 500500:" >&2; tail -n 5 "$logs/warmup.log" >&2; exit 1; }
done

# The variants measured: mode single, and mode dlbp with each way of reading the result.
if ((fetch_flag)); then
  variants=(single dlbp-direct dlbp-lb)
else
  variants=(single dlbp)
fi
declare -A lb_of args_of http_of
lb_of[single]=$lb_single lb_of[dlbp]=$lb_dlbp lb_of[dlbp-direct]=$lb_dlbp lb_of[dlbp-lb]=$lb_dlbp
http_of[single]=$m:7073 http_of[dlbp]=$m:7071 http_of[dlbp-direct]=$m:7071 http_of[dlbp-lb]=$m:7071
args_of[single]="" args_of[dlbp]="" args_of[dlbp-direct]="--fetch direct" args_of[dlbp-lb]="--fetch lb"
label() {
  case $1 in
  single) echo "single" ;;
  dlbp) echo "dlbp R=$reducers" ;;
  dlbp-direct) echo "dlbp R=$reducers, --fetch direct" ;;
  dlbp-lb) echo "dlbp R=$reducers, --fetch lb" ;;
  esac
}

# lb_bytes HTTP — "INPUT_IN INPUT_OUT PARTIAL_IN RESULT_OUT": what the maplb serving /metrics at
# HTTP says it moved (dlbp_bytes_total), 0 for what it cannot tell.
lb_bytes() {
  ip netns exec "$ns_master" curl -sf --max-time 5 "http://$1/metrics" 2>/dev/null | awk '
    /^dlbp_bytes_total\{/ {
      d = $0; sub(/.*direction="/, "", d); sub(/".*/, "", d)
      w = $0; sub(/.*what="/, "", w); sub(/".*/, "", w)
      b[d "/" w] = $NF
    }
    END { printf "%.0f %.0f %.0f %.0f\n", b["in/input"], b["out/input"], b["in/partial"], b["out/result"] }' || echo "0 0 0 0"
}
# retrans — TCP segments retransmitted, summed over the hosts (every sender that crosses the
# master's link included).
retrans() {
  local h t=0 v
  for h in "${hosts[@]}"; do
    v=$(ip netns exec "$pfx-$h" cat /proc/net/snmp 2>/dev/null | awk '/^Tcp:/ { if (n++) { for (i = 1; i <= NF; i++) if (k[i] == "RetransSegs") print $i } else for (i = 1; i <= NF; i++) k[i] = $i }' || echo 0)
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

results=$work/results.tsv # job variant run seconds rx_bytes tx_bytes ok
appbytes=$work/appbytes.tsv # job variant run input_in input_out partial_in result_out retrans_segs
phases=$work/phases.tsv   # job variant run phases...
: >"$results"
: >"$phases"
: >"$appbytes"
mismatch=0

# measure JOB VARIANT RUN — one timed submission; appends a line to results.tsv.
measure() {
  local job=$1 v=$2 run=$3 o=$out/$1.$2.run$3 lb=${lb_of[$2]} t0 t1 rc=0 rx0 tx0 rx1 tx1 secs ok
  local extra=()
  read -r -a extra <<<"${args_of[$v]}"
  [[ $job == sort ]] || extra+=(--split-size "$split")
  sleep 1 # the previous run's tail (result copies, forgets) is not counted in this one
  local a0 a1 r0 r1
  read -r -a a0 < <(lb_bytes "${http_of[$v]}")
  r0=$(retrans)
  read -r rx0 tx0 < <(netns_bytes "$ns_master")
  t0=$(now_ns)
  # In the background and waited for: a signal to this script is handled at once, not after the run.
  timeout -k 10 "$run_timeout" ip netns exec "$ns_client" "$bin/dlbp" submit --lb "$lb" --secret-file "$secret" \
    --job "$job" --reducers "$reducers" --quiet "${extra[@]}" "${inputs[@]}" >"$o" 2>"$logs/$job.$v.run$run.log" &
  client_pid=$!
  wait "$client_pid" || rc=$?
  client_pid=""
  t1=$(now_ns)
  read -r rx1 tx1 < <(netns_bytes "$ns_master")
  r1=$(retrans)
  read -r -a a1 < <(lb_bytes "${http_of[$v]}")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$job" "$v" "$run" $((a1[0] - a0[0])) $((a1[1] - a0[1])) $((a1[2] - a0[2])) \
    $((a1[3] - a0[3])) $((r1 - r0)) >>"$appbytes"
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  if ((has_jq)); then
    local id
    id=$(client jobs --lb "$lb" --json 2>/dev/null | jq -r 'max_by(.submitted) | .id' 2>/dev/null || true)
    if [[ -n $id && $id != null ]]; then
      client status --lb "$lb" --json "$id" 2>/dev/null | "$bin/phases" -t0 "$t0" -t1 "$t1" 2>/dev/null |
        sed "s/^/$job\t$v\t$run\t/" >>"$phases" || true
    fi
  fi
  if ((rc != 0)); then
    ok="FAILED(exit $rc$( ((rc == 124 || rc == 137)) && echo ", timed out after $run_timeout s"))"
    echo "!! $job $v run $run: exit $rc: $(tail -n 3 "$logs/$job.$v.run$run.log")" >&2
    if [[ -s $o ]]; then mv "$o" "$o.partial"; else rm -f "$o"; fi
  elif cmp -s "$o" "$out/$job.reference"; then
    ok=ok
    rm -f "$o"
  else
    ok=MISMATCH
    mv "$o" "$o.MISMATCH"
    echo "!! MISMATCH: $job $v run $run differs from scripts/reference: $(cmp "$o.MISMATCH" "$out/$job.reference" 2>&1 | head -n 1)" >&2
  fi
  [[ $ok == ok ]] || mismatch=1
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$job" "$v" "$run" "$secs" $((rx1 - rx0)) $((tx1 - tx0)) "$ok" >>"$results"
  printf '   run %d/%d  %-9s %-12s %8s s  master rx %7s MB  tx %7s MB  %s\n' "$run" "$runs" "$job" "$v" "$secs" \
    "$(mib $((rx1 - rx0)))" "$(mib $((tx1 - tx0)))" "$ok"
}

if [[ -n $rev ]]; then
  commit="$rev_sha (--rev $rev: that revision's files, not the working tree)"
else
  commit=$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ -n $(cd "$root" && git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
    commit="$commit plus uncommitted changes in the working tree (built at $(date -u '+%H:%M UTC'))"
  fi
fi
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
date_start=$(date -u '+%Y-%m-%d %H:%M UTC')
if ((fetch_flag)); then
  echo "== dlbp submit has --fetch: mode dlbp is measured with --fetch direct and with --fetch lb"
else
  echo "== dlbp submit has no --fetch: mode dlbp is measured as this code reads results"
fi
echo "== $runs interleaved runs of ${jobs[*]} x ${variants[*]} on $size_mb MB, R=$reducers; load average $load_start"
for run in $(seq 1 "$runs"); do
  for job in "${jobs[@]}"; do
    for v in "${variants[@]}"; do measure "$job" "$v" "$run"; done
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
tc_stats_master=$(ip netns exec "$ns_master" tc -s qdisc show dev eth0 | sed -n '/tbf/,/backlog/p')
tc_stats_port=$(ip netns exec "$ns_sw" tc -s qdisc show dev p-master | sed -n '/tbf/,/backlog/p')

# --- the table: medians; ratio = single's median / this variant's median (> 1: dlbp is faster).
table=$work/table.tsv
awk -F'\t' -v order="${variants[*]}" -v jobs="${jobs[*]}" "$awk_median"'
{
  k = $1 SUBSEP $2
  t[k] = t[k] (t[k] == "" ? "" : " ") $4
  rx[k] = rx[k] (rx[k] == "" ? "" : " ") $5
  tx[k] = tx[k] (tx[k] == "" ? "" : " ") $6
  if ($7 != "ok") bad[k] = bad[k] (bad[k] == "" ? "" : ",") "run" $3 ":" $7
}
END {
  nv = split(order, vs, " "); nj = split(jobs, js, " ")
  for (a = 1; a <= nj; a++) {
    sgl = (js[a] SUBSEP "single") in t ? median(t[js[a] SUBSEP "single"]) : 0
    for (b = 1; b <= nv; b++) {
      k = js[a] SUBSEP vs[b]
      if (!(k in t)) continue
      med = median(t[k])
      r = (vs[b] != "single" && sgl > 0 && med > 0) ? sprintf("%.2f", sgl / med) : "-"
      printf "%s\t%s\t%.2f\t%s\t%.1f\t%.1f\t%s\t%s\n", js[a], vs[b], med, t[k], median(rx[k]) / 1048576, median(tx[k]) / 1048576, r,
        (k in bad) ? "FAILED " bad[k] : "ok"
    }
  }
}' "$results" >"$table"

cap=$(awk -v r="$rate" 'BEGIN { printf "%.2f", r * 1e6 / 8 / 1048576 }')
echo
echo "== $size_mb MB, $nfiles files, $nodes nodes, R=$reducers; master link $rate Mbit/s each way ($cap MB/s); median of $runs interleaved runs; load average $load_start at start, $load_end at end"
printf '%-9s %-30s %8s %10s %10s %12s  %-6s %s\n' job mode "median s" "master rx" "master tx" "single/this" output "[every run, s]"
while IFS=$'\t' read -r j v med every rx tx r ok; do
  printf '%-9s %-30s %8.2f %7s MB %7s MB %12s  %-6s [%s]\n' "$j" "$(label "$v")" "$med" "$rx" "$tx" "$r" "$ok" "$every"
done <"$table"
echo "time: wall clock of \`dlbp submit --job J --reducers $reducers --quiet FILES > out\` in the client's namespace (upload, job, result)"
echo "master rx/tx: bytes received/sent by the master's eth0 during the run (median over the runs; MB = 2^20 bytes)"

# --- phases from `dlbp status --json` (median over the runs)
phase_table=$work/phases-table.tsv
awk -F'\t' "$awk_median"'
{
  k = $1 "\t" $2
  if (!(k in seen)) { seen[k] = 1; keys[++nk] = k }
  n = split($4, f, " ")
  for (i = 1; i <= n; i++) { split(f[i], kv, "="); v[k, kv[1]] = v[k, kv[1]] (v[k, kv[1]] == "" ? "" : " ") kv[2] }
}
END {
  for (i = 1; i <= nk; i++) {
    k = keys[i]
    printf "%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\n", k, median(v[k, "maps"]), median(v[k, "map_attempts"]), median(v[k, "upload_queue_s"]), median(v[k, "map_phase_s"]),
      median(v[k, "reduce_tail_s"]), median(v[k, "result_transfer_s"])
  }
}' "$phases" >"$phase_table"
if [[ -s $phase_table ]]; then
  echo
  echo "== where the time went (dlbp status --json; medians, s)"
  printf '%-9s %-30s %9s %12s %14s %8s %12s %8s\n' job mode "map tasks" "map attempts" "upload+queue" maps "reduce tail" result
  while IFS=$'\t' read -r j v nm na up mp rt rs; do
    printf '%-9s %-30s %9s %12s %14s %8s %12s %8s\n' "$j" "$(label "$v")" "$nm" "$na" "$up" "$mp" "$rt" "$rs"
  done <"$phase_table"
fi

# --- what maplb moved, by kind (dlbp_bytes_total), and TCP retransmissions (medians)
kind_table=$work/kinds-table.tsv
awk -F'\t' "$awk_median"'
{
  k = $1 "\t" $2
  if (!(k in seen)) { seen[k] = 1; keys[++nk] = k }
  for (i = 4; i <= 8; i++) v[k, i] = v[k, i] (v[k, i] == "" ? "" : " ") $i
}
END {
  for (i = 1; i <= nk; i++) {
    k = keys[i]
    printf "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%d\n", k, median(v[k, 4]) / 1048576, median(v[k, 5]) / 1048576, median(v[k, 6]) / 1048576,
      median(v[k, 7]) / 1048576, median(v[k, 8])
  }
}' "$appbytes" >"$kind_table"
echo
echo "== what the maplb of each mode moved (its dlbp_bytes_total, MB, medians) and TCP segments retransmitted (all hosts)"
printf '%-9s %-30s %12s %12s %12s %11s %8s\n' job mode "input in" "input out" "partials in" "result out" retrans
while IFS=$'\t' read -r j v ii io pi ro rt; do
  printf '%-9s %-30s %12s %12s %12s %11s %8s\n' "$j" "$(label "$v")" "$ii" "$io" "$pi" "$ro" "$rt"
done <"$kind_table"
echo "input in: the upload; input out: splits read by the nodes; partials in: gathered by the master (mode single); result out: served to the client (read from the reducer first when maplb is not the reducer)"

# --- the daemons' logs (--log-level warn: every line is a warning or an error)
echo
echo "== daemon logs (level warn and above):$(for d in "${daemons[@]}"; do printf ' %s %d,' "${d% *}" "$(wc -l <"$logs/${d% *}.log")"; done | sed 's/,$//') lines"
for d in "${daemons[@]}"; do
  if [[ -s $logs/${d% *}.log ]]; then
    echo "   -- ${d% *} (first 5):"
    head -n 5 "$logs/${d% *}.log" | cut -c1-300 | sed 's/^/      /'
  fi
done

# --- markdown report
if [[ -n $doc ]]; then
  md=$work/netbench.md
  {
    echo "# dlbp network-bound benchmark"
    echo
    echo "Made by \`scripts/netbench.sh\`; rerun it to replace this file. Only what the script measured is here."
    echo
    echo "- date: $date_start"
    echo "- command: \`$cmdline\`"
    echo "- code: $commit"
    echo "- machine: $(nproc) cores ($(nproc --all) online), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory, Linux $(uname -r), $(go version | cut -d' ' -f3); every namespace shares these cores"
    echo "- load average (1, 5, 15 min): $load_start at start, $load_end at end"
    echo "- input: $size_mb MB (2^20 bytes) of generated text (scripts/gencorpus, seeds $seed..$((seed + nfiles - 1))) in $nfiles files"
    echo "- topology: network namespaces joined by veth pairs to one bridge (a switch namespace), $subnet.0/24: \`client\` (runs \`dlbp submit\`), \`master\` (maplb --mode dlbp, maplb --mode single joined to the same gossip cluster, reducelb), node1..node$nodes (\`node --slots 1\` each); a cluster secret (--secret-file) on every daemon and the client; the daemons started once before the runs and kept up (start-up not timed)"
    echo "- the master's link, limited in both directions to $rate Mbit/s ($cap MB/s) by a tbf qdisc; every other link unlimited:"
    echo "  - master eth0, egress (what the master sends): \`tc qdisc add dev eth0 root tbf rate ${rate}mbit burst $burst latency $latency\` → \`$tc_master\`"
    echo "  - switch port p-master, egress (what the master receives): the same → \`$tc_port\`"
    echo "- jobs: $(for j in "${jobs[@]}"; do
      if [[ $j == sort ]]; then printf '%s (--split-size chosen by maplb) ' "$j"; else printf '%s (--split-size %s) ' "$j" "$split"; fi
    done)with --reducers $reducers in both modes"
    if ((fetch_flag)); then
      echo "- \`dlbp submit\` has --fetch: mode dlbp measured with --fetch direct (result parts read from the reducer nodes) and --fetch lb (through maplb); mode single with its default"
    else
      echo "- \`dlbp submit\` has no --fetch in this code: mode dlbp is measured the one way it reads results"
    fi
    echo "- method: $runs runs, interleaved (run 1 of every job and mode, then run 2, ...); each figure is the median; every output compared byte for byte with scripts/reference"
    echo
    echo "## Jobs"
    echo
    echo "| job | mode | time (s, median) | every run (s) | master rx MB | master tx MB | single / this | output |"
    echo "|---|---|---:|---|---:|---:|---:|---|"
    while IFS=$'\t' read -r j v med every rx tx r ok; do
      echo "| $j | $(label "$v") | $med | $every | $rx | $tx | $r | $ok |"
    done <"$table"
    echo
    echo "- time: wall clock of \`dlbp submit --job J --reducers $reducers --quiet FILES > out\` in the client's namespace: upload, the job, and the result streamed back."
    echo "- master rx / tx: bytes the master's eth0 received / sent during the run (kernel counters; median over the runs; MB = 2^20 bytes), gossip and probes included. At $rate Mbit/s one direction carries at most $cap MB/s."
    echo "- single / this: mode single's median time divided by this row's (above 1: faster than mode single)."
    if [[ -s $phase_table ]]; then
      echo
      echo "## Where the time went"
      echo
      echo "From \`dlbp status --json\` (scripts/bench/phases), medians in seconds. upload+queue: client start to the job running (the input is uploaded to maplb and stored); map attempts: more than map tasks when backups ran (stragglers) or tasks were retried; maps: running to the last map attempt's end; reduce tail: last map to the job finished; result: job finished to client end (the result streamed to the client)."
      echo
      echo "| job | mode | map tasks | map attempts | upload+queue | maps | reduce tail | result |"
      echo "|---|---|---:|---:|---:|---:|---:|---:|"
      while IFS=$'\t' read -r j v nm na up mp rt rs; do
        echo "| $j | $(label "$v") | $nm | $na | $up | $mp | $rt | $rs |"
      done <"$phase_table"
    fi
    echo
    echo "## What crossed the master's link, by kind"
    echo
    echo "What the maplb of the mode says it moved (its \`dlbp_bytes_total\` on /metrics, read from the master's namespace before and after each run), MB, medians; and the TCP segments retransmitted during the run, summed over every host (/proc/net/snmp RetransSegs). input in: the upload from the client; input out: the splits the nodes read; partials in: the partials the master gathered (mode single); result out: the result served to the client — in mode dlbp maplb first reads each chunk from the reducer holding it, so the same bytes also come in."
    echo
    echo "| job | mode | input in MB | input out MB | partials in MB | result out MB | TCP retransmitted segments |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    while IFS=$'\t' read -r j v ii io pi ro rt; do
      echo "| $j | $(label "$v") | $ii | $io | $pi | $ro | $rt |"
    done <"$kind_table"
    echo
    echo "## Every run"
    echo
    echo "In the order they ran. Phases as above (s); retrans: TCP segments retransmitted, all hosts."
    echo
    echo "| run | job | mode | time s | master rx MB | master tx MB | map attempts | upload+queue | maps | reduce tail | result | retrans | output |"
    echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    awk -F'\t' '
    FILENAME == ARGV[1] { n = split($4, f, " "); for (i = 1; i <= n; i++) { split(f[i], kv, "="); ph[$1, $2, $3, kv[1]] = kv[2] }; next }
    FILENAME == ARGV[2] { rt[$1, $2, $3] = $8; next }
    {
      k = $1 SUBSEP $2 SUBSEP $3
      printf "%s\t%s\t%s\t%s\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", $3, $1, $2, $4, $5 / 1048576, $6 / 1048576,
        ph[k, "map_attempts"], ph[k, "upload_queue_s"], ph[k, "map_phase_s"], ph[k, "reduce_tail_s"], ph[k, "result_transfer_s"], rt[k], $7
    }' "$phases" "$appbytes" "$results" | while IFS=$'\t' read -r r j v t rx tx na up mp tl rs rt ok; do
      echo "| $r | $j | $(label "$v") | $t | $rx | $tx | $na | $up | $mp | $tl | $rs | $rt | $ok |"
    done
    echo
    echo "## The limiters after the runs"
    echo
    echo '```'
    echo "master eth0:"
    echo "$tc_stats_master"
    echo "switch port p-master:"
    echo "$tc_stats_port"
    echo '```'
  } >"$md"
  mkdir -p "$(dirname "$doc")"
  cp "$md" "$doc"
  echo
  echo "== report written to $doc"
fi

if ((mismatch)); then
  echo "!! at least one output differed from scripts/reference, or a job failed: see the table" >&2
  exit 1
fi
