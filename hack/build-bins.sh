#!/usr/bin/env bash
# Builds (once) and caches the real binaries of a local Kubernetes control plane,
# plus promtool, into <repo>/.cache/bin/. Used by tests and `make demo`.
#
# Usage: hack/build-bins.sh [-f|--force] [--list] [NAME...]
#   NAME    one or more of the names printed by --list (default: all of them)
#   -f      rebuild even if the cached binary matches its pin
#
# Versions are pinned in tools/versions.env and, authoritatively, in the wrapper
# modules' go.mod/go.sum (tools/kube, tools/etcd, tools/coredns, tools/kwok and
# tools/go.mod for promtool and prometheus, tools/alertmanager). A binary is rebuilt only when its stamp (version,
# hash of its wrapper go.mod+go.sum, Go version, build flags) changes.
#
# Environment: BIN_DIR (default <repo>/.cache/bin), FORCE=1 (same as -f).
# Needs only Go (and the module proxy, or a warm module cache).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${ROOT}/tools"
BIN_DIR="${BIN_DIR:-${ROOT}/.cache/bin}"
STAMP_DIR="${BIN_DIR}/.stamps"
FORCE="${FORCE:-0}"

# shellcheck source=tools/versions.env disable=SC1091
source "${TOOLS}/versions.env"

# Default build order: kube binaries next to each other so they share the build cache
# (kube-proxy adds ~15s once kube-apiserver is built).
DEFAULT_NAMES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kube-proxy coredns kwok promtool prometheus alertmanager)

# prometheus module v0.MMM.P is Prometheus M.MM.P (v0.316.0 -> 3.16.0).
prom_release() {
  local v="${1#v0.}" mm patch
  mm="${v%%.*}"
  patch="${v#*.}"
  echo "${mm:0:1}.$((10#${mm:1})).${patch}"
}

KUBE_MINOR="${KUBERNETES_VERSION#v1.}"
KUBE_MINOR="${KUBE_MINOR%%.*}"
KUBE_LDFLAGS=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  KUBE_LDFLAGS+=" -X ${pkg}.gitVersion=${KUBERNETES_VERSION}"
  KUBE_LDFLAGS+=" -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${KUBE_MINOR}"
  KUBE_LDFLAGS+=" -X ${pkg}.gitTreeState=clean"
done
KUBE_LDFLAGS="${KUBE_LDFLAGS# }"

# Sets WRAPPER (module dir), PKG (main package), VERSION, LDFLAGS, VERSION_MOD
# (module path whose required version must equal VERSION) for a binary name.
describe() {
  LDFLAGS="-s -w"
  case "$1" in
    etcd)
      WRAPPER="${TOOLS}/etcd" PKG="go.etcd.io/etcd/server/v3" VERSION="${ETCD_VERSION}"
      VERSION_MOD="go.etcd.io/etcd/server/v3" ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl | kube-proxy)
      WRAPPER="${TOOLS}/kube" PKG="k8s.io/kubernetes/cmd/$1" VERSION="${KUBERNETES_VERSION}"
      VERSION_MOD="k8s.io/kubernetes" LDFLAGS+=" ${KUBE_LDFLAGS}" ;;
    coredns)
      WRAPPER="${TOOLS}/coredns" PKG="github.com/coredns/coredns" VERSION="${COREDNS_VERSION}"
      VERSION_MOD="github.com/coredns/coredns" ;;
    kwok)
      WRAPPER="${TOOLS}/kwok" PKG="sigs.k8s.io/kwok/cmd/kwok" VERSION="${KWOK_VERSION}"
      VERSION_MOD="sigs.k8s.io/kwok" ;;
    promtool)
      WRAPPER="${TOOLS}" PKG="github.com/prometheus/prometheus/cmd/promtool" VERSION="${PROMETHEUS_VERSION}"
      VERSION_MOD="github.com/prometheus/prometheus"
      LDFLAGS+=" -X github.com/prometheus/common/version.Version=$(prom_release "${PROMETHEUS_VERSION}")"
      LDFLAGS+=" -X github.com/prometheus/common/version.Branch=HEAD" ;;
    prometheus)
      # No -tags builtinassets: the API works without the web UI, which
      # would need npm.
      WRAPPER="${TOOLS}" PKG="github.com/prometheus/prometheus/cmd/prometheus" VERSION="${PROMETHEUS_VERSION}"
      VERSION_MOD="github.com/prometheus/prometheus"
      LDFLAGS+=" -X github.com/prometheus/common/version.Version=$(prom_release "${PROMETHEUS_VERSION}")"
      LDFLAGS+=" -X github.com/prometheus/common/version.Branch=HEAD" ;;
    alertmanager)
      WRAPPER="${TOOLS}/alertmanager" PKG="github.com/prometheus/alertmanager/cmd/alertmanager" VERSION="${ALERTMANAGER_VERSION}"
      VERSION_MOD="github.com/prometheus/alertmanager"
      LDFLAGS+=" -X github.com/prometheus/common/version.Version=${ALERTMANAGER_VERSION#v}" ;;
    kube-state-metrics)
      # make bench's comparison only: not in DEFAULT_NAMES.
      WRAPPER="${TOOLS}/kube-state-metrics" PKG="k8s.io/kube-state-metrics/v2" VERSION="${KUBE_STATE_METRICS_VERSION}"
      VERSION_MOD="k8s.io/kube-state-metrics/v2" ;;
    *) return 1 ;;
  esac
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum | cut -d' ' -f1
  else shasum -a 256 | cut -d' ' -f1; fi
}

now() {
  if [[ -n "${EPOCHREALTIME:-}" ]]; then echo "${EPOCHREALTIME/,/.}"; else date +%s; fi
}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

names=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -f | --force) FORCE=1 ;;
    -h | --help) usage; exit 0 ;;
    --list) printf '%s\n' "${DEFAULT_NAMES[@]}"; exit 0 ;;
    -*) echo "build-bins: unknown flag $1" >&2; usage >&2; exit 2 ;;
    *) names+=("$1") ;;
  esac
  shift
done
[[ ${#names[@]} -gt 0 ]] || names=("${DEFAULT_NAMES[@]}")

for n in "${names[@]}"; do
  if ! describe "$n"; then
    echo "build-bins: unknown binary '$n' (known: ${DEFAULT_NAMES[*]})" >&2
    exit 2
  fi
done

command -v go >/dev/null 2>&1 || { echo "build-bins: go not found in PATH" >&2; exit 1; }
GO_VERSION="$(GOWORK=off go env GOVERSION)"
GOOS_ARCH="$(go env GOOS)/$(go env GOARCH)"
mkdir -p "${BIN_DIR}" "${STAMP_DIR}"

# Never let a go.work at the repo root, or GOFLAGS like -mod=vendor, leak into
# the wrapper modules. -buildvcs=false: the packages are not in the main module.
export GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"

total_start="$(now)"
built=0 cached=0
for n in "${names[@]}"; do
  describe "$n"
  start="$(now)"
  # Guard against versions.env and the wrapper go.mod drifting apart.
  if ! have="$(go list -C "${WRAPPER}" -m -f '{{.Version}}' "${VERSION_MOD}" 2>&1)"; then
    echo "${have}" >&2
    echo "build-bins: ${n}: FAILED to load module ${WRAPPER#"${ROOT}/"} (try: cd ${WRAPPER#"${ROOT}/"} && go mod tidy)" >&2
    exit 1
  fi
  if [[ "${have}" != "${VERSION}" ]]; then
    echo "build-bins: ${n}: tools/versions.env pins ${VERSION} but ${WRAPPER#"${ROOT}/"}/go.mod has ${VERSION_MOD} '${have}'" >&2
    echo "build-bins: ${n}: FAILED (update the wrapper: cd ${WRAPPER#"${ROOT}/"} && go get ${VERSION_MOD}@${VERSION} && go mod tidy)" >&2
    exit 1
  fi
  stamp="$(
    printf 'name=%s\nversion=%s\npkg=%s\nmod=%s\ngo=%s %s\ncgo=0\nldflags=%s\n' \
      "$n" "${VERSION}" "${PKG}" \
      "$(cat "${WRAPPER}/go.mod" "${WRAPPER}/go.sum" 2>/dev/null | sha256)" \
      "${GO_VERSION}" "${GOOS_ARCH}" "${LDFLAGS}"
  )"
  stamp_file="${STAMP_DIR}/${n}.stamp"
  if [[ "${FORCE}" != 1 && -x "${BIN_DIR}/${n}" && -f "${stamp_file}" ]] &&
    [[ "$(cat "${stamp_file}")" == "${stamp}" ]]; then
    cached=$((cached + 1))
    printf '%-24s cached  %-9s %6ss\n' "$n" "${VERSION}" "$(elapsed "${start}" "$(now)")"
    continue
  fi
  printf '%-24s building %s (%s) ...\n' "$n" "${VERSION}" "${PKG}"
  tmp="${BIN_DIR}/.${n}.tmp"
  rm -f "${stamp_file}" "${tmp}"
  if ! CGO_ENABLED=0 go build -C "${WRAPPER}" -trimpath -ldflags "${LDFLAGS}" -o "${tmp}" "${PKG}"; then
    rm -f "${tmp}"
    echo "build-bins: ${n}: FAILED to build ${PKG}@${VERSION} (module ${WRAPPER#"${ROOT}/"})" >&2
    exit 1
  fi
  mv -f "${tmp}" "${BIN_DIR}/${n}"
  printf '%s\n' "${stamp}" >"${stamp_file}"
  built=$((built + 1))
  size="$(du -h "${BIN_DIR}/${n}" | cut -f1)"
  printf '%-24s built   %-9s %6ss  %s\n' "$n" "${VERSION}" "$(elapsed "${start}" "$(now)")" "${size}"
done
printf '%-24s %d built, %d cached  %6ss  -> %s\n' "total" "${built}" "${cached}" \
  "$(elapsed "${total_start}" "$(now)")" "${BIN_DIR}"
