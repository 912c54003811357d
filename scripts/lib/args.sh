# shellcheck shell=bash
# args.sh — checks of the benchmark scripts' options (bench.sh, netbench.sh). Source it.

# need_whole PROG VAR... — exit 2 unless every named variable holds a positive whole number.
need_whole() {
  local prog=$1 v
  shift
  for v in "$@"; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$prog: ${v}=${!v}: want a positive whole number" >&2; exit 2; }
  done
}

# need_jobs PROG JOB... — exit 2 unless every job is one the benchmarks know.
need_jobs() {
  local prog=$1 j
  shift
  for j in "$@"; do
    case $j in wordcount | indexer | sort) ;; *) echo "$prog: job $j: want wordcount, indexer or sort" >&2; exit 2 ;; esac
  done
}
