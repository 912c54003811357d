#!/usr/bin/env bash
# cluster-docker.sh — a dlbp cluster in Docker containers: maplb, reducelb and
# 3 nodes (deploy/compose.yaml), authenticated by a generated cluster secret,
# maplb's RPC published on 127.0.0.1 of this host only.
#
#   scripts/cluster-docker.sh up               build binaries + image dlbp:local, start, wait for 3 nodes
#   scripts/cluster-docker.sh submit ARGS...   dlbp submit against it, e.g. --job wordcount --reducers 3 FILE...
#   scripts/cluster-docker.sh dlbp CMD ARGS... any client command: nodes --json, jobs, status JOB, ...
#   scripts/cluster-docker.sh status           containers, addresses, members
#   scripts/cluster-docker.sh env              export lines for DLBP_LB and DLBP_SECRET_FILE (eval "$(...)")
#   scripts/cluster-docker.sh logs [SERVICE]   the daemons' logs
#   scripts/cluster-docker.sh down             remove containers, network, volumes and the secret
#
# The binaries are built on this host (CGO_ENABLED=0, static) into bin/linux/
# and copied into a FROM scratch image: nothing is pulled from a registry.
# Input files are uploaded by the client, so no volume is needed for them.
#
# Environment:
#   DLBP_DOCKER_PROJECT  compose project name (default dlbp); several can run side by side
#   DLBP_DOCKER_PORT     host port for maplb's RPC on 127.0.0.1 (default: any free port)
#   DLBP_DOCKER_HTTP_PORT  the same for maplb's /healthz, /readyz (default: any free port)
#   DLBP_IMAGE           image tag (default dlbp:local); `down` keeps the image
#   DLBP_DOCKER_WAIT     seconds `up` waits for 3 alive nodes (default 120)
#   DLBP_LOG_LEVEL, DLBP_LOG_FORMAT   the daemons' logging (default info, console)
# The secret lives in bin/docker/PROJECT/secret (bin/ is ignored by git).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
project=${DLBP_DOCKER_PROJECT:-dlbp}
image=${DLBP_IMAGE:-dlbp:local}
wait_secs=${DLBP_DOCKER_WAIT:-120}
compose_file="$root/deploy/compose.yaml"
bin_dir="$root/bin/linux"
state_dir="$root/bin/docker/$project"
secret="$state_dir/secret"
nodes_wanted=3

die() {
  echo "cluster-docker: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
  exit 2
}

[[ $project =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die "DLBP_DOCKER_PROJECT=$project: use lower-case letters, digits, - and _"

# check_docker fails with a clear message unless the engine answers and a
# compose tool exists; it sets compose_cmd to `docker compose` (v2) or
# `docker-compose` (v1).
compose_cmd=()
check_docker() {
  command -v docker >/dev/null || die "docker is not installed"
  docker info >/dev/null 2>&1 || die "the Docker engine does not answer (docker info failed): is the daemon running, may you use it?"
  if docker compose version >/dev/null 2>&1; then
    compose_cmd=(docker compose)
  elif command -v docker-compose >/dev/null && docker-compose version >/dev/null 2>&1; then
    compose_cmd=(docker-compose)
  else
    die "no compose tool: neither 'docker compose' nor 'docker-compose' works"
  fi
}

# compose runs the compose tool on this project. The secret variable is
# always set, so commands that start nothing (down, logs, ps) work without a
# secret: compose only wants some regular file there, and `up` always makes
# the real one first.
compose() {
  local s=$secret
  [[ -f $s ]] || s=$compose_file
  DLBP_DOCKER_SECRET="$s" DLBP_IMAGE="$image" \
    "${compose_cmd[@]}" --project-name "$project" --file "$compose_file" "$@"
}

# project_objects lists the IDs of the containers, networks and volumes that
# carry this compose project's label.
project_objects() {
  local label="label=com.docker.compose.project=$project"
  docker ps --all --quiet --filter "$label"
  docker network ls --quiet --filter "$label"
  docker volume ls --quiet --filter "$label"
}

# host_client is the dlbp client this host runs: the image's own binary
# when the host is linux on the image's architecture, else one built for it.
host_client() {
  if [[ $(go env GOHOSTOS) == linux && $(go env GOHOSTARCH) == "$(image_arch)" ]]; then
    echo "$bin_dir/dlbp"
  else
    echo "$state_dir/dlbp"
  fi
}

# image_arch is the Docker engine's architecture, which the binaries are
# built for.
image_arch() {
  local a
  a=$(docker version --format '{{.Server.Arch}}' 2>/dev/null || true)
  echo "${a:-$(go env GOHOSTARCH)}"
}

build() {
  command -v go >/dev/null || die "go is not installed (needed to build the static binaries)"
  local arch
  arch=$(image_arch)
  echo "building static binaries for linux/$arch into bin/linux/" >&2
  mkdir -p "$bin_dir/empty"
  (cd "$root" && CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath -ldflags='-s -w' -o "$bin_dir/" ./cmd/...) ||
    die "go build ./cmd/... failed"
  if [[ $(host_client) != "$bin_dir/dlbp" ]]; then
    (cd "$root" && go build -o "$state_dir/dlbp" ./cmd/dlbp) || die "go build ./cmd/dlbp (host client) failed"
  fi
  echo "building image $image" >&2
  # Without buildx the Docker CLI refuses BuildKit: use the classic builder,
  # which is all a FROM scratch image of copied files needs.
  local buildkit=()
  docker buildx version >/dev/null 2>&1 || buildkit=(env DOCKER_BUILDKIT=0)
  "${buildkit[@]}" docker build --quiet --tag "$image" --file "$root/Dockerfile" "$root" >/dev/null ||
    die "docker build failed"
}

make_secret() {
  # The directory is private to this user; the file inside is world-readable
  # because compose bind-mounts it as it is and the daemons run as uid 65532.
  mkdir -p "$state_dir"
  chmod 700 "$state_dir"
  if [[ ! -s $secret ]]; then
    local tmp="$secret.tmp.$$"
    (umask 022 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$tmp" && echo >>"$tmp")
    mv "$tmp" "$secret"
  fi
  chmod 644 "$secret"
}

# lb_addr prints 127.0.0.1:PORT, maplb's published RPC address.
lb_addr() {
  local a
  a=$(compose port maplb 7070 2>/dev/null | tail -n 1) || true
  [[ -n $a ]] || die "the cluster '$project' is not running (start it with: $0 up)"
  echo "127.0.0.1:${a##*:}"
}

# client CMD ARGS... runs a dlbp client command against the cluster.
client() {
  [[ -s $secret ]] || die "no cluster secret at $secret (run: $0 up)"
  client_at "$(host_client)" "$(lb_addr)" "$@"
}

# client_at BINARY LB CMD ARGS... is client with the binary and address known.
client_at() {
  local c=$1 lb=$2 cmd=$3
  shift 3
  [[ -x $c ]] || die "no client binary at $c (run: $0 up)"
  "$c" "$cmd" --lb "$lb" --secret-file "$secret" "$@"
}

# check_running IDS... fails, with the logs, if one of the containers has
# stopped or restarted.
check_running() {
  local id state name status restarts
  for id in "$@"; do
    state=$(docker inspect --format '{{.Name}} {{.State.Status}} {{.RestartCount}}' "$id")
    read -r name status restarts <<<"$state"
    if [[ $status != running || $restarts != 0 ]]; then
      compose logs --tail 40 >&2 || true
      die "container ${name#/} is $status (restarts: $restarts); its logs are above"
    fi
  done
}

cmd_up() {
  check_docker
  make_secret
  build
  echo "starting compose project $project" >&2
  if ! compose up --detach --remove-orphans >&2; then
    compose logs --tail 40 >&2 || true
    die "compose up failed; logs are above (stop with: $0 down)"
  fi
  local lb c ids out alive deadline=$((SECONDS + wait_secs))
  lb=$(lb_addr)
  c=$(host_client)
  mapfile -t ids < <(compose ps -q)
  while :; do
    check_running "${ids[@]}"
    out=$(client_at "$c" "$lb" nodes 2>/dev/null) || out=""
    alive=$(awk '$2 == "node" && $4 == "alive"' <<<"$out" | wc -l)
    ((alive >= nodes_wanted)) && break
    if ((SECONDS >= deadline)); then
      compose logs --tail 40 >&2 || true
      die "only $alive of $nodes_wanted nodes alive after ${wait_secs}s; logs are above (stop with: $0 down)"
    fi
    sleep 1
  done
  echo "$out"
  echo "cluster $project up: maplb at $lb; client: $0 submit --job wordcount FILE... (or eval \"\$($0 env)\"; dlbp ...)" >&2
}

cmd_down() {
  check_docker
  if [[ -n $(project_objects) ]]; then
    compose down --volumes --remove-orphans --timeout 40 >&2
  fi
  rm -rf "$state_dir"
  rmdir "$root/bin/docker" 2>/dev/null || true
  echo "cluster $project removed (the image $image is kept: docker rmi $image)" >&2
}

cmd_status() {
  check_docker
  if [[ -z $(docker ps --quiet --filter "label=com.docker.compose.project=$project") ]]; then
    echo "cluster $project is not running" >&2
    return 1
  fi
  compose ps
  local http
  http=$(compose port maplb 7071 2>/dev/null | tail -n 1) || true
  echo "maplb RPC: $(lb_addr)   health: http://127.0.0.1:${http##*:}/readyz   secret: $secret"
  client nodes
}

cmd_env() {
  check_docker
  [[ -s $secret ]] || die "no cluster secret at $secret (run: $0 up)"
  printf 'export DLBP_LB=%q\nexport DLBP_SECRET_FILE=%q\n' "$(lb_addr)" "$secret"
}

(($# > 0)) || usage
command=$1
shift
case $command in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
env) cmd_env ;;
submit)
  check_docker
  client submit "$@"
  ;;
dlbp)
  (($# > 0)) || die "dlbp: name a client command (submit, wait, status, jobs, nodes, cancel)"
  check_docker
  client "$@"
  ;;
logs)
  check_docker
  compose logs "$@"
  ;;
-h | --help | help) usage ;;
*)
  echo "cluster-docker: unknown command '$command'" >&2
  usage
  ;;
esac
