#!/usr/bin/env bash
# make test's go test step: the unit and integration tests under the race
# detector, the end-to-end suite (real Prometheus and Alertmanager; minutes
# of waiting for alerts, little CPU) beside them without it.
#
# The race detector needs cgo and a C compiler: on a machine with only Go,
# gcc is installed from Debian packages first (as root), or this fails
# saying so; the tests are never run without it silently.
set -euo pipefail
GO=${GO:-go}

read -r cc _ <<<"$("$GO" env CC)" # CC may carry a wrapper or flags: "ccache gcc"
if ! command -v "$cc" >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "the race detector needs a C compiler: installing gcc"
		apt-get update -qq || { echo "apt-get update failed" >&2; exit 1; }
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc >/dev/null || { echo "installing gcc failed" >&2; exit 1; }
	else
		echo "the race detector needs a C compiler ($cc); install gcc" >&2
		exit 1
	fi
fi

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
