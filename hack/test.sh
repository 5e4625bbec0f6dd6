#!/usr/bin/env bash
# make test: every check and every test, ordered so that a cold run is
# short. The binaries the end-to-end suite needs are built first (in two
# lanes: a build links on one core), and the suite (real Prometheus and
# Alertmanager, minutes of waiting for alerts, little CPU) starts at once;
# gofmt, golangci-lint (go vet's checks among its own), the other binaries
# and the unit and integration tests under the race detector run beside
# it. Each step prints its time, and a table of them ends the run.
#
# What the tests need besides Go is installed from Debian packages (as
# root) when missing, or this fails saying so; no test is skipped for want
# of it: a C compiler for the race detector, and ip and nft for the nodes
# that run a real kube-proxy in network namespaces.
set -euo pipefail
GO=${GO:-go}
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# need COMMAND PACKAGE WHY: install PACKAGE unless COMMAND is there.
need() {
	command -v "$1" >/dev/null 2>&1 && return
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "$3 needs $1: installing $2"
		if [ -z "${apt_updated:-}" ]; then
			apt-get update -qq || { echo "apt-get update failed" >&2; exit 1; }
			apt_updated=1
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null || { echo "installing $2 failed" >&2; exit 1; }
	else
		echo "$3 needs $1 (Debian package $2), and installing it needs root and apt-get" >&2
		exit 1
	fi
}

steps=() # one line per step: name, seconds, outcome
failed=0
# record NAME START RC: note a step's time and outcome.
record() {
	local outcome=ok
	[ "$3" = 0 ] || { outcome=FAILED; failed=1; }
	steps+=("$(printf '  %-52s %6ss  %s' "$1" "$((SECONDS - $2))" "$outcome")")
	echo "test.sh: $1: $((SECONDS - $2))s, $outcome"
}
# step NAME COMMAND...: run a step, timed; a failure fails the run at the
# end, not at once, so that one run says everything that is wrong.
step() {
	local name=$1 start=$SECONDS rc=0
	shift
	echo "test.sh: $name ..."
	"$@" || rc=$?
	record "$name" "$start" "$rc"
}
summary() {
	echo "test.sh: steps (the end-to-end suite ran beside the steps after it):"
	printf '%s\n' "${steps[@]}"
	echo "test.sh: $((SECONDS - begin))s in all"
}

begin=$SECONDS
packages_start=$SECONDS
read -r cc _ <<<"$("$GO" env CC)" # CC may carry a wrapper or flags: "ccache gcc"
need "$cc" gcc "the race detector"
need ip iproute2 "kube-proxy in network namespaces"
need nft nftables "kube-proxy in network namespaces"
record "Debian packages (gcc, iproute2, nftables)" "$packages_start" 0

# Lane one: the Kubernetes binaries and etcd; lane two: the rest. Each
# lane builds in order, so that binaries of one module share their build.
# Beside them the suite's own test binary and the exporter are compiled,
# so that the suite starts at once when they are done.
lanes() {
	local rc=0 one two
	bash hack/build-bins.sh etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy &
	one=$!
	bash hack/build-bins.sh coredns prometheus alertmanager kwok &
	two=$!
	"$GO" test -c -o /dev/null ./e2e && "$GO" build -o /dev/null ./cmd/kube-triage-exporter || rc=1
	wait "$one" || rc=1
	wait "$two" || rc=1
	return "$rc"
}
step "binaries for the end-to-end suite, and the suite's build" lanes
if [ "$failed" != 0 ]; then
	summary
	exit 1
fi

# While the tests run, the test clusters' Service and pod ranges lead
# nowhere from the host's network namespace: an exporter or test that
# dialled a ClusterIP or pod IP there by mistake would otherwise send it out
# of the machine by the default route. (The test helpers also refuse to
# start such an exporter on the host: testenv.HostUnsafe.) The ranges are
# localcluster's serviceCIDR and podCIDR and nodenet's network; a test
# checks that this list names them.
guarded_ranges=(10.96.0.0/16 10.244.0.0/16 10.250.0.0/24)
blackholes=()
if [ "$(id -u)" = 0 ]; then
	for r in "${guarded_ranges[@]}"; do
		if ip route add blackhole "$r" 2>/dev/null; then
			blackholes+=("$r")
		fi
	done
	echo "test.sh: blackhole routes in the host's network namespace while the tests run: ${blackholes[*]:-none added (routes exist already)}"
	export KUBE_TRIAGE_BLACKHOLES="${blackholes[*]}"
else
	echo "test.sh: not root: no blackhole routes for ${guarded_ranges[*]} (the test helpers' check remains)"
fi
unguard() {
	for r in "${blackholes[@]}"; do
		ip route del blackhole "$r" 2>/dev/null || true
	done
}

packages=$("$GO" list ./... | grep -v '/e2e$')
e2e_start=$SECONDS
# In a process group of its own, so that stopping it reaches the test
# binary under go test, and its Prometheus, Alertmanager and exporters.
setsid "$GO" test -count=1 -timeout 45m ./e2e &
e2e=$!
stop_e2e() { kill -TERM -- "-$e2e" 2>/dev/null || true; wait "$e2e" 2>/dev/null || true; }
# Stopped (CI cancelled, Ctrl-C), or ended early by an error: the suite
# does not outlive the run.
trap 'stop_e2e; unguard; exit 130' INT TERM HUP
trap 'stop_e2e; unguard' EXIT

make=${MAKE:-make}
step "gofmt" "$make" --no-print-directory -s fmt
# go vet's checks run in golangci-lint (its govet); only the build-tagged
# package is vetted for macOS apart.
step "go vet for macOS (internal/testbed/childproc)" env GOOS=darwin "$GO" vet ./internal/testbed/childproc
step "golangci-lint (govet, staticcheck, promlinter...)" "$make" --no-print-directory -s golangci GO="$GO"
step "the other binaries (kubectl, promtool)" bash hack/build-bins.sh kubectl promtool
step "unit and integration tests (-race)" env CGO_ENABLED=1 "$GO" test -count=1 -race -timeout 45m $packages
rc=0
wait "$e2e" || rc=$?
unguard
trap - EXIT
record "end-to-end suite (beside the steps above)" "$e2e_start" "$rc"
summary
exit "$failed"
