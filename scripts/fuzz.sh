#!/usr/bin/env bash
# Runs every fuzz target of the module for SECONDS each (default 600), one
# after another, and prints each target's exec count. A target that finds a
# failing input saves it under its package's testdata/fuzz/<Target>/ (where
# `go test` replays it); the script goes on with the next target and exits
# non-zero at the end.
#
#   scripts/fuzz.sh [SECONDS]
#
# FUZZ_PARALLEL=N limits the fuzzing workers (default: one per core).
set -euo pipefail
secs=${1:-600}
cd "$(dirname "$0")/.."
failed=0
summary=()
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "== $pkg $target (${secs}s)"
		log=$(mktemp)
		status=0
		go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "${secs}s" ${FUZZ_PARALLEL:+-parallel "$FUZZ_PARALLEL"} 2>&1 | tee "$log" || status=$?
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
		result=ok
		if [ "$status" -ne 0 ]; then
			if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
				# The go fuzzing engine sometimes reports its own -fuzztime
				# expiring, on a loaded machine, as a failure: no input failed.
				result="ok (fuzzer stopped with 'context deadline exceeded')"
			else
				result=FAILED
				failed=1
			fi
		fi
		rm -f "$log"
		summary+=("$(printf '%-10s %-20s %12s execs  %s' "$(basename "$pkg")" "$target" "${execs:-0}" "$result")")
	done
done
echo
echo "exec counts (${secs}s each):"
printf '%s\n' "${summary[@]}"
exit "$failed"
