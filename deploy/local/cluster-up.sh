#!/usr/bin/env bash
# Starts the local multi-process cluster of deploy/topologies/local.yaml:
# the chaos proxy, 6 nodes (2 per site) and one router per site, each a
# separate `bin/cellpay` process on its site's loopback network (127.0.1.x
# hz-a, 127.0.2.x hz-b, 127.0.3.x sh-a). Every inter-site dial goes through
# the proxy (--via-proxy), so `bin/cellpay chaos cut|isolate|...` and
# `bin/cellpay chaos run --target` act on it. Gossip is direct for now.
# Every gRPC port speaks mutual TLS with certificates of a throwaway CA
# (certs/, made on the first run), routers serve HTTPS, and gossip is
# encrypted (gossip.key).
#
# Everything lives in the run directory (default bin/cluster, or
# $CELLPAY_CLUSTER_DIR): topology.yaml, proxy.json, operators and
# operator.token, certs/, gossip.key, data/NODE, logs/NAME.log, pids/NAME.pid. Stop it with
# deploy/local/cluster-down.sh (make cluster-stop), which stops exactly the
# processes of pids/.
#
#   deploy/local/cluster-up.sh [--keep-data]
#
# --keep-data restarts on the data of the previous run instead of wiping it.
# Exit codes: 0 up, 1 a process failed to start (everything is stopped
# again, the logs are kept), 2 bad arguments or already running.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
run=${CELLPAY_CLUSTER_DIR:-$repo/bin/cluster}
bin=$repo/bin/cellpay
env_name=local
keep_data=0
for arg in "$@"; do
	case $arg in
	--keep-data) keep_data=1 ;;
	-h | --help)
		sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "cluster-up: unknown argument $arg (want --keep-data)" >&2
		exit 2
		;;
	esac
done

# The cluster: node id, site, loopback address; router site, address.
nodes=(hz-a-1:hz-a:127.0.1.1 hz-a-2:hz-a:127.0.1.2 hz-b-1:hz-b:127.0.2.1 hz-b-2:hz-b:127.0.2.2 sh-a-1:sh-a:127.0.3.1 sh-a-2:sh-a:127.0.3.2)
routers=(hz-a:127.0.1.100 hz-b:127.0.2.100 sh-a:127.0.3.100)
seed=127.0.1.1:7500 # gossip: everyone joins hz-a-1
control=127.0.0.1:7400
base_port=17000
wait_s=${CELLPAY_CLUSTER_WAIT:-90}

if compgen -G "$run/pids/*.pid" >/dev/null; then
	echo "cluster-up: $run/pids holds pid files: the cluster runs (or was not stopped); run deploy/local/cluster-down.sh first" >&2
	exit 2
fi

echo "building $bin"
(cd "$repo" && go build -o "$bin" ./cmd/cellpay)

mkdir -p "$run"
if [[ $keep_data == 0 ]]; then
	rm -rf "$run/data" "$run/logs"
fi
mkdir -p "$run/data" "$run/logs" "$run/pids"
cp "$repo/deploy/topologies/local.yaml" "$run/topology.yaml"
"$bin" topology validate "$run/topology.yaml" --env "$env_name" >/dev/null

router_flags=()
for r in "${routers[@]}"; do
	router_flags+=(--router "${r%%:*}=${r#*:}:7300")
done
"$bin" chaos proxy-config --config "$run/topology.yaml" --env "$env_name" --base-port "$base_port" \
	--control "$control" "${router_flags[@]}" --out "$run/proxy.json"

# An operator for drills: the token stays in the run directory (mode 0600).
if [[ ! -s $run/operator.token ]]; then
	(umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$run/operator.token")
fi
printf 'local %s\n' "$(tr -d '\n' <"$run/operator.token" | sha256sum | cut -d' ' -f1)" >"$run/operators"

# The trust: a throwaway CA, a certificate per node and router (for its
# address), one for the operator and one for the workload's API client, and
# the gossip key. Kept across runs (--keep-data or not).
certs=$run/certs
if [[ ! -s $certs/ca.crt ]]; then
	rm -rf "$certs"
	"$bin" cert create-ca --certs-dir "$certs" >/dev/null
	for n in "${nodes[@]}"; do
		IFS=: read -r id _ ip <<<"$n"
		"$bin" cert create-node "$id" --config "$run/topology.yaml" --certs-dir "$certs" >/dev/null
	done
	for r in "${routers[@]}"; do
		"$bin" cert create-router "router-${r%%:*}" --host "${r#*:}" --certs-dir "$certs" >/dev/null
	done
	"$bin" cert create-operator local --certs-dir "$certs" >/dev/null
	"$bin" cert create-client local-client --certs-dir "$certs" >/dev/null
fi
if [[ ! -s $run/gossip.key ]]; then
	(umask 077 && head -c 32 /dev/urandom | base64 >"$run/gossip.key")
fi
export CELLPAY_CERTS_DIR=$certs CELLPAY_GOSSIP_KEY_FILE=$run/gossip.key

# start NAME ARGS...: runs bin/cellpay ARGS in the background, detached from
# this shell, logging to logs/NAME.log, its pid in pids/NAME.pid.
# setsid puts it in its own session, so a ^C here does not reach it; as
# this shell's background job is no process group leader, setsid execs in
# place and $! is the cellpay process itself.
start() {
	local name=$1
	shift
	if command -v setsid >/dev/null; then
		setsid "$bin" "$@" >>"$run/logs/$name.log" 2>&1 </dev/null &
	else
		nohup "$bin" "$@" >>"$run/logs/$name.log" 2>&1 </dev/null &
	fi
	echo $! >"$run/pids/$name.pid"
}

# fail MESSAGE: shows the logs' tails, stops what started, exits 1.
fail() {
	echo "cluster-up: $1" >&2
	for log in "$run"/logs/*.log; do
		echo "--- tail of $log" >&2
		tail -n 5 "$log" >&2 || true
	done
	"$repo/deploy/local/cluster-down.sh" >&2 || true
	exit 1
}

# alive NAME: the process of pids/NAME.pid still runs.
alive() { kill -0 "$(cat "$run/pids/$1.pid")" 2>/dev/null; }

start proxy chaos proxy --config "$run/proxy.json"
for _ in $(seq 50); do
	if "$bin" chaos status --control "$control" --timeout 1s >/dev/null 2>&1; then break; fi
	alive proxy || fail "the chaos proxy exited"
	sleep 0.2
done
"$bin" chaos status --control "$control" --timeout 1s >/dev/null 2>&1 || fail "the chaos proxy's control API at $control does not answer"

for n in "${nodes[@]}"; do
	IFS=: read -r id site ip <<<"$n"
	join=()
	[[ $ip:7500 != "$seed" ]] && join=(--join "$seed")
	start "node-$id" node --config "$run/topology.yaml" --env "$env_name" --node "$id" --data "$run/data/$id" \
		--gossip-addr "$ip:7500" "${join[@]}" --via-proxy "$run/proxy.json" --operators "$run/operators"
done
for r in "${routers[@]}"; do
	site=${r%%:*} ip=${r#*:}
	start "router-$site" router --config "$run/topology.yaml" --env "$env_name" --site "$site" --id "router-$site" \
		--listen "$ip:7300" --http "$ip:8300" --gossip-addr "$ip:7500" --join "$seed" --via-proxy "$run/proxy.json"
done

# Up when every process runs and a router sees a leader for every cell.
echo "waiting for every cell to have a leader (up to ${wait_s}s)"
cells=$(grep -c '^  - {id: [0-9]*, home:' "$run/topology.yaml")
deadline=$((SECONDS + wait_s))
while :; do
	for f in "$run"/pids/*.pid; do
		name=$(basename "$f" .pid)
		alive "$name" || fail "$name exited (see $run/logs/$name.log)"
	done
	led=$("$bin" status --router 127.0.1.100:7300 --timeout 2s -o json 2>/dev/null | grep -c '"leader_node_id": *"[^"]' || true)
	[[ $led -ge $cells ]] && break
	((SECONDS < deadline)) || fail "after ${wait_s}s only $led of $cells cells have a leader"
	sleep 1
done

cat <<EOF
cluster up: $(ls "$run"/pids | wc -l) processes, run directory $run
  first:      export CELLPAY_CERTS_DIR=$certs   (the tools' certificates; or --certs-dir)
  routers (gRPC / HTTPS): hz-a 127.0.1.100:7300 / :8300   hz-b 127.0.2.100:7300 / :8300   sh-a 127.0.3.100:7300 / :8300
  HTTPS:      curl --cacert $certs/ca.crt https://127.0.1.100:8300/v1/accounts/alice
  chaos proxy control:    $control
  status:     $bin status --router 127.0.1.100:7300
  chaos:      $bin chaos isolate hz-a; $bin chaos heal; $bin chaos status
  game day:   $bin chaos run --target $run --env $env_name --scenario fiber-cut
  drills:     $bin drill status --config $run/topology.yaml --token "\$(cat $run/operator.token)"
  stop:       deploy/local/cluster-down.sh (make cluster-stop)
EOF
