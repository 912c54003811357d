#!/usr/bin/env bash
# verify-large.sh — run the end-to-end test TestLarge: wordcount, indexer, grep and sort on
# MB megabytes of generated text (several files, fixed seeds) through the real binaries, with
# R=1 and R=4 in both modes, each output compared byte for byte with internal/reference and
# with `LC_ALL=C grep -Hn -E` / `LC_ALL=C sort` where they are installed.
#
#   scripts/verify-large.sh        # 100 MB
#   scripts/verify-large.sh 1024   # 1 GB
set -euo pipefail

mb=${1:-100}
if ! [[ $mb =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [MB]   (a whole number of megabytes, default 100)" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DLBP_LARGE_MB=$mb exec go test ./test/e2e -run '^TestLarge$' -count=1 -timeout 60m -v
