"""The dashboard's HTTP server: routing, the security checks, actions, SSE.

Stdlib `http.server` on 127.0.0.1, one thread per request (a server-sent event
stream holds its thread). Every API call is made with the user's own kubeconfig
identity (`Kube`), so RBAC and jobwarden's admission webhook decide each click
exactly as they decide kubectl's requests.
"""

from __future__ import annotations

import datetime
import json
import logging
import queue
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from jobwarden.api import constants as c
from jobwarden.client import actions
from jobwarden.client.access import (
    Access,
    CancelRight,
    Right,
    cancel_right,
    create_right,
    patch_right,
    run_right,
    whoami,
)
from jobwarden.client.actions import Outcome, Result
from jobwarden.client.history import (
    HISTORY_COLUMNS,
    filter_history,
    history_records,
    public_record,
)
from jobwarden.client.kube import JSON, Kube, KubeError, resource_path
from jobwarden.client.objects import (
    KINDS_BY_PLURAL,
    RUN_KINDS,
    last_events,
    name_of,
    namespace_of,
    scheduled_job_of,
    spec_of,
    status_of,
)
from jobwarden.client.quota import quota_records
from jobwarden.client.schedule import (
    InvalidScheduleError,
    PreviewFire,
    expression_preview,
    time_zones,
)
from jobwarden.client.schedule import upcoming as schedule_preview
from jobwarden.client.stats import recent_durations
from jobwarden.client.text import format_timestamp, parse_time, to_csv, to_yaml
from jobwarden.client.timeline import run_timeline
from jobwarden.dashboard import newjob, render
from jobwarden.dashboard.security import Guard, new_token
from jobwarden.dashboard.store import ALL, Store

log = logging.getLogger(__name__)

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
ACCESS_TTL_SECONDS = 30.0
KEEPALIVE_SECONDS = 15.0
EVENT_COUNT = 20
#: Coming fires a ScheduledJob's page lists.
UPCOMING_COUNT = 5
#: A bulk cancel names every object it cancels (10,000 names fit).
MAX_BODY = 4 * 1024 * 1024
#: Requests a bulk cancel keeps in flight.
BULK_PARALLEL = 8
#: Lines of a worker's log shown (its tail), and how long a followed log may be quiet.
LOG_TAIL_LINES = 1000
LOG_LIMIT_BYTES = 1024 * 1024
LOG_QUIET_SECONDS = 3600.0
_WEBHOOK_PREFIX = re.compile(r'^admission webhook "[^"]*" denied the request:\s*')
_SERVER_PREFIX = re.compile(r"^Error from server \([^)]*\):\s*")
_CHOOSE_CONTAINER = re.compile(r"choose one of: \[(?P<names>[^\]]*)\]")
#: What the kubelet answers (HTTP 200, as the log's text) when the container is gone:
#: it removes the containers of a deleted pod (a cancel deletes the worker pod to send
#: SIGTERM) once they have stopped, while the Pod object may still exist.
_KUBELET_LOG_GONE = re.compile(
    r"(unable to retrieve container logs for \S+"
    r"|failed to try resolving symlinks in path \S+: lstat \S+: no such file or directory)"
)
_OBJECT_PATH = re.compile(
    r"^/ns/(?P<ns>[^/]+)/(?P<plural>[a-z]+)/(?P<name>[^/]+)"
    r"(?P<rest>/history\.csv|/log|/log/stream)?$"
)
#: How a bulk cancel's results read, per object.
BULK_SAID = {
    Result.REQUESTED: "cancelled",
    Result.UNCHANGED: "cancelled (already requested)",
    Result.NOT_CANCELLABLE: "already finished",
}


def log_removed(text: str) -> bool:
    """Whether a log's text is the kubelet saying the container (and log) is gone."""
    return _KUBELET_LOG_GONE.fullmatch(text.strip()) is not None


def plain_message(error: KubeError) -> str:
    """The API server's answer in plain words: the admission webhook's own message
    without the `admission webhook "…" denied the request:` preamble."""
    return _WEBHOOK_PREFIX.sub("", error.message).strip() or error.describe()


def plain_text(described: str) -> str:
    """`plain_message` for an error already described (`Error from server (…): …`)."""
    return _WEBHOOK_PREFIX.sub("", _SERVER_PREFIX.sub("", described)).strip() or described


def bulk_record(outcome: Outcome) -> JSON:
    """One object's result of a bulk cancel, as the page shows it."""
    said = BULK_SAID.get(outcome.result, "refused")
    message = plain_text(outcome.message) if said == "refused" else outcome.message
    return {**outcome.record(), "said": said, "message": message}


def run_filter(query: Mapping[str, str]) -> render.RunFilter:
    """The runs table's filters from a page's query (or a bulk cancel's body)."""
    kind = str(query.get("kind") or "")
    return render.RunFilter(
        namespace=str(query.get("namespace") or "").strip(),
        phase=str(query.get("phase") or ""),
        text=str(query.get("q") or "").strip(),
        kind=kind if kind in RUN_KINDS else "",
    )


def _page_number(query: Mapping[str, str]) -> int:
    raw = str(query.get("page") or "1")
    return int(raw) if raw.isdigit() else 1


class Dashboard:
    """Everything the request handlers share: identity, store, rights, token."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        *,
        all_namespaces: bool = False,
        token: str | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.all_namespaces = all_namespaces
        self.token = token or new_token()
        self.store = Store(kube)
        self.user = whoami(kube)
        self.stopping = threading.Event()
        self._access = Access(kube)
        self._access_at = time.monotonic()
        self._access_lock = threading.Lock()

    @property
    def base(self) -> str:
        """The path every page lives under."""
        return "/" + self.token

    def access(self) -> Access:
        """The caller's SelfSubjectAccessReview answers, asked again every 30 s."""
        with self._access_lock:
            if time.monotonic() - self._access_at > ACCESS_TTL_SECONDS:
                self._access = Access(self.kube)
                self._access_at = time.monotonic()
            return self._access

    def start(self) -> None:
        """Start the watches of the default scope."""
        self.store.ensure(ALL if self.all_namespaces else self.namespace, wait=0)

    def scope_of(self, namespace: str) -> tuple[str, list[str]]:
        """The scope a page shows (a namespace, or ALL), and errors from its watches."""
        if namespace:
            scope = self.store.ensure(namespace)
        else:
            scope = self.store.ensure(ALL if self.all_namespaces else self.namespace)
        error = scope.error()
        label = scope.namespace or "all namespaces"
        return scope.namespace, [f"Cannot watch {label}: {error}"] if error else []

    def rights(self, objects: Iterable[Mapping[str, Any]]) -> dict[str, CancelRight]:
        """The caller's Cancel right on each unfinished run (the webhook's rule)."""
        access = self.access()
        result: dict[str, CancelRight] = {}
        for obj in objects:
            if not render.can_offer_cancel(obj):
                continue
            job_name = scheduled_job_of(obj)
            job = (
                self.store.get(c.KIND_SCHEDULED_JOB, namespace_of(obj), job_name)
                if job_name
                else None
            )
            try:
                result[render.key_of(obj)] = cancel_right(obj, self.user, access, job)
            except KubeError as error:
                result[render.key_of(obj)] = CancelRight(False, error.describe())
        return result

    def job_of(self, run: Mapping[str, Any]) -> JSON | None:
        """The ScheduledJob of a run, if it has one and it is known."""
        job_name = scheduled_job_of(run)
        return (
            self.store.get(c.KIND_SCHEDULED_JOB, namespace_of(run), job_name) if job_name else None
        )

    @staticmethod
    def _asked(ask: Callable[..., Right], *args: Any) -> Right:
        """An access answer; a failed review reads as "no", with the API's error."""
        try:
            return ask(*args)
        except KubeError as error:
            return Right(False, error.describe())

    def rerun_rights(self, objects: Iterable[Mapping[str, Any]]) -> dict[str, Right]:
        """May the caller re-run each failed or cancelled run? (RBAC create on its
        kind; execute-sensitive for a run of a sensitive ScheduledJob.)"""
        access = self.access()
        return {
            render.key_of(obj): self._asked(
                run_right, access, namespace_of(obj), self.job_of(obj), str(obj.get("kind"))
            )
            for obj in objects
            if render.can_offer_rerun(obj)
        }

    def job_rights(self, jobs: Iterable[Mapping[str, Any]]) -> dict[str, render.JobRights]:
        """May the caller run each ScheduledJob now, and pause or resume it?"""
        access = self.access()
        return {
            render.key_of(job): render.JobRights(
                run=self._asked(run_right, access, namespace_of(job), job),
                suspend=self._asked(patch_right, access, job),
            )
            for job in jobs
        }

    def bulk_right(self, runs: Sequence[Mapping[str, Any]]) -> Right:
        """May the caller patch runs where these are? A cancel is a patch; whether each
        one is theirs to cancel, the webhook answers per object."""
        access = self.access()
        places = sorted({(namespace_of(r), str(r.get("kind"))) for r in runs})
        for namespace, kind in places:
            place = {"kind": kind, "metadata": {"namespace": namespace}}
            right = self._asked(patch_right, access, place)
            if right.allowed:
                return right
        return Right(False, "no RBAC patch on these runs") if places else Right(True, "")

    def create_right(self, namespace: str) -> Right:
        """May the caller create ScheduledJobs in `namespace`?"""
        return self._asked(create_right, self.access(), c.KIND_SCHEDULED_JOB, namespace)


class Handler(BaseHTTPRequestHandler):
    """One request."""

    server: DashboardServer
    protocol_version = "HTTP/1.1"

    # ------------------------------------------------------------ plumbing
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    @property
    def app(self) -> Dashboard:
        return self.server.app

    def _headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items()}

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _html(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/html; charset=utf-8")

    def _json(self, status: int, data: object) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _refuse(self, status: int, reason: str) -> None:
        self._send(status, f"{reason}\n".encode(), "text/plain; charset=utf-8")

    def _guarded(self) -> tuple[str, dict[str, str]] | None:
        """The path after the token and the query, or None (refused and answered)."""
        verdict = self.server.guard.check(self.command, self.path, self._headers())
        if not verdict.allowed:
            self._refuse(verdict.status, verdict.reason)
            return None
        raw_path, _, raw_query = self.path.partition("?")
        rest = self.server.guard.split(raw_path) or "/"
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(raw_query).items()}
        return urllib.parse.unquote(rest), query

    def _page(self, namespaces: Sequence[str], errors: Sequence[str]) -> render.Page:
        return render.Page(
            base=self.app.base,
            user=self.app.user,
            context=self.app.kube.target.context,
            now=datetime.datetime.now(datetime.UTC),
            namespaces=namespaces,
            errors=errors,
        )

    # ------------------------------------------------------------- GET
    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        guarded = self._guarded()
        if guarded is None:
            return
        path, query = guarded
        try:
            self._route_get(path, query)
        except KubeError as error:
            self._html(HTTPStatus.BAD_GATEWAY, f"<p>{render.h(error.describe())}</p>")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _route_get(self, path: str, query: dict[str, str]) -> None:
        if path.startswith("/static/"):
            self._static(path.removeprefix("/static/"))
        elif path == "/events":
            self._events()
        elif path == "/":
            self._overview(query)
        elif path == "/runs":
            self._runs(query)
        elif path == "/scheduledjobs":
            self._jobs(query)
        elif path == "/new":
            self._new_job(query)
        elif match := _OBJECT_PATH.match(path):
            ns, plural, name, rest = match["ns"], match["plural"], match["name"], match["rest"]
            kind = KINDS_BY_PLURAL.get(plural, "")
            if kind == c.KIND_SCHEDULED_JOB and rest in (None, "/history.csv"):
                self._job(ns, name, query, csv=bool(rest))
            elif kind in RUN_KINDS and rest is None:
                self._run(kind, ns, name)
            elif kind in RUN_KINDS and rest == "/log":
                self._log(kind, ns, name, query)
            elif kind in RUN_KINDS and rest == "/log/stream":
                self._log_stream(kind, ns, name, query)
            else:
                self._refuse(404, "not found")
        else:
            self._refuse(404, "not found")

    def _static(self, name: str) -> None:
        suffix = name[name.rfind(".") :] if "." in name else ""
        if "/" in name or suffix not in STATIC_TYPES:
            self._refuse(404, "not found")
            return
        try:
            body = resources.files("jobwarden.dashboard").joinpath("static", name).read_bytes()
        except (FileNotFoundError, OSError):
            self._refuse(404, "not found")
            return
        self._send(200, body, STATIC_TYPES[suffix])

    def _overview(self, query: dict[str, str]) -> None:
        scope, errors = self.app.scope_of(query.get("namespace", ""))
        store = self.app.store
        runs = [o for k in RUN_KINDS for o in store.objects(k, scope)]
        quotas = store.objects(c.KIND_WORKER_QUOTA, scope)
        jobs = store.objects(c.KIND_SCHEDULED_JOB, scope)
        namespaces = [scope] if scope else store.namespaces()
        page = self._page(namespaces, errors)
        body = render.overview_page(page, quota_records(quotas, runs, namespaces), runs, jobs)
        self._html(200, render.layout(page, "Overview", body, current="/"))

    def _runs(self, query: dict[str, str]) -> None:
        flt = run_filter(query)
        scope, errors = self.app.scope_of(flt.namespace)
        runs = [o for k in RUN_KINDS for o in self.app.store.objects(k, scope)]
        chosen = render.filtered_runs(runs, flt)
        visible, number, _pages = render.paginate(chosen, _page_number(query))
        open_runs = [r for r in chosen if render.can_offer_cancel(r)]
        page = self._page(self.app.store.namespaces(), errors)
        body = render.runs_page(
            page,
            chosen,
            self.app.rights(visible),
            flt,
            number=number,
            rerun_rights=self.app.rerun_rights(visible),
            open_count=len(open_runs),
            bulk=self.app.bulk_right(open_runs),
            filtered=True,
        )
        self._html(200, render.layout(page, "Runs and exports", body, current="/runs"))

    def _jobs(self, query: dict[str, str]) -> None:
        namespace = query.get("namespace", "").strip()
        scope, errors = self.app.scope_of(namespace)
        jobs = render.sorted_jobs(self.app.store.objects(c.KIND_SCHEDULED_JOB, scope), namespace)
        visible, number, _pages = render.paginate(jobs, _page_number(query))
        page = self._page(self.app.store.namespaces(), errors)
        body = render.jobs_page(
            page,
            jobs,
            namespace,
            rights=self.app.job_rights(visible),
            number=number,
            new_url=page.url("/new", namespace=namespace or self.app.namespace),
        )
        self._html(200, render.layout(page, "Scheduled jobs", body, current="/scheduledjobs"))

    def _new_job(self, query: dict[str, str]) -> None:
        namespace = query.get("namespace", "").strip() or self.app.namespace
        _scope, errors = self.app.scope_of(namespace)
        page = self._page(self.app.store.namespaces(), errors)
        body = newjob.form_page(page, namespace, time_zones(), self.app.create_right(namespace))
        self._html(200, render.layout(page, "New scheduled job", body, current="/new"))

    def _job(self, namespace: str, name: str, query: dict[str, str], *, csv: bool) -> None:
        scope, errors = self.app.scope_of(namespace)
        page = self._page(self.app.store.namespaces(), errors)
        job = self.app.store.get(c.KIND_SCHEDULED_JOB, namespace, name)
        if job is None:
            body = render.not_found_page(page, f"ScheduledJob {namespace}/{name}")
            self._html(404, render.layout(page, name, body, current="/scheduledjobs"))
            return
        status_filter = query.get("status", "")
        days = query.get("days", "30")
        since = None
        if days.isdigit():
            since = page.now - datetime.timedelta(days=int(days))
        every = history_records(job, self.app.store.objects(c.KIND_JOB_RUN, scope), page.now)
        records = filter_history(
            every, phases=[status_filter] if status_filter else [], since=since
        )
        if csv:
            text = to_csv(HISTORY_COLUMNS, [public_record(r) for r in records])
            filename = f"{name}-history.csv"
            self._send(
                200,
                text.encode(),
                "text/csv; charset=utf-8",
                {"Content-Disposition": f'attachment; filename="{filename}"'},
            )
            return
        base = f"/ns/{urllib.parse.quote(namespace)}/scheduledjobs/{urllib.parse.quote(name)}"
        csv_url = page.url(base + "/history.csv", status=status_filter, days=days)
        upcoming: list[PreviewFire] = []
        problem = ""
        if spec_of(job).get("schedule"):  # a one-time job has no coming runs
            try:
                upcoming = schedule_preview(job, page.now, UPCOMING_COUNT)
            except InvalidScheduleError as error:
                problem = error.message
        body = render.job_page(
            page,
            job,
            records,
            status_filter=status_filter,
            days=days,
            csv_url=csv_url,
            rights=self.app.job_rights([job]).get(render.key_of(job)),
            durations=recent_durations(every),
            number=_page_number(query),
            upcoming=upcoming,
            upcoming_problem=problem,
        )
        self._html(200, render.layout(page, f"Scheduled job {name}", body, current=""))

    def _run(self, kind: str, namespace: str, name: str) -> None:
        _scope, errors = self.app.scope_of(namespace)
        page = self._page(self.app.store.namespaces(), errors)
        obj = self.app.store.get(kind, namespace, name)
        if obj is None:
            body = render.not_found_page(page, f"{kind} {namespace}/{name}")
            self._html(404, render.layout(page, name, body, current="/runs"))
            return
        try:
            listed = self.app.kube.list_items(
                resource_path("events", namespace, api_version="v1"),
                fieldSelector=f"involvedObject.name={name},involvedObject.kind={kind}",
            )
            events = last_events(listed, EVENT_COUNT)
        except KubeError as error:
            events = []
            page = self._page(page.namespaces, [*errors, f"Cannot read Events: {error.describe()}"])
        right = self.app.rights([obj]).get(render.key_of(obj))
        rerun = self.app.rerun_rights([obj]).get(render.key_of(obj))
        timeline = run_timeline(obj, page.now, self._container_starts(namespace, name))
        body = render.run_page(
            page, obj, list(reversed(events)), right, rerun=rerun, timeline=timeline
        )
        self._html(200, render.layout(page, f"{kind} {name}", body, current=""))

    def _container_starts(self, namespace: str, run: str) -> dict[str, datetime.datetime]:
        """When each worker pod's container started, read as the caller (nothing if
        pods may not be listed): the end of an attempt's "starting" in its timeline."""
        try:
            pods = self.app.kube.list_items(
                resource_path("pods", namespace, api_version="v1"),
                labelSelector=f"{c.LABEL_RUN}={run}",
            )
        except KubeError:
            return {}
        starts = {}
        for pod in pods:
            for container in (pod.get("status") or {}).get("containerStatuses") or []:
                state = container.get("state") or {}
                begun = parse_time(
                    (state.get("running") or state.get("terminated") or {}).get("startedAt")
                )
                if begun is not None:
                    starts[name_of(pod)] = begun
                    break
        return starts

    # ------------------------------------------------------------ logs
    def _log_target(
        self, kind: str, namespace: str, name: str, query: Mapping[str, str]
    ) -> tuple[str, str] | JSON:
        """The worker pod whose log is asked for (`attempt`, else the latest) and the
        log's path; or the answer to give when there is none."""
        obj = self.app.store.get(kind, namespace, name)
        if obj is None:
            return {"state": "missing", "message": f"{kind} {namespace}/{name} was not found."}
        attempts = [a for a in status_of(obj).get("attempts") or [] if a.get("podName")]
        wanted = str(query.get("attempt") or "")
        chosen = next((a for a in attempts if str(a.get("attempt")) == wanted), None)
        chosen = chosen or (attempts[-1] if attempts else None)
        if chosen is None:
            return {
                "state": "none",
                "message": "No worker has started yet: the log appears when the run's "
                "first pod starts.",
            }
        pod = str(chosen["podName"])
        return pod, resource_path("pods", namespace, pod, api_version="v1", subresource="log")

    def _log_answer(self, error: KubeError, namespace: str, pod: str) -> JSON:
        """What a failed log read means, in plain words."""
        message = plain_message(error)
        if error.status == 404:
            return {
                "state": "gone",
                "pod": pod,
                "message": f"The worker pod {pod} is gone, and its log with it (a pod is "
                "deleted with its run, and by the run's history limits). The execution "
                "log above keeps what the operator recorded.",
            }
        if error.status == 403:
            return {
                "state": "forbidden",
                "pod": pod,
                "message": f'You may not read this log: it needs RBAC "get" on pods/log in '
                f"namespace {namespace} ({message}).",
            }
        return {
            "state": "unavailable",
            "pod": pod,
            "message": f"The log of {pod} cannot be read: {message}",
        }

    def _log_removed(self, pod: str) -> JSON:
        """The answer when the kubelet has removed the worker's container (and its log)."""
        return {
            "state": "gone",
            "pod": pod,
            "message": f"The worker of pod {pod} has ended and its node removed its "
            "container, and its log with it (a pod deleted by a cancel or a timeout goes "
            "once its worker stopped). The execution log above keeps what the operator "
            "recorded.",
        }

    def _log(self, kind: str, namespace: str, name: str, query: Mapping[str, str]) -> None:
        """The tail of a worker's log (JSON: state, pod, text or message)."""
        target = self._log_target(kind, namespace, name, query)
        if isinstance(target, dict):
            self._json(200, target)
            return
        pod, path = target
        params = {"tailLines": str(LOG_TAIL_LINES), "limitBytes": str(LOG_LIMIT_BYTES)}
        try:
            text = self._read_log(path, params)
        except KubeError as error:
            self._json(200, self._log_answer(error, namespace, pod))
            return
        if log_removed(text):
            self._json(200, self._log_removed(pod))
            return
        self._json(200, {"state": "ok", "pod": pod, "text": text})

    def _read_log(self, path: str, params: dict[str, str]) -> str:
        """GET a log; a pod with several containers is read from its first one."""
        try:
            return self.app.kube.get_text(path, **params)
        except KubeError as error:
            found = _CHOOSE_CONTAINER.search(error.message) if error.status == 400 else None
            if found is None:
                raise
            container = found["names"].split()[0]
            return self.app.kube.get_text(path, **params, container=container)

    def _log_stream(self, kind: str, namespace: str, name: str, query: Mapping[str, str]) -> None:
        """Server-sent events: the worker's log followed as it is written (`line`), then
        `end` when the container stops, or `problem` if it cannot be read."""
        self._stream_start()
        target = self._log_target(kind, namespace, name, query)
        if isinstance(target, dict):
            self._send_event("problem", target)
            return
        pod, path = target
        lines: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        params = {"follow": "true", "tailLines": str(LOG_TAIL_LINES)}

        def read() -> None:
            try:
                first = True
                for line in self.app.kube.stream(path, params, read_timeout=LOG_QUIET_SECONDS):
                    text = line.decode(errors="replace")
                    if first and log_removed(text):
                        lines.put(("problem", self._log_removed(pod)))
                        return
                    first = False
                    lines.put(("line", text))
                lines.put(("end", {"state": "ended", "pod": pod}))
            except KubeError as error:
                lines.put(("problem", self._log_answer(error, namespace, pod)))

        threading.Thread(target=read, name=f"log-{pod}", daemon=True).start()
        self._send_event("pod", {"pod": pod})
        while not self.app.stopping.is_set():
            try:
                event, data = lines.get(timeout=KEEPALIVE_SECONDS)
            except queue.Empty:
                self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
                continue
            self._send_event(event, data)
            if event != "line":
                return

    def _stream_start(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Accel-Buffering", "no")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _send_event(self, event: str, data: object) -> None:
        self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def _events(self) -> None:
        """Server-sent events: one `change` per watched change, a comment every 15 s."""
        inbox = self.app.store.subscribe()
        try:
            self._stream_start()
            self.wfile.write(b"retry: 1000\nevent: hello\ndata: {}\n\n")
            self.wfile.flush()
            while not self.app.stopping.is_set():
                try:
                    note = inbox.get(timeout=KEEPALIVE_SECONDS)
                except queue.Empty:
                    self.wfile.write(b": keep-alive\n\n")
                else:
                    self.wfile.write(f"event: change\ndata: {json.dumps(note)}\n\n".encode())
                self.wfile.flush()
        finally:
            self.app.store.unsubscribe(inbox)

    # ------------------------------------------------------------ POST
    def do_POST(self) -> None:
        guarded = self._guarded()
        if guarded is None:
            return
        path, _query = guarded
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._refuse(413, "too large")
            return
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._json(400, {"error": "the body is not JSON"})
            return
        if not isinstance(data, dict):
            self._json(400, {"error": "the body must be a JSON object"})
            return
        routes: dict[str, Callable[[JSON], None]] = {
            "/api/cancel": self._cancel,
            "/api/cancel-preview": self._cancel_preview,
            "/api/cancel-many": self._cancel_many,
            "/api/run": self._run_now,
            "/api/rerun": self._rerun,
            "/api/pause": lambda d: self._suspend(d, suspend=True),
            "/api/resume": lambda d: self._suspend(d, suspend=False),
            "/api/preview": self._preview,
            "/api/create": self._create,
        }
        action = routes.get(path)
        if action is None:
            self._refuse(404, "not found")
            return
        try:
            action(data)
        except KubeError as error:
            status = error.status if 400 <= error.status < 600 else 502
            message = plain_message(error)
            self._json(
                status,
                {
                    "error": message,
                    "reason": error.reason,
                    "problems": [{"field": newjob.field_of(message), "message": message}],
                },
            )
        except (KeyError, TypeError, ValueError) as error:
            self._json(400, {"error": f"bad request: {error}"})

    def _cancel(self, data: JSON) -> None:
        kind, namespace, name = str(data["kind"]), str(data["namespace"]), str(data["name"])
        if kind not in (*RUN_KINDS, c.KIND_SCHEDULED_JOB):
            raise ValueError(f"unknown kind {kind}")
        reason = str(data.get("reason") or "")
        updated = actions.request_cancel(self.app.kube, kind, namespace, name, reason)
        self.app.store.apply(kind, updated)
        self._json(200, {"ok": True, "phase": render.phase_label(updated)})

    def _cancel_preview(self, data: JSON) -> None:
        """What "Cancel all matching this filter" would cancel: every unfinished run
        the filter keeps (on every page), for the dialog to count and name."""
        flt = run_filter({k: str(v) for k, v in data.items()})
        scope, _errors = self.app.scope_of(flt.namespace)
        runs = [o for k in RUN_KINDS for o in self.app.store.objects(k, scope)]
        chosen = actions.open_to_cancel(r for r in runs if flt.matches(r))
        items = [
            {
                "kind": r.get("kind"),
                "namespace": namespace_of(r),
                "name": name_of(r),
                "phase": render.phase_label(r),
            }
            for r in chosen
        ]
        self._json(200, {"count": len(items), "items": items})

    def _cancel_many(self, data: JSON) -> None:
        """Cancel each named run as the caller, a few at a time; the result of each:
        cancelled, refused (and why), or already finished."""
        reason = str(data.get("reason") or "")
        wanted = [
            (str(i["kind"]), str(i["namespace"]), str(i["name"])) for i in data.get("items") or []
        ]
        if any(kind not in RUN_KINDS for kind, _ns, _name in wanted):
            raise ValueError("only JobRuns and Exports are cancelled in bulk")

        def one(key: tuple[str, str, str]) -> Outcome:
            kind, namespace, name = key
            obj = self.app.store.get(kind, namespace, name)
            if obj is None:
                return Outcome(kind, namespace, name, Result.NOT_FOUND, "it no longer exists")
            return actions.cancel(self.app.kube, obj, reason=reason)

        with ThreadPoolExecutor(max_workers=BULK_PARALLEL) as pool:
            outcomes = list(pool.map(one, wanted))
        records = [bulk_record(o) for o in outcomes]
        counts: dict[str, int] = {}
        for record in records:
            key = "cancelled" if record["said"].startswith("cancelled") else record["said"]
            counts[key] = counts.get(key, 0) + 1
        self._json(200, {"results": records, "counts": counts})

    def _rerun(self, data: JSON) -> None:
        """A new run repeating a failed or cancelled one (trigger Rerun)."""
        kind, namespace, name = str(data["kind"]), str(data["namespace"]), str(data["name"])
        if kind not in RUN_KINDS:
            raise ValueError(f"only runs are re-run, not {kind}")
        obj = self.app.store.get(kind, namespace, name)
        if obj is None:
            self._json(404, {"error": f"{kind} {namespace}/{name} was not found"})
            return
        try:
            body = actions.rerun(obj)
        except actions.NotFinishedError as error:
            self._json(409, {"error": str(error)})
            return
        created = actions.create(self.app.kube, body)
        self.app.store.apply(kind, created, "ADDED")
        url = render.object_url(self._page([], []), created)
        self._json(200, {"ok": True, "name": name_of(created), "url": url})

    def _preview(self, data: JSON) -> None:
        """Check the new-job form as it is typed: local checks, the next 5 fires (the
        operator's cron reading), then a server-side dry run of the create as the
        caller (RBAC, the admission webhook, the CRD's schema); and the YAML."""
        body, problems = newjob.manifest(data)
        spec = body["spec"]
        zone = str(spec.get("timeZone") or "UTC")
        fires: list[str] = []
        notes: list[str] = []
        if spec.get("schedule"):
            metadata = body["metadata"]
            try:
                moments = expression_preview(
                    str(spec["schedule"]),
                    zone,
                    datetime.datetime.now(datetime.UTC),
                    namespace=str(metadata.get("namespace") or ""),
                    name=str(metadata.get("name") or ""),
                )
                fires = [format_timestamp(m.time) for m in moments]
                notes = [m.note() for m in moments]
            except InvalidScheduleError as error:
                problems.append(newjob.Problem(error.field, error.message))
        checked = False
        if not problems:
            try:
                actions.create(self.app.kube, body, dry_run=actions.SERVER_DRY_RUN)
                checked = True
            except KubeError as error:
                message = plain_message(error)
                problems.append(newjob.Problem(newjob.field_of(message), message))
        self._json(
            200,
            {
                "ok": not problems,
                "checked": checked,
                "problems": [p.record() for p in problems],
                "fires": fires,
                "notes": notes,
                "zone": zone,
                "yaml": to_yaml(body),
            },
        )

    def _create(self, data: JSON) -> None:
        """Create the ScheduledJob the form describes, as the caller."""
        body, problems = newjob.manifest(data)
        if problems:
            self._json(
                422, {"error": problems[0].message, "problems": [p.record() for p in problems]}
            )
            return
        created = actions.create(self.app.kube, body)
        self.app.store.apply(c.KIND_SCHEDULED_JOB, created, "ADDED")
        url = render.object_url(self._page([], []), created)
        self._json(200, {"ok": True, "name": name_of(created), "url": url})

    def _run_now(self, data: JSON) -> None:
        namespace, name = str(data["namespace"]), str(data["name"])
        run = actions.run_now(self.app.kube, namespace, name)
        self.app.store.apply(c.KIND_JOB_RUN, run, "ADDED")
        self._json(
            200,
            {"ok": True, "name": name_of(run), "url": render.object_url(self._page([], []), run)},
        )

    def _suspend(self, data: JSON, *, suspend: bool) -> None:
        namespace, name = str(data["namespace"]), str(data["name"])
        if suspend:
            updated = actions.request_suspend(self.app.kube, namespace, name, True)
        else:  # also ends a pause after failures (an annotation, never spec)
            job = self.app.store.get(c.KIND_SCHEDULED_JOB, namespace, name) or {
                "metadata": {"namespace": namespace, "name": name},
                "spec": {"suspend": True},
            }
            updated = actions.request_resume(self.app.kube, job)
        self.app.store.apply(c.KIND_SCHEDULED_JOB, updated)
        self._json(200, {"ok": True, "suspend": suspend})


class DashboardServer(ThreadingHTTPServer):
    """The HTTP server, bound to 127.0.0.1."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: Dashboard, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.app = app
        self.guard = Guard(app.token, self.server_address[1])

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """The address to open: with the secret token."""
        return f"http://127.0.0.1:{self.port}{self.app.base}/"

    def shutdown(self) -> None:
        """Stop serving, and end the event streams and watches."""
        self.app.stopping.set()
        self.app.store.stop()
        super().shutdown()
