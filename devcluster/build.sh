#!/usr/bin/env bash
# Builds the local control plane's and the real node's binaries from the Go module proxy,
# once per version.
# Binaries land in $JOBWARDEN_CACHE/bin/<component>-<version>/ (outside the repository);
# a component whose binary is already there is skipped, so only the first run pays.
# It says what it builds, step N of M, what that usually takes, and how long it has been
# at it (a line at least every 10 s), so a slow first run never looks hung.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
# shellcheck source=progress.sh
source "$here/progress.sh"
cache="${JOBWARDEN_CACHE:-$HOME/.cache/jobwarden}"
logs="$cache/logs"
mkdir -p "$cache/bin" "$logs"

die() { echo "devcluster build: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH: install Go >= 1.25 (https://go.dev/doc/install) and retry"

k8s_minor="${KUBERNETES_VERSION#v}"; k8s_minor="${k8s_minor#*.}"; k8s_minor="${k8s_minor%%.*}"
grep -q "require k8s.io/kubernetes $KUBERNETES_VERSION" "$here/gomod/kubernetes/go.mod" \
  || die "gomod/kubernetes/go.mod does not require k8s.io/kubernetes $KUBERNETES_VERSION (versions.env): update both together"

# The plan: `plan NAME "WHAT IT IS" "HOW LONG IT USUALLY TAKES" FILE...` counts NAME as a
# step to build when one of its FILEs is missing; `planned NAME` then says whether it is.
# A block below that builds without a plan line still works: it adds itself to the count.
steps=()
declare -A what expect
plan() {
  local name="$1" description="$2" usually="$3" file; shift 3
  what[$name]="$description"; expect[$name]="$usually"
  for file in "$@"; do
    if [[ ! -x "$file" ]]; then steps+=("$name"); return 0; fi
  done
}
planned() { local step; for step in "${steps[@]}"; do [[ $step == "$1" ]] && return 0; done; return 1; }
step=0
build_start=$SECONDS

# run_build NAME OUTDIR MODULE_DIR GO_ARGS... : builds in a scratch copy of the module so
# go.sum updates never dirty the repository; logs to $logs/build-NAME.log; says step N
# of M and, while go runs, the elapsed time.
run_build() {
  local name="$1" out="$2" moddir="$3"; shift 3
  local log="$logs/build-$name.log" work
  step=$((step + 1))
  ((step <= ${#steps[@]})) || steps+=("$name")
  local of="($step/${#steps[@]})" usually="${expect[$name]:-}"
  work="$(mktemp -d)"
  cp -r "$moddir"/. "$work"/
  echo "devcluster build: building $name $of${what[$name]:+: ${what[$name]}}${usually:+; usually $usually}"
  echo "devcluster build:   from the Go module proxy into $out (log: $log)"
  local start=$SECONDS
  # go's output goes to the log; the ticker's lines to the terminal.
  if ! with_ticker "devcluster build: building $name $of${usually:+, usually $usually}" \
    bash -c 'cd "$1" && exec >"$2" 2>&1 && shift 2 && GOFLAGS=-mod=mod CGO_ENABLED=0 exec go "$@"' \
    _ "$work" "$log" "$@"; then
    tail -n 30 "$log" >&2
    rm -rf "$work" "$out.tmp"
    die "building $name failed: command 'go $*' in a copy of $moddir; full log: $log"
  fi
  rm -rf "$work"
  echo "devcluster build: $name done in $(format_elapsed $((SECONDS - start))) $of"
}

k8s_out="$cache/bin/kubernetes-$KUBERNETES_VERSION"
etcd_out="$cache/bin/etcd-$ETCD_VERSION"
kwok_out="$cache/bin/kwok-$KWOK_VERSION"
helm_out="$cache/bin/helm-$HELM_VERSION"
# Keyed by our wrapper's source too: an edit of main.go rebuilds it.
kstatus_hash="$(cat "$here/gomod/kstatus/main.go" "$here/gomod/kstatus/go.mod" | sha256sum | cut -c1-8)"
kstatus_out="$cache/bin/kstatus-$FLUX_CLI_UTILS_VERSION-$kstatus_hash"

plan kubernetes "kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $KUBERNETES_VERSION" \
  "4–6 min on 2 cores (the longest step)" \
  "$k8s_out/kube-apiserver" "$k8s_out/kube-controller-manager" "$k8s_out/kube-scheduler" "$k8s_out/kubectl"
plan etcd "etcd $ETCD_VERSION" "1–2 min" "$etcd_out/etcd"
plan kwok "kwok $KWOK_VERSION (simulated nodes)" "1–4 min" "$kwok_out/kwok"
plan helm "helm $HELM_VERSION (the chart's tests)" "1–3 min" "$helm_out/helm"
plan kstatus "Flux's kstatus $FLUX_CLI_UTILS_VERSION (the GitOps tests)" "under a minute" "$kstatus_out/kstatus"
kubelet_out="$cache/bin/kubelet-$KUBERNETES_VERSION"
containerd_out="$cache/bin/containerd-$CONTAINERD_VERSION"
pause_hash="$(cat "$here/gomod/pause/main.go" "$here/gomod/pause/go.mod" | sha256sum | cut -c1-8)"
pause_out="$cache/bin/pause-$pause_hash"
plan kubelet "kubelet $KUBERNETES_VERSION (the real node)" "about a minute after kubernetes" \
  "$kubelet_out/kubelet"
plan containerd "containerd $CONTAINERD_VERSION with its runc shim and ctr (the real node)" \
  "3–5 min" "$containerd_out/containerd" "$containerd_out/containerd-shim-runc-v2" "$containerd_out/ctr"
plan pause "the real node's sandbox program" "seconds" "$pause_out/pause"
krew_out="$cache/bin/krew-$KREW_VERSION"
plan krew "krew $KREW_VERSION and its validate-krew-manifest (the krew manifest's tests)" \
  "about a minute" "$krew_out/krew" "$krew_out/validate-krew-manifest"

if ((${#steps[@]} > 0)); then
  echo "devcluster build: ${#steps[@]} component(s) to build from source with $(go env GOVERSION) (first run only; cached in $cache/bin): ${steps[*]}"
  if planned kubernetes; then
    echo "devcluster build: all of it usually takes 12–15 min on 2 cores (longer on a busy machine); a progress line comes at least every ${JOBWARDEN_TICK_SECONDS:-10} s"
  fi
fi

if planned kubernetes; then
  pkg=k8s.io/component-base/version
  ldflags="-s -w -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor -X $pkg.gitTreeState=clean"
  mkdir -p "$k8s_out.tmp"
  run_build kubernetes "$k8s_out" "$here/gomod/kubernetes" build -trimpath -ldflags "$ldflags" -o "$k8s_out.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
  rm -rf "$k8s_out"; mv "$k8s_out.tmp" "$k8s_out"
fi

# The real node (devcluster/devcluster/realnode.py): the kubelet, from the same wrapper
# module as the control plane, and containerd with its runc shim and ctr. Debian's runc
# is the OCI runtime (system-deps.sh).
if planned kubelet; then
  pkg=k8s.io/component-base/version
  ldflags="-s -w -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor -X $pkg.gitTreeState=clean"
  mkdir -p "$kubelet_out.tmp"
  run_build kubelet "$kubelet_out" "$here/gomod/kubernetes" build -trimpath -ldflags "$ldflags" -o "$kubelet_out.tmp/" \
    k8s.io/kubernetes/cmd/kubelet
  rm -rf "$kubelet_out"; mv "$kubelet_out.tmp" "$kubelet_out"
fi

if planned containerd; then
  mkdir -p "$containerd_out.tmp"
  # No replace directives: `go install module@version` works. btrfs and devmapper need
  # cgo headers; the node uses the overlayfs snapshotter.
  cmd=github.com/containerd/containerd/v2/cmd
  GOBIN="$containerd_out.tmp" run_build containerd "$containerd_out" "$here/gomod/etcd" install -trimpath -tags no_btrfs,no_devmapper \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
    "$cmd/containerd@$CONTAINERD_VERSION" "$cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" "$cmd/ctr@$CONTAINERD_VERSION"
  rm -rf "$containerd_out"; mv "$containerd_out.tmp" "$containerd_out"
fi

if planned pause; then
  mkdir -p "$pause_out.tmp"
  run_build pause "$pause_out" "$here/gomod/pause" build -trimpath -ldflags "-s -w" -o "$pause_out.tmp/pause" .
  rm -rf "$pause_out"; mv "$pause_out.tmp" "$pause_out"
fi

if planned etcd; then
  grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" "$here/gomod/etcd/go.mod" \
    || die "gomod/etcd/go.mod does not require etcd $ETCD_VERSION (versions.env): update both together"
  mkdir -p "$etcd_out.tmp"
  run_build etcd "$etcd_out" "$here/gomod/etcd" build -trimpath -ldflags "-s -w" -o "$etcd_out.tmp/etcd" .
  rm -rf "$etcd_out"; mv "$etcd_out.tmp" "$etcd_out"
fi

if planned kwok; then
  mkdir -p "$kwok_out.tmp"
  # kwok has no replace directives, so a plain `go install module@version` works.
  GOBIN="$kwok_out.tmp" run_build kwok "$kwok_out" "$here/gomod/etcd" install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  rm -rf "$kwok_out"; mv "$kwok_out.tmp" "$kwok_out"
fi

if planned helm; then
  mkdir -p "$helm_out.tmp"
  # helm has no replace directives either: `go install module@version` works.
  GOBIN="$helm_out.tmp" run_build helm "$helm_out" "$here/gomod/etcd" install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  rm -rf "$helm_out"; mv "$helm_out.tmp" "$helm_out"
fi

if planned kstatus; then
  grep -q "github.com/fluxcd/cli-utils $FLUX_CLI_UTILS_VERSION" "$here/gomod/kstatus/go.mod" \
    || die "gomod/kstatus/go.mod does not require cli-utils $FLUX_CLI_UTILS_VERSION (versions.env)"
  mkdir -p "$kstatus_out.tmp"
  run_build kstatus "$kstatus_out" "$here/gomod/kstatus" build -trimpath -ldflags "-s -w" -o "$kstatus_out.tmp/kstatus" .
  rm -rf "$kstatus_out"; mv "$kstatus_out.tmp" "$kstatus_out"
fi

# krew's validate-krew-manifest and krew (tests/integration/test_krew.py); krew has no
# replace directives: `go install module@version` works.
if planned krew; then
  mkdir -p "$krew_out.tmp"
  GOBIN="$krew_out.tmp" run_build krew "$krew_out" "$here/gomod/etcd" install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/krew/cmd/krew@$KREW_VERSION" "sigs.k8s.io/krew/cmd/validate-krew-manifest@$KREW_VERSION"
  rm -rf "$krew_out"; mv "$krew_out.tmp" "$krew_out"
fi

if ((step > 0)); then
  echo "devcluster build: $step component(s) built in $(format_elapsed $((SECONDS - build_start))); binaries ready under $cache/bin"
else
  echo "devcluster build: binaries ready under $cache/bin (all cached)"
fi
