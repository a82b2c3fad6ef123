#!/usr/bin/env bash
# The jobwarden demo on the local cluster (`make demo` starts the cluster first).
# A quota of 2 workers, five runs queuing for it by priority, one run cancelled while
# it waits (no worker ever starts), one cancelled while it runs (SIGTERM, grace period,
# Cancelled), the rest succeeding.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export KUBECONFIG="${KUBECONFIG_LOCAL:-$PWD/.devcluster/kubeconfig}"
KUBECTL="$(.venv/bin/python -c 'from devcluster.binaries import Binaries; print(Binaries.locate().kubectl)')"
k() { "$KUBECTL" "$@"; }
NS=jobwarden-demo

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_phase() { # kind name phase [timeout]
  k -n "$NS" wait "$1/$2" --for=jsonpath='{.status.phase}'="$3" --timeout="${4:-90s}" >/dev/null
}

say "A fresh namespace with a WorkerQuota of 2 parallel workers"
k delete namespace "$NS" --ignore-not-found --wait=true >/dev/null
k create namespace "$NS" >/dev/null
k -n "$NS" apply -f - >/dev/null <<'YAML'
apiVersion: jobwarden.dev/v1alpha1
kind: WorkerQuota
metadata:
  name: default
spec:
  maxRunning: 2
YAML
# A quota applies once the operator has seen it: it then publishes its usage in status.
k -n "$NS" wait workerquota/default --for=jsonpath='{.status.observedGeneration}'=1 --timeout=30s >/dev/null
k -n "$NS" get workerquota

say "Five JobRuns: each worker (simulated by kwok) runs for 6 seconds"
for spec in "report-1 Medium" "report-2 Medium" "report-3 High" "report-4 Low" "report-5 Medium"; do
  set -- $spec
  k -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: jobwarden.dev/v1alpha1
kind: JobRun
metadata:
  name: $1
spec:
  priority: $2
  cancelGracePeriodSeconds: 10
  template:
    metadata:
      annotations:
        sim.jobwarden.dev/run-seconds: "6"
        sim.jobwarden.dev/sigterm-exit-seconds: "2"
    spec:
      containers:
        - name: report
          image: registry.example/reports:1.4
YAML
done
wait_phase jobrun report-1 Running
wait_phase jobrun report-2 Running
k -n "$NS" get jobruns -o wide

say "Cancel report-4 while it waits in the queue: it ends Cancelled, no pod is ever created"
k -n "$NS" patch jobrun report-4 --type merge -p '{"spec":{"cancel":true}}'
wait_phase jobrun report-4 Cancelled
k -n "$NS" get jobrun report-4 -o jsonpath='{range .status.log[*]}{.time}  {.message}{"\n"}{end}'

say "Cancel report-1 while it runs: SIGTERM, the worker exits within its grace period"
k -n "$NS" patch jobrun report-1 --type merge -p '{"spec":{"cancel":true}}'
wait_phase jobrun report-1 Cancelling 15s || true
k -n "$NS" get jobrun report-1
wait_phase jobrun report-1 Cancelled
k -n "$NS" get jobrun report-1 -o jsonpath='{.status.cancellation}{"\n"}'

say "The others run as slots free up (High before Medium before Low)"
for run in report-2 report-3 report-5; do wait_phase jobrun "$run" Succeeded 120s; done
k -n "$NS" get jobruns
k -n "$NS" get workerquota
k -n "$NS" get pods

say "Events"
k -n "$NS" get events --sort-by=.lastTimestamp -o custom-columns=TYPE:.type,REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.message

say "A ScheduledJob every minute (Europe/Berlin), and a manual run of it"
k -n "$NS" apply -f - >/dev/null <<'YAML'
apiVersion: jobwarden.dev/v1alpha1
kind: ScheduledJob
metadata:
  name: sync
spec:
  schedule: "* * * * *"
  timeZone: Europe/Berlin
  concurrencyPolicy: Allow
  template:
    metadata:
      annotations:
        sim.jobwarden.dev/run-seconds: "2"
    spec:
      containers:
        - name: sync
          image: registry.example/sync:2.0
YAML
k -n "$NS" wait scheduledjob/sync --for=jsonpath='{.status.phase}'=Active --timeout=30s >/dev/null
k -n "$NS" get scheduledjob sync -o wide
k -n "$NS" create -f - <<'YAML'
apiVersion: jobwarden.dev/v1alpha1
kind: JobRun
metadata:
  generateName: sync-manual-
spec:
  scheduledJobRef:
    name: sync
  trigger: Manual
YAML
echo "waiting for the next minute's fire (at most 60 s)..."
for _ in $(seq 1 150); do
  fired=$(k -n "$NS" get jobruns -l jobwarden.dev/scheduledjob=sync,jobwarden.dev/trigger=Schedule -o name | head -1)
  [ -n "$fired" ] && break
  sleep 0.5
done
k -n "$NS" wait "$fired" --for=jsonpath='{.status.phase}'=Succeeded --timeout=60s >/dev/null
k -n "$NS" get jobruns -l jobwarden.dev/scheduledjob=sync -o custom-columns=NAME:.metadata.name,TRIGGER:.spec.trigger,SCHEDULED:.spec.scheduledTime,CREATED:.metadata.creationTimestamp,PHASE:.status.phase
k -n "$NS" get jobruns -o custom-columns=NAME:.metadata.name,TRIGGER:.spec.trigger,PHASE:.status.phase | grep sync-manual || true

say "Pause and resume: no runs while suspended, history kept, the next fire recomputed"
k -n "$NS" patch scheduledjob sync --type merge -p '{"spec":{"suspend":true}}' >/dev/null
k -n "$NS" wait scheduledjob/sync --for=jsonpath='{.status.phase}'=Suspended --timeout=30s >/dev/null
k -n "$NS" get scheduledjob sync
k -n "$NS" patch scheduledjob sync --type merge -p '{"spec":{"suspend":false}}' >/dev/null
k -n "$NS" wait scheduledjob/sync --for=jsonpath='{.status.phase}'=Active --timeout=30s >/dev/null
k -n "$NS" get scheduledjob sync
k -n "$NS" get scheduledjob sync -o jsonpath='{range .status.log[*]}{.time}  {.message}{"\n"}{end}'

say "Exports, run for real by the built-in export worker in a container on the real node"
HOSTPATH="$PWD/.devcluster/realnode-data/exports/demo"
IMAGE=$(.venv/bin/python -c 'from devcluster.image import content_key, image_ref; print(image_ref(content_key()))')
mkdir -p "$HOSTPATH/out" && chmod 0777 "$HOSTPATH" "$HOSTPATH/out"  # the image's user writes there
.venv/bin/python - "$HOSTPATH/shop.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("drop table if exists orders; drop table if exists events;"
                 "create table orders(id integer primary key, customer text, total real);"
                 "create table events(id integer primary key, kind text, payload text);")
db.executemany("insert into orders values (?, ?, ?)", ((i, f"customer {i % 97}", i * 1.25) for i in range(1, 1001)))
db.executemany("insert into events values (?, ?, ?)", ((i, "click", "x" * 40) for i in range(1, 1_000_001)))
db.commit()
PY
for spec in "orders-csv orders" "events-csv events"; do
  set -- $spec
  k -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: jobwarden.dev/v1alpha1
kind: Export
metadata:
  name: $1
spec:
  source:
    sqlite: {volume: data, path: shop.db}
  query: "select * from $2 order by id"
  format: csv
  batchSize: 2000
  destination: {volume: data, path: out/$1.csv}
  volumes:
    - name: data
      hostPath: {path: $HOSTPATH, type: Directory}
  worker:
    image: $IMAGE
    imagePullPolicy: IfNotPresent
    nodeSelector: {jobwarden.dev/node-kind: real}
    tolerations: [{key: jobwarden.dev/node-kind, operator: Equal, value: real}]
YAML
done
wait_phase export orders-csv Succeeded 120s
k -n "$NS" get export orders-csv -o jsonpath='artifact: {.status.artifact}{"\n"}'
head -3 "$HOSTPATH/out/orders-csv.csv"
echo "waiting for the 1-million-row export to report progress, then cancelling it..."
for _ in $(seq 1 200); do
  rows=$(k -n "$NS" get export events-csv -o jsonpath='{.status.progress.counters.rows}' 2>/dev/null || true)
  [ -n "$rows" ] && [ "$rows" -gt 0 ] && break
  sleep 0.2
done
k -n "$NS" patch export events-csv --type merge -p '{"spec":{"cancel":true}}' >/dev/null
wait_phase export events-csv Cancelled 60s
k -n "$NS" get exports
k -n "$NS" get export events-csv -o jsonpath='stopped at: {.status.progress.message} ({.status.progress.counters.rows} rows); exit code {.status.attempts[0].exitCode}{"\n"}'
ls "$HOSTPATH/out/"
[ ! -e "$HOSTPATH/out/events-csv.csv.partial" ] && echo "no partial file left behind"

say "Every example manifest is accepted by the API server (server-side dry run)"
k create namespace jobwarden-demo-examples --dry-run=client -o yaml | k apply -f - >/dev/null
k -n jobwarden-demo-examples create --dry-run=server -f examples/ 2>&1 | sed 's/^/  /'

say "kubectl jobwarden: what is active now, and the history of the ScheduledJob"
k -n "$NS" apply -f - >/dev/null <<'YAML'
apiVersion: jobwarden.dev/v1alpha1
kind: JobRun
metadata:
  name: backfill
spec:
  priority: Low
  template:
    metadata:
      annotations:
        sim.jobwarden.dev/run-seconds: "300"
    spec:
      containers:
        - name: backfill
          image: registry.example/backfill:1.0
YAML
wait_phase jobrun backfill Running
.venv/bin/kubectl-jobwarden -n "$NS" active -o wide
echo
.venv/bin/kubectl-jobwarden -n "$NS" history sync

printf '\nThe cluster keeps running: export KUBECONFIG=%s, then use kubectl; `make down` stops it.\n' "$KUBECONFIG"
