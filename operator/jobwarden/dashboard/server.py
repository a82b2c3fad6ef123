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
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from jobwarden.api import constants as c
from jobwarden.client import actions
from jobwarden.client.access import Access, CancelRight, cancel_right, whoami
from jobwarden.client.history import (
    HISTORY_COLUMNS,
    filter_history,
    history_records,
    public_record,
)
from jobwarden.client.kube import JSON, Kube, KubeError, resource_path
from jobwarden.client.objects import (
    RUN_KINDS,
    last_events,
    name_of,
    namespace_of,
    scheduled_job_of,
)
from jobwarden.client.quota import quota_records
from jobwarden.client.text import to_csv
from jobwarden.dashboard import render
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
MAX_BODY = 64 * 1024
_WEBHOOK_PREFIX = re.compile(r'^admission webhook "[^"]*" denied the request:\s*')
_OBJECT_PATH = re.compile(
    r"^/ns/(?P<ns>[^/]+)/(?P<plural>[a-z]+)/(?P<name>[^/]+)(?P<csv>/history\.csv)?$"
)


def plain_message(error: KubeError) -> str:
    """The API server's answer in plain words: the admission webhook's own message
    without the `admission webhook "…" denied the request:` preamble."""
    return _WEBHOOK_PREFIX.sub("", error.message).strip() or error.describe()


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

    def rights(self, objects: list[JSON]) -> dict[str, CancelRight]:
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
        elif match := _OBJECT_PATH.match(path):
            ns, plural, name = match["ns"], match["plural"], match["name"]
            if plural == c.PLURAL_SCHEDULED_JOBS:
                self._job(ns, name, query, csv=bool(match["csv"]))
            elif plural in (c.PLURAL_JOB_RUNS, c.PLURAL_EXPORTS) and not match["csv"]:
                kind = c.KIND_JOB_RUN if plural == c.PLURAL_JOB_RUNS else c.KIND_EXPORT
                self._run(kind, ns, name)
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
        flt = render.RunFilter(
            namespace=query.get("namespace", "").strip(),
            phase=query.get("phase", ""),
            text=query.get("q", "").strip(),
            kind=query.get("kind", "") if query.get("kind") in RUN_KINDS else "",
        )
        scope, errors = self.app.scope_of(flt.namespace)
        runs = [o for k in RUN_KINDS for o in self.app.store.objects(k, scope)]
        shown = [r for r in runs if flt.matches(r)]
        page = self._page(self.app.store.namespaces(), errors)
        body = render.runs_page(page, shown, self.app.rights(shown), flt)
        self._html(200, render.layout(page, "Runs and exports", body, current="/runs"))

    def _jobs(self, query: dict[str, str]) -> None:
        namespace = query.get("namespace", "").strip()
        scope, errors = self.app.scope_of(namespace)
        jobs = self.app.store.objects(c.KIND_SCHEDULED_JOB, scope)
        page = self._page(self.app.store.namespaces(), errors)
        body = render.jobs_page(page, jobs, namespace)
        self._html(200, render.layout(page, "Scheduled jobs", body, current="/scheduledjobs"))

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
        records = filter_history(
            history_records(job, self.app.store.objects(c.KIND_JOB_RUN, scope), page.now),
            phases=[status_filter] if status_filter else [],
            since=since,
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
        body = render.job_page(
            page, job, records, status_filter=status_filter, days=days, csv_url=csv_url
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
        body = render.run_page(page, obj, list(reversed(events)), right)
        self._html(200, render.layout(page, f"{kind} {name}", body, current=""))

    def _events(self) -> None:
        """Server-sent events: one `change` per watched change, a comment every 15 s."""
        inbox = self.app.store.subscribe()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Accel-Buffering", "no")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
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
        actions: dict[str, Callable[[JSON], None]] = {
            "/api/cancel": self._cancel,
            "/api/run": self._run_now,
            "/api/pause": lambda d: self._suspend(d, suspend=True),
            "/api/resume": lambda d: self._suspend(d, suspend=False),
        }
        action = actions.get(path)
        if action is None:
            self._refuse(404, "not found")
            return
        try:
            action(data)
        except KubeError as error:
            status = error.status if 400 <= error.status < 600 else 502
            self._json(status, {"error": plain_message(error), "reason": error.reason})
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
        updated = actions.request_suspend(self.app.kube, namespace, name, suspend)
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
