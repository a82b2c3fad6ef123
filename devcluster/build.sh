#!/usr/bin/env bash
# Builds the local control plane's and the real node's binaries from the Go module proxy, once per version.
# Binaries land in $JOBWARDEN_CACHE/bin/<component>-<version>/ (outside the repository);
# a component whose binary is already there is skipped, so only the first run pays.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${JOBWARDEN_CACHE:-$HOME/.cache/jobwarden}"
logs="$cache/logs"
mkdir -p "$cache/bin" "$logs"

die() { echo "devcluster build: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH: install Go >= 1.25 (https://go.dev/doc/install) and retry"

k8s_minor="${KUBERNETES_VERSION#v}"; k8s_minor="${k8s_minor#*.}"; k8s_minor="${k8s_minor%%.*}"
grep -q "require k8s.io/kubernetes $KUBERNETES_VERSION" "$here/gomod/kubernetes/go.mod" \
  || die "gomod/kubernetes/go.mod does not require k8s.io/kubernetes $KUBERNETES_VERSION (versions.env): update both together"

# run_build NAME OUTDIR MODULE_DIR GO_ARGS... : builds in a scratch copy of the module so
# go.sum updates never dirty the repository; logs to $logs/build-NAME.log.
run_build() {
  local name="$1" out="$2" moddir="$3"; shift 3
  local log="$logs/build-$name.log" work
  work="$(mktemp -d)"
  cp -r "$moddir"/. "$work"/
  echo "devcluster build: $name -> $out (log: $log)"
  local start=$SECONDS
  if ! (cd "$work" && GOFLAGS=-mod=mod CGO_ENABLED=0 go "$@") >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -rf "$work" "$out.tmp"
    die "building $name failed: command 'go $*' in a copy of $moddir; full log: $log"
  fi
  rm -rf "$work"
  echo "devcluster build: $name done in $((SECONDS - start)) s"
}

k8s_out="$cache/bin/kubernetes-$KUBERNETES_VERSION"
if [[ ! -x "$k8s_out/kube-apiserver" || ! -x "$k8s_out/kube-controller-manager" || ! -x "$k8s_out/kube-scheduler" || ! -x "$k8s_out/kubectl" ]]; then
  pkg=k8s.io/component-base/version
  ldflags="-s -w -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor -X $pkg.gitTreeState=clean"
  mkdir -p "$k8s_out.tmp"
  run_build kubernetes "$k8s_out" "$here/gomod/kubernetes" build -trimpath -ldflags "$ldflags" -o "$k8s_out.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
  rm -rf "$k8s_out"; mv "$k8s_out.tmp" "$k8s_out"
fi

etcd_out="$cache/bin/etcd-$ETCD_VERSION"
if [[ ! -x "$etcd_out/etcd" ]]; then
  grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" "$here/gomod/etcd/go.mod" \
    || die "gomod/etcd/go.mod does not require etcd $ETCD_VERSION (versions.env): update both together"
  mkdir -p "$etcd_out.tmp"
  run_build etcd "$etcd_out" "$here/gomod/etcd" build -trimpath -ldflags "-s -w" -o "$etcd_out.tmp/etcd" .
  rm -rf "$etcd_out"; mv "$etcd_out.tmp" "$etcd_out"
fi

kwok_out="$cache/bin/kwok-$KWOK_VERSION"
if [[ ! -x "$kwok_out/kwok" ]]; then
  mkdir -p "$kwok_out.tmp"
  # kwok has no replace directives, so a plain `go install module@version` works.
  GOBIN="$kwok_out.tmp" run_build kwok "$kwok_out" "$here/gomod/etcd" install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  rm -rf "$kwok_out"; mv "$kwok_out.tmp" "$kwok_out"
fi

helm_out="$cache/bin/helm-$HELM_VERSION"
if [[ ! -x "$helm_out/helm" ]]; then
  mkdir -p "$helm_out.tmp"
  # helm has no replace directives either: `go install module@version` works.
  GOBIN="$helm_out.tmp" run_build helm "$helm_out" "$here/gomod/etcd" install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  rm -rf "$helm_out"; mv "$helm_out.tmp" "$helm_out"
fi

# The real node (devcluster/devcluster/realnode.py): the kubelet, from the same wrapper
# module as the control plane, and containerd with its runc shim and ctr. Debian's runc
# is the OCI runtime (system-deps.sh).
kubelet_out="$cache/bin/kubelet-$KUBERNETES_VERSION"
if [[ ! -x "$kubelet_out/kubelet" ]]; then
  pkg=k8s.io/component-base/version
  ldflags="-s -w -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor -X $pkg.gitTreeState=clean"
  mkdir -p "$kubelet_out.tmp"
  run_build kubelet "$kubelet_out" "$here/gomod/kubernetes" build -trimpath -ldflags "$ldflags" -o "$kubelet_out.tmp/" \
    k8s.io/kubernetes/cmd/kubelet
  rm -rf "$kubelet_out"; mv "$kubelet_out.tmp" "$kubelet_out"
fi

containerd_out="$cache/bin/containerd-$CONTAINERD_VERSION"
if [[ ! -x "$containerd_out/containerd" || ! -x "$containerd_out/containerd-shim-runc-v2" || ! -x "$containerd_out/ctr" ]]; then
  mkdir -p "$containerd_out.tmp"
  # No replace directives: `go install module@version` works. btrfs and devmapper need
  # cgo headers; the node uses the overlayfs snapshotter.
  cmd=github.com/containerd/containerd/v2/cmd
  GOBIN="$containerd_out.tmp" run_build containerd "$containerd_out" "$here/gomod/etcd" install -trimpath -tags no_btrfs,no_devmapper \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
    "$cmd/containerd@$CONTAINERD_VERSION" "$cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" "$cmd/ctr@$CONTAINERD_VERSION"
  rm -rf "$containerd_out"; mv "$containerd_out.tmp" "$containerd_out"
fi

pause_hash="$(cat "$here/gomod/pause/main.go" "$here/gomod/pause/go.mod" | sha256sum | cut -c1-8)"
pause_out="$cache/bin/pause-$pause_hash"
if [[ ! -x "$pause_out/pause" ]]; then
  mkdir -p "$pause_out.tmp"
  run_build pause "$pause_out" "$here/gomod/pause" build -trimpath -ldflags "-s -w" -o "$pause_out.tmp/pause" .
  rm -rf "$pause_out"; mv "$pause_out.tmp" "$pause_out"
fi

# Keyed by our wrapper's source too: an edit of main.go rebuilds it.
kstatus_hash="$(cat "$here/gomod/kstatus/main.go" "$here/gomod/kstatus/go.mod" | sha256sum | cut -c1-8)"
kstatus_out="$cache/bin/kstatus-$FLUX_CLI_UTILS_VERSION-$kstatus_hash"
if [[ ! -x "$kstatus_out/kstatus" ]]; then
  grep -q "github.com/fluxcd/cli-utils $FLUX_CLI_UTILS_VERSION" "$here/gomod/kstatus/go.mod" \
    || die "gomod/kstatus/go.mod does not require cli-utils $FLUX_CLI_UTILS_VERSION (versions.env)"
  mkdir -p "$kstatus_out.tmp"
  run_build kstatus "$kstatus_out" "$here/gomod/kstatus" build -trimpath -ldflags "-s -w" -o "$kstatus_out.tmp/kstatus" .
  rm -rf "$kstatus_out"; mv "$kstatus_out.tmp" "$kstatus_out"
fi

echo "devcluster build: binaries ready under $cache/bin"
