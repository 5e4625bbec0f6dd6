#!/usr/bin/env bash
# make test's go test step: the unit and integration tests under the race
# detector, the end-to-end suite (real Prometheus and Alertmanager; minutes
# of waiting for alerts, little CPU) beside them without it.
#
# What the tests need besides Go is installed from Debian packages (as
# root) when missing, or this fails saying so; no test is skipped for want
# of it: a C compiler for the race detector, and ip and nft for the nodes
# that run a real kube-proxy in network namespaces.
set -euo pipefail
GO=${GO:-go}

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

read -r cc _ <<<"$("$GO" env CC)" # CC may carry a wrapper or flags: "ccache gcc"
need "$cc" gcc "the race detector"
need ip iproute2 "kube-proxy in network namespaces"
need nft nftables "kube-proxy in network namespaces"

packages=$("$GO" list ./... | grep -v '/e2e$')
"$GO" test -count=1 -timeout 45m ./e2e &
e2e=$!
# Stopped (CI cancelled, Ctrl-C): stop the suite in the background too,
# and its Prometheus, Alertmanager and exporters with it.
trap 'kill "$e2e" 2>/dev/null; wait "$e2e" 2>/dev/null; exit 130' INT TERM HUP
rc=0
CGO_ENABLED=1 "$GO" test -count=1 -race -timeout 45m $packages || rc=1
wait "$e2e" || rc=1
exit "$rc"
