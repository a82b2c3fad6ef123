"""An in-memory copy of the jobwarden objects the dashboard shows, kept current by
watches made with the user's own credentials.

One watch per kind and scope (a namespace, or all namespaces with `-A`): list, then
watch from the list's resourceVersion, and list again when the watch expires (410
Gone) or breaks. Every change is announced to the subscribers (the pages' server-sent
event streams).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jobwarden.api import constants as c
from jobwarden.client.kube import JSON, Kube, KubeError, resource_path
from jobwarden.client.objects import PLURALS, name_of, namespace_of

log = logging.getLogger(__name__)

WATCHED_KINDS = (c.KIND_JOB_RUN, c.KIND_EXPORT, c.KIND_SCHEDULED_JOB, c.KIND_WORKER_QUOTA)
ALL = ""  # the scope "all namespaces"
WATCH_SECONDS = 290
SYNC_WAIT_SECONDS = 15.0

Key = tuple[str, str, str]  # kind, namespace, name
#: Opens a watch stream: (path, query) -> lines of JSON (raises KubeError).
Streamer = Callable[[str, dict[str, str]], Iterator[bytes]]


def stream_lines(kube: Kube) -> Streamer:
    """A Streamer on `kube`'s connection (its kubeconfig identity and TLS)."""

    def open_stream(path: str, query: dict[str, str]) -> Iterator[bytes]:
        lines = kube.stream(path, query, read_timeout=WATCH_SECONDS + 30, accept="application/json")
        return (line for line in lines if line.strip())

    return open_stream


@dataclass
class Scope:
    """The watches of one namespace (or of all: ALL)."""

    namespace: str
    synced: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)
    ready: threading.Event = field(default_factory=threading.Event)

    def error(self) -> str | None:
        """The first kind that could not be listed, and why."""
        return next(iter(self.errors.values()), None)


class Store:
    """The objects, by (kind, namespace, name), and who wants to hear of changes."""

    def __init__(self, kube: Kube, streamer: Streamer | None = None) -> None:
        self.kube = kube
        self._streamer = streamer
        self._lock = threading.Lock()
        self._objects: dict[Key, JSON] = {}
        self._scopes: dict[str, Scope] = {}
        self._listeners: set[queue.SimpleQueue[JSON]] = set()
        self._stop = threading.Event()

    # ------------------------------------------------------------- reading
    def ensure(self, namespace: str, *, wait: float = SYNC_WAIT_SECONDS) -> Scope:
        """Start watching `namespace` (ALL: every namespace) unless that is already
        watched; wait until its first lists arrived (or failed)."""
        with self._lock:
            everything = self._scopes.get(ALL)
            scope = self._scopes.get(namespace)
            if everything is not None and not everything.errors and namespace != ALL:
                scope = everything
            if scope is None:
                scope = Scope(namespace)
                self._scopes[namespace] = scope
                for kind in WATCHED_KINDS:
                    threading.Thread(
                        target=self._watch,
                        args=(scope, kind),
                        name=f"watch-{kind}-{namespace or 'all'}",
                        daemon=True,
                    ).start()
        scope.ready.wait(wait)
        return scope

    def namespaces(self) -> list[str]:
        """The namespaces watched or holding objects."""
        with self._lock:
            seen = {ns for ns in self._scopes if ns != ALL}
            seen.update(key[1] for key in self._objects)
        return sorted(seen)

    def objects(self, kind: str, namespace: str = ALL) -> list[JSON]:
        """The objects of `kind` (in `namespace`, else everywhere)."""
        with self._lock:
            return [
                obj
                for (k, ns, _), obj in self._objects.items()
                if k == kind and namespace in (ALL, ns)
            ]

    def get(self, kind: str, namespace: str, name: str) -> JSON | None:
        """One object, if known."""
        with self._lock:
            return self._objects.get((kind, namespace, name))

    # ------------------------------------------------------------- changes
    def subscribe(self) -> queue.SimpleQueue[JSON]:
        """A queue that receives `{"kind", "namespace", "name", "type"}` per change."""
        inbox: queue.SimpleQueue[JSON] = queue.SimpleQueue()
        with self._lock:
            self._listeners.add(inbox)
        return inbox

    def unsubscribe(self, inbox: queue.SimpleQueue[JSON]) -> None:
        """Stop sending to `inbox`."""
        with self._lock:
            self._listeners.discard(inbox)

    def apply(self, kind: str, obj: Mapping[str, Any], event: str = "MODIFIED") -> None:
        """Take a newer version of an object (from a watch, or from the answer to
        our own write), and tell the subscribers."""
        body = dict(obj)
        body["kind"] = kind
        key = (kind, namespace_of(body), name_of(body))
        with self._lock:
            old = self._objects.get(key)
            if event == "DELETED":
                self._objects.pop(key, None)
            else:
                if old is not None and _older(body, old):
                    return
                self._objects[key] = body
            listeners = list(self._listeners)
        note = {"type": event, "kind": kind, "namespace": key[1], "name": key[2]}
        for inbox in listeners:
            inbox.put(note)

    def stop(self) -> None:
        """End the watches (they notice at their next event or timeout)."""
        self._stop.set()

    # ------------------------------------------------------------- watching
    def _replace(self, scope: Scope, kind: str, items: list[JSON]) -> None:
        fresh = {(kind, namespace_of(i), name_of(i)): {**i, "kind": kind} for i in items}
        with self._lock:
            stale = [
                key
                for key in self._objects
                if key[0] == kind
                and (scope.namespace == ALL or key[1] == scope.namespace)
                and key not in fresh
            ]
            for key in stale:
                del self._objects[key]
            self._objects.update(fresh)
            listeners = list(self._listeners)
        note = {"type": "RESYNC", "kind": kind, "namespace": scope.namespace, "name": ""}
        for inbox in listeners:
            inbox.put(note)

    def _mark(self, scope: Scope, kind: str, error: str | None) -> None:
        with self._lock:
            if error is None:
                scope.errors.pop(kind, None)
                scope.synced.add(kind)
            else:
                scope.errors[kind] = error
            if len(scope.synced) + len(scope.errors) >= len(WATCHED_KINDS):
                scope.ready.set()

    def _watch(self, scope: Scope, kind: str) -> None:
        path = resource_path(PLURALS[kind], scope.namespace or None)
        streamer = self._streamer or stream_lines(self.kube)
        backoff = 1.0
        while not self._stop.is_set():
            try:
                items, version = self._list(path)
                self._replace(scope, kind, items)
                self._mark(scope, kind, None)
                backoff = 1.0
                while not self._stop.is_set():
                    version = self._follow(streamer, path, kind, version)
                    if not version:
                        break  # expired: list again
            except KubeError as error:
                self._mark(scope, kind, error.describe())
                log.debug("watch of %s in %r: %s", kind, scope.namespace, error)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
            except Exception:  # a watch thread must never die
                log.exception("watch of %s in %r", kind, scope.namespace)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _list(self, path: str) -> tuple[list[JSON], str]:
        """Every item (following `continue`) and the list's resourceVersion."""
        items: list[JSON] = []
        token = ""
        while True:
            page = self.kube.get(path, limit="500", **({"continue": token} if token else {}))
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            token = str(meta.get("continue") or "")
            if not token:
                return items, str(meta.get("resourceVersion") or "")

    def _follow(self, streamer: Streamer, path: str, kind: str, version: str) -> str:
        """Apply one watch stream; return the resourceVersion to go on from, or ''
        when the stream expired and a fresh list is needed."""
        query = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
            "resourceVersion": version,
        }
        for line in streamer(path, query):
            if self._stop.is_set():
                return version
            event = json.loads(line)
            kind_of_event = str(event.get("type") or "")
            obj = event.get("object") or {}
            if kind_of_event == "ERROR":
                return ""  # 410 Gone and friends: relist
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if kind_of_event in ("ADDED", "MODIFIED", "DELETED"):
                self.apply(kind, obj, kind_of_event)
        return version


def _older(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """`new` is an older version than `old` (resourceVersions compared as numbers
    when both are, which the API server's etcd-backed versions are)."""
    a = str((new.get("metadata") or {}).get("resourceVersion") or "")
    b = str((old.get("metadata") or {}).get("resourceVersion") or "")
    if a.isdigit() and b.isdigit():
        return int(a) < int(b)
    return False
