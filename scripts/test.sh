#!/usr/bin/env bash
# The test suite, what CI runs (.ci/run): every test, then the race detector over the packages
# whose goroutines share state (the daemons' cores, the transport, the shuffle) and the
# in-process cluster test that runs many clients at once. The race detector makes code 5-10
# times slower: the whole suite under it would take most of an hour on 2 cores, so it looks
# where races live. Extra arguments go to both go test commands (e.g. -count=1).
set -euo pipefail
cd "$(dirname "$0")/.."

go test -p 1 "$@" ./...

race_pkgs=(./pkg/transport ./pkg/shuffle ./pkg/node ./pkg/maplb ./pkg/reducelb ./pkg/cluster
  ./pkg/sched ./pkg/store ./pkg/blob ./pkg/integrity ./pkg/daemon)
echo "== the race detector: ${race_pkgs[*]}, and pkg/client's concurrent clients"
go test -race -p 1 "$@" "${race_pkgs[@]}"
go test -race "$@" -run '^(TestConcurrentClients|TestNodeRejoins|TestDamagedPartIsNeverPrinted)$' ./pkg/client
