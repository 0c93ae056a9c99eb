#!/usr/bin/env bash
# Stops the local cluster that deploy/local/cluster-up.sh started: exactly
# the processes whose pid files are in the run directory's pids/ (routers
# first, then nodes, then the chaos proxy), each with SIGTERM, then SIGKILL
# if it is still running after a grace period. A pid file whose process is
# gone, or is no longer bin/cellpay (the pid was reused), is removed without
# signalling anything. Data and logs stay in the run directory.
#
#   deploy/local/cluster-down.sh
#
# Environment: CELLPAY_CLUSTER_DIR (default bin/cluster), as for cluster-up.
# Exit codes: 0 nothing of the cluster runs any more, 1 a process survived
# SIGKILL.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
run=${CELLPAY_CLUSTER_DIR:-$repo/bin/cluster}
bin=$repo/bin/cellpay
grace_s=${CELLPAY_CLUSTER_GRACE:-15}

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
	sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 0
fi
if ! compgen -G "$run/pids/*.pid" >/dev/null; then
	echo "cluster-down: no pid files in $run/pids: nothing to stop"
	exit 0
fi

# ours PID: the process runs and was started as bin/cellpay (argv[0]).
ours() {
	local argv0
	[[ -r /proc/$1/cmdline ]] || return 1
	argv0=$(tr '\0' '\n' <"/proc/$1/cmdline" | head -n 1)
	[[ $argv0 == "$bin" ]]
}

# gone PID: the process no longer runs (a zombie counts as gone).
gone() {
	[[ ! -e /proc/$1 ]] || [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]
}

status=0
for pattern in 'router-*' 'node-*' 'proxy' '*'; do
	pids=() files=()
	for f in "$run"/pids/$pattern.pid; do
		[[ -e $f ]] || continue
		pid=$(cat "$f")
		if [[ ! $pid =~ ^[0-9]+$ ]] || ! ours "$pid"; then
			echo "$(basename "$f" .pid): not running (stale pid file removed)"
			rm -f "$f"
			continue
		fi
		kill -TERM "$pid" 2>/dev/null || true
		pids+=("$pid") files+=("$f")
	done
	((${#pids[@]} > 0)) || continue
	deadline=$((SECONDS + grace_s))
	for i in "${!pids[@]}"; do
		pid=${pids[$i]} name=$(basename "${files[$i]}" .pid)
		while ! gone "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
		if ! gone "$pid"; then
			echo "$name (pid $pid) still runs after ${grace_s}s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			for _ in $(seq 50); do
				gone "$pid" && break
				sleep 0.1
			done
		fi
		if gone "$pid"; then
			echo "$name (pid $pid) stopped"
			rm -f "${files[$i]}"
		else
			echo "$name (pid $pid) survived SIGKILL" >&2
			status=1
		fi
	done
done
exit $status
