"""The dashboard's watch-fed store: list, follow the watch, relist when it expires,
and tell subscribers of every change. With a fake API client and stream."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

from jobwarden.client.kube import KubeError
from jobwarden.dashboard.store import ALL, WATCHED_KINDS, Store
from tests.support.wait import wait_until

JSON = dict[str, Any]


def obj(name: str, version: int, namespace: str = "team-a", phase: str = "Queued") -> JSON:
    return {
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": str(version)},
        "status": {"phase": phase},
    }


class FakeKube:
    """Answers lists; jobruns first list `first`, then (after a relist) `second`."""

    def __init__(self) -> None:
        self.lists: dict[str, int] = {}
        self.forbidden: set[str] = set()

    def get(self, path: str, **_query: str) -> JSON:
        self.lists[path] = self.lists.get(path, 0) + 1
        if any(path.endswith(p) for p in self.forbidden):
            raise KubeError("GET", path, 403, '{"message": "forbidden", "reason": "Forbidden"}')
        if path.endswith("/jobruns"):
            items = [obj("a", 1), obj("b", 2)] if self.lists[path] == 1 else [obj("a", 9)]
            return {"metadata": {"resourceVersion": "5"}, "items": items}
        return {"metadata": {"resourceVersion": "5"}, "items": []}


class FakeStream:
    """Per path, scripted watch streams; later calls block until the test ends."""

    def __init__(self, scripts: dict[str, list[list[JSON]]]) -> None:
        self.scripts = scripts
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.done = threading.Event()

    def __call__(self, path: str, query: dict[str, str]) -> Iterator[bytes]:
        self.calls.append((path, query))
        script = self.scripts.get(path.rsplit("/", 1)[-1], [])
        if script:
            for event in script.pop(0):
                yield json.dumps(event).encode()
            return
        self.done.wait(5)


def drain(inbox: queue.SimpleQueue[JSON]) -> list[JSON]:
    out = []
    while not inbox.empty():
        out.append(inbox.get())
    return out


def test_lists_follows_the_watch_and_relists_after_410() -> None:
    stream = FakeStream(
        {
            "jobruns": [
                [
                    {"type": "MODIFIED", "object": obj("a", 6, phase="Running")},
                    {"type": "ADDED", "object": obj("c", 7)},
                    {"type": "DELETED", "object": obj("b", 8)},
                    {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "8"}}},
                ],
                [{"type": "ERROR", "object": {"code": 410, "message": "too old"}}],
            ]
        }
    )
    kube = FakeKube()
    store = Store(kube, stream)  # type: ignore[arg-type]
    inbox = store.subscribe()
    try:
        scope = store.ensure("team-a", wait=5)
        assert scope.ready.is_set() and scope.error() is None
        assert scope.synced == set(WATCHED_KINDS)
        # After the 410 the store listed again: only `a`, at the listed version.
        wait_until(
            lambda: kube.lists.get("/apis/jobwarden.dev/v1alpha1/namespaces/team-a/jobruns") == 2,
            timeout=5,
            message="a relist after 410 Gone",
        )
        wait_until(
            lambda: [o["metadata"]["name"] for o in store.objects("JobRun")] == ["a"],
            timeout=5,
            message="the relisted state",
        )
        assert store.get("JobRun", "team-a", "a") == {**obj("a", 9), "kind": "JobRun"}
        watches = [q for p, q in stream.calls if p.endswith("/jobruns")]
        assert watches[0]["resourceVersion"] == "5"
        assert watches[1]["resourceVersion"] == "8"  # the bookmark moved it on
        notes = drain(inbox)
        assert {"type": "ADDED", "kind": "JobRun", "namespace": "team-a", "name": "c"} in notes
        assert {"type": "DELETED", "kind": "JobRun", "namespace": "team-a", "name": "b"} in notes
        assert store.namespaces() == ["team-a"]
    finally:
        store.stop()
        stream.done.set()


def test_an_older_version_never_replaces_a_newer_one() -> None:
    store = Store(FakeKube(), FakeStream({}))  # type: ignore[arg-type]
    store.apply("JobRun", obj("a", 10, phase="Cancelling"))
    store.apply("JobRun", obj("a", 9, phase="Running"))
    found = store.get("JobRun", "team-a", "a")
    assert found is not None and found["status"]["phase"] == "Cancelling"
    store.apply("JobRun", obj("a", 11), "DELETED")
    assert store.get("JobRun", "team-a", "a") is None


def test_a_forbidden_scope_reports_why() -> None:
    kube = FakeKube()
    kube.forbidden = {"/workerquotas"}
    stream = FakeStream({})
    store = Store(kube, stream)  # type: ignore[arg-type]
    try:
        scope = store.ensure(ALL, wait=5)
        assert scope.ready.is_set()
        assert "forbidden" in (scope.error() or "")
        # A namespace is then watched on its own, not through the failing ALL scope.
        assert store.ensure("team-b", wait=5).namespace == "team-b"
    finally:
        store.stop()
        stream.done.set()
