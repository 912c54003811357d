# procs.sh — sourced by the cluster scripts (bench.sh, scale.sh, killbench.sh).

# stop_pids PID... — asks each process to stop (SIGTERM: the daemons drain and leave the cluster),
# waits up to 10 s for all of them, then kills what is left. Only the pids given are touched.
stop_pids() {
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  for _ in $(seq 100); do
    local alive=0 p
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
}
