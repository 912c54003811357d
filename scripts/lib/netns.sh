# shellcheck shell=bash
# netns.sh — sourced by scripts that build a network of hosts in network namespaces (netbench.sh).
# Needs root and iproute2 (`ip`, `tc`). The layout is the one of test/netns: a switch namespace
# holding a bridge, one namespace per host, each host joined to the bridge by a veth pair whose
# host end is eth0. Only namespaces this file made are ever deleted.

netns_made=() # every namespace made by netns_switch / netns_host, in order

# netns_switch NS — make namespace NS with a bridge br0, up.
netns_switch() {
  ip netns add "$1" || return 1
  netns_made+=("$1")
  ip -n "$1" link set lo up &&
    ip -n "$1" link add br0 type bridge &&
    ip -n "$1" link set br0 up
}

# netns_host SWITCH_NS NS PORT ADDR/PREFIX — make namespace NS with eth0 at ADDR/PREFIX, joined
# to the bridge of SWITCH_NS through its port PORT (the switch end of the veth pair). The veth is
# made in the two namespaces at once: no name is ever taken in the caller's namespace.
netns_host() {
  local sw=$1 ns=$2 port=$3 addr=$4
  ip netns add "$ns" || return 1
  netns_made+=("$ns")
  ip link add eth0 netns "$ns" type veth peer name "$port" netns "$sw" &&
    ip -n "$ns" addr add "$addr" dev eth0 &&
    ip -n "$ns" link set lo up &&
    ip -n "$ns" link set eth0 up &&
    ip -n "$sw" link set "$port" master br0 &&
    ip -n "$sw" link set "$port" up
}

# netns_limit NS DEV RATE_MBIT BURST LATENCY — a token bucket (tbf) as the root qdisc of DEV in NS:
# what leaves through DEV is held to RATE_MBIT Mbit/s (10^6 bit/s).
netns_limit() {
  ip netns exec "$1" tc qdisc replace dev "$2" root tbf rate "${3}mbit" burst "$4" latency "$5"
}

# netns_bytes NS [DEV] — "RX TX": the bytes DEV (default eth0) received and sent, per the kernel's
# counters in NS.
netns_bytes() {
  local d=/sys/class/net/${2:-eth0}/statistics
  ip netns exec "$1" sh -c "echo \$(cat $d/rx_bytes) \$(cat $d/tx_bytes)"
}

# netns_delete_all — delete every namespace made here, the most recent first. Processes still in
# one keep it alive until they exit; stop them first.
netns_delete_all() {
  local i
  for ((i = ${#netns_made[@]} - 1; i >= 0; i--)); do
    ip netns del "${netns_made[i]}" 2>/dev/null || true
  done
  netns_made=()
}
