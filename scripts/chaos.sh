#!/usr/bin/env bash
# chaos.sh — run the seeded chaos test (test/chaos) for many rounds and print the totals.
#
#   scripts/chaos.sh [--rounds N] [--seed S] [--min-down DURATION] [--check-dirs]
#
# Each round runs one job (wordcount, indexer or sort; 1 to 4 reducers; mode dlbp or single)
# while faults from the seeded schedule land on the cluster (kill -9 and restart of nodes under
# the same or a new name, SIGSTOP of a node for 1-5 s, kill -9 and restart of a load balancer),
# then checks the output against internal/reference byte for byte and that the job succeeded.
# One line per round (OK, WRONG, LOST, HUNG: no progress 45 s after the last fault, LATE); at
# the end: rounds, wrong outputs, lost jobs, hung jobs. --seed S replays a schedule
# (the seed is printed). --min-down keeps every killed daemon down at least that long (a Go
# duration: 8s restarts only after gossip has noticed the crash). --check-dirs keeps results
# 20 s only and, after the last round, waits until every live daemon's data directory is back
# to its size at the start (job data: caches of user modules and the state stores left out),
# and prints the sizes. Exit status 0 only when every round was exact, no job was lost and,
# with --check-dirs, nothing was left behind.
set -euo pipefail

rounds=20 seed="" min_down=""
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
	--seed) seed=${2:?--seed needs a number}; shift 2 ;;
	--min-down) min_down=${2:?--min-down needs a duration}; shift 2 ;;
	--check-dirs) export DLBP_CHAOS_CHECK_DIRS=1; shift ;;
	-h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "chaos.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
case "$rounds" in ''|*[!0-9]*|0) echo "chaos.sh: --rounds wants a positive number, not '$rounds'" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.."
export DLBP_CHAOS_ROUNDS=$rounds
[ -n "$seed" ] && export DLBP_CHAOS_SEED=$seed
[ -n "$min_down" ] && export DLBP_CHAOS_MIN_DOWN=$min_down

log=$(mktemp -t dlbp-chaos.XXXXXX)
# A round takes well under a minute, a hung one about 1 minute more: 3 minutes a round is ample.
timeout=$((rounds * 3 + 10))m
echo "chaos.sh: $rounds rounds, full log in $log"
set +e
go test -count=1 -v -timeout "$timeout" -run '^TestChaos$' ./test/chaos 2>&1 | tee "$log" | grep --line-buffered -E '^chaos:|LEFT BEHIND|^(--- FAIL|FAIL|panic)'
status=${PIPESTATUS[0]}
set -e

ran=$(grep -c '^chaos: seed=.* round=' "$log" || true)
ok=$(grep -c '^chaos: seed=.* round=.* OK$' "$log" || true)
wrong=$(grep -c '^chaos: seed=.* round=.* WRONG' "$log" || true)
lost=$(grep -c '^chaos: seed=.* round=.* LOST' "$log" || true)
late=$(grep -c '^chaos: seed=.* round=.* LATE' "$log" || true)
hung=$(grep -c '^chaos: seed=.* round=.* HUNG' "$log" || true)
# Jobs that did not end succeeded by the end of the run (the test's final check).
unfinished=$(grep -c 'LOST: job .* (round [0-9]*)' "$log" || true)
echo
echo "chaos.sh totals: rounds $ran of $rounds, exact $ok, wrong outputs $wrong, lost jobs $lost (+$unfinished not succeeded at the end), hung $hung, late $late (go test exit $status)"
if [ "$ran" -ne "$rounds" ] || [ "$ok" -ne "$rounds" ] || [ "$status" -ne 0 ]; then
	grep -E '^chaos: seed=.* (WRONG|LOST|HUNG|LATE)|LOST: job ' "$log" || true
	exit 1
fi
