#!/usr/bin/env bash
# Runs every fuzz target of the module for SECONDS each (default 600), one
# after another, and prints each target's exec count. A target that finds a
# failing input stops the script with its status; the input is saved under
# the package's testdata/fuzz/<Target>/ for `go test` to replay.
#
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
secs=${1:-600}
cd "$(dirname "$0")/.."
total=0
summary=()
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "== $pkg $target (${secs}s)"
		log=$(mktemp)
		status=0
		go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "${secs}s" 2>&1 | tee "$log" || status=$?
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
		rm -f "$log"
		summary+=("$(printf '%-10s %-22s %12s execs' "$(basename "$pkg")" "$target" "${execs:-0}")")
		if [ "$status" -ne 0 ]; then
			printf '%s\n' "${summary[@]}"
			echo "$target FAILED" >&2
			exit "$status"
		fi
	done
done
echo
echo "exec counts (${secs}s each):"
printf '%s\n' "${summary[@]}"
