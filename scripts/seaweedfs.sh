#!/usr/bin/env bash
# seaweedfs.sh — build SeaweedFS's `weed` (the real S3 server the tests run against) once, into
# a cache outside the clone, and print its path.
#
#   scripts/seaweedfs.sh          # prints e.g. ~/.cache/dlbp/seaweedfs-v0.0.0-…/weed
#
# `go install` refuses the module (its go.mod has replace directives), so the module is
# downloaded with `go mod download` and built inside its directory: about 3-6 minutes once,
# nothing after. $DLBP_CACHE overrides the cache directory (default ~/.cache/dlbp). The tests
# find the binary the same way (internal/s3test), or in $DLBP_WEED, and skip, saying so,
# without it.
set -euo pipefail
module=github.com/seaweedfs/seaweedfs
version=v0.0.0-20261109003541-7506e5f91cd6
cache=${DLBP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dlbp}/seaweedfs-$version
if [[ -x $cache/weed ]]; then
  echo "$cache/weed"
  exit 0
fi
mkdir -p "$cache"
dir=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [[ -z $dir || ! -d $dir ]]; then
  echo "seaweedfs.sh: could not download $module@$version" >&2
  exit 1
fi
echo "seaweedfs.sh: building weed from $dir (a few minutes, once)" >&2
(cd "$dir" && GOFLAGS=-mod=mod go build -o "$cache/weed.tmp" ./weed)
mv "$cache/weed.tmp" "$cache/weed"
echo "$cache/weed"
