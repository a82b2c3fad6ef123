"""An in-memory Kubernetes API server behind the engine's port (`engine.port.KubeApi`).

The one fake of the API the unit tests use (the engine, the scheduler, the leader
election, the worker identity and the webhooks' runtime all talk through the port).
It keeps objects by REST path and answers as the API server does where the operator
relies on it:

- resourceVersions grow with every write; `replace` (PUT) is conditional on the one
  sent; a create of an existing name is 409 AlreadyExists; `generateName` is honoured;
- `merge_patch` is RFC 7386 (null deletes), on `/status` it touches `status` only; a
  strategic merge patch removes finalizers by value (`$deleteFromPrimitiveList`), and a
  `metadata.uid` in a patch, or a delete's uid precondition, must match (409);
- a delete of an object with finalizers, or of a pod with a grace period, marks it
  (deletionTimestamp, deletionGracePeriodSeconds) and it goes once its last finalizer
  is removed; other deletes remove it at once;
- GET of a collection lists it (all namespaces when the path has none; `labelSelector`
  `key` or `key=value`);
- SubjectAccessReviews are answered with `allowed`, SelfSubjectReviews with `username`.

Every request is journaled in `calls` before it is answered, and yields to the event
loop first, as real I/O does (background tasks, such as Event senders, then run in the
order they would); `hold(...)` keeps matching requests unanswered until released, so a
test sees what else is (or is not) sent meanwhile. Faults: `fail(...)` makes matching
requests raise (or commit and then raise: a crash right after a write); `before_write`
runs once before the next write (another writer racing us). Every change is appended
to `changes`, as a watch would deliver it.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from jobwarden.core.conditions import format_time
from jobwarden.engine.port import JSON, KubeApiError

SAR = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
SELF_SUBJECT_REVIEW = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
DELETE_FINALIZERS = "$deleteFromPrimitiveList/finalizers"


class Call(NamedTuple):
    """One request as the fake received it."""

    method: str
    path: str
    body: Any


class Change(NamedTuple):
    """One change of a stored object, as a watch event."""

    type: str  # ADDED, MODIFIED, DELETED
    path: str
    object: JSON


class Crash(Exception):  # noqa: N818 - what it simulates
    """Raised by a request `fail(..., after_write=True)` made: the write is stored, the
    caller never learns it (the operator died right after it)."""


@dataclass
class _Fault:
    method: str
    path: str
    error: Callable[[], BaseException]
    times: int
    after_write: bool
    when: Callable[[Any], bool] | None

    def matches(self, method: str, path: str, body: Any) -> bool:
        return (
            self.times > 0
            and method == self.method
            and (path == self.path or path.startswith(self.path.rstrip("/") + "/"))
            and (self.when is None or self.when(body))
        )


def api_error(method: str, path: str, status: int, reason: str, message: str = "") -> KubeApiError:
    """What the API server answers with a Status of `reason`."""
    body = json.dumps({"kind": "Status", "reason": reason, "message": message or reason})
    return KubeApiError(method, path, status, body)


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (what `kubectl patch --type=merge` does)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def _split(path: str) -> tuple[str, str | None, str, str | None, str | None]:
    """(group prefix, namespace, plural, name, subresource) of a REST path."""
    parts = path.strip("/").split("/")
    width = 2 if parts[0] == "api" else 3
    prefix, rest = "/".join(parts[:width]), parts[width:]
    namespace = None
    if len(rest) >= 2 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    plural = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    return prefix, namespace, plural, name, sub


def _selected(obj: JSON, selector: str | None) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in (selector or "").split(","):
        if not term:
            continue
        key, _, value = term.partition("=")
        if key not in labels or (value and labels[key] != value):
            return False
    return True


@dataclass(eq=False)  # an identity, as a client is (hashable: caches key by it)
class FakeApi:
    """See the module docstring. Implements `jobwarden.engine.port.KubeApi`."""

    clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)
    objects: dict[str, JSON] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    allowed: bool = True  # the answer to every SubjectAccessReview
    username: str = "system:serviceaccount:jobwarden-system:jobwarden"
    before_write: Callable[[], None] | None = None  # runs once, before the next write
    in_flight: int = 0
    most_in_flight: int = 0
    _faults: list[_Fault] = field(default_factory=list)
    _holds: list[tuple[str, str, asyncio.Event]] = field(default_factory=list)
    _version: int = 0
    _uids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # ------------------------------------------------------------- set-up
    def put(self, path: str, body: JSON) -> JSON:
        """Store an object as another client would (no request of ours, not journaled;
        a watch sees it)."""
        stored = copy.deepcopy(body)
        metadata = stored.setdefault("metadata", {})
        metadata.setdefault("uid", f"uid-{next(self._uids)}")
        if metadata.get("resourceVersion"):
            self._version = max(self._version, int(metadata["resourceVersion"]))
        else:
            metadata["resourceVersion"] = self._next_version()
        change = "MODIFIED" if path in self.objects else "ADDED"
        self.objects[path] = stored
        self.changes.append(Change(change, path, copy.deepcopy(stored)))
        return copy.deepcopy(stored)

    def hold(self, method: str, path: str) -> asyncio.Event:
        """Requests of `method` on `path` wait (journaled, unanswered) until the
        returned Event is set: what else happens meanwhile shows the order of steps."""
        gate = asyncio.Event()
        self._holds.append((method, path, gate))
        return gate

    async def settle(self, rounds: int = 20) -> None:
        """Let every task that can run, run (what waits on a held request stays)."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    def fail(
        self,
        method: str,
        path: str,
        error: BaseException | Callable[[], BaseException] | None = None,
        *,
        times: int = 1,
        after_write: bool = False,
        when: Callable[[Any], bool] | None = None,
    ) -> None:
        """The next `times` requests of `method` on `path` (or below it) whose body
        satisfies `when` raise `error` (default: a 500). With `after_write` the write is
        stored first and then `error` (default: `Crash`) is raised: the caller dies
        having done it, or another writer did it first (409)."""
        if error is None and after_write:
            made: Callable[[], BaseException] = lambda: Crash(f"after {method} {path}")  # noqa: E731
        elif error is None:
            made = lambda: api_error(method, path, 500, "InternalError")  # noqa: E731
        elif isinstance(error, BaseException):
            made = lambda: error  # noqa: E731
        else:
            made = error
        self._faults.append(_Fault(method, path, made, times, after_write, when))

    # ------------------------------------------------------------ reading
    def requests(self, method: str | None = None) -> list[tuple[str, str]]:
        """(method, path) of every request so far (of `method` only, if given)."""
        return [(c.method, c.path) for c in self.calls if method is None or c.method == method]

    def get_object(self, path: str) -> JSON | None:
        """A stored object (a copy), or None."""
        found = self.objects.get(path)
        return copy.deepcopy(found) if found is not None else None

    def listed(self, path: str, selector: str | None = None) -> list[JSON]:
        """The stored objects of a collection path, by path (copies)."""
        prefix, namespace, plural, _, _ = _split(path)
        items = []
        for key in sorted(self.objects):
            p, ns, pl, name, sub = _split(key)
            if (p, pl) != (prefix, plural) or name is None or sub is not None:
                continue
            if namespace is not None and ns != namespace:
                continue
            if _selected(self.objects[key], selector):
                items.append(copy.deepcopy(self.objects[key]))
        return items

    # ------------------------------------------------------------- the port
    async def get(self, path: str, **params: str) -> JSON:
        """Read an object or list a collection."""
        async with self._request("GET", path, None):
            if path in self.objects:
                return copy.deepcopy(self.objects[path])
            if _split(path)[3] is None:
                return {"items": self.listed(path, params.get("labelSelector")), "metadata": {}}
            raise api_error("GET", path, 404, "NotFound", f"{path} not found")

    async def list_pages(
        self, path: str, page_size: int = 500, **params: str
    ) -> AsyncIterator[JSON]:
        """The items of a collection (one page: the fake holds few objects)."""
        page = await self.get(path, **params)
        for item in page.get("items", []):
            yield item

    async def create(self, path: str, body: JSON, *, dry_run: bool = False) -> JSON:
        """POST into a collection (`dry_run`: answered, not stored)."""
        async with self._request("POST", path, body) as commit:
            if path == SAR:
                return {**copy.deepcopy(body), "status": {"allowed": self.allowed}}
            if path == SELF_SUBJECT_REVIEW:
                return {**copy.deepcopy(body), "status": {"userInfo": {"username": self.username}}}
            stored = copy.deepcopy(body)
            metadata = stored.setdefault("metadata", {})
            if not metadata.get("name") and metadata.get("generateName"):
                metadata["name"] = f"{metadata['generateName']}{next(self._uids):05d}"
            target = f"{path}/{metadata['name']}"
            if target in self.objects:
                raise api_error("POST", path, 409, "AlreadyExists", f"{target} already exists")
            if dry_run:
                return stored
            metadata.setdefault("namespace", _split(path)[1])
            metadata.setdefault("uid", f"uid-{next(self._uids)}")
            metadata.setdefault("creationTimestamp", format_time(self.clock()))
            metadata["resourceVersion"] = self._next_version()
            metadata.setdefault("generation", 1)
            return commit(target, stored, "ADDED")

    async def replace(self, path: str, body: JSON) -> JSON:
        """PUT, conditional on the resourceVersion sent."""
        async with self._request("PUT", path, body) as commit:
            stored = self.objects.get(path)
            sent = (body.get("metadata") or {}).get("resourceVersion")
            if stored is None:
                raise api_error("PUT", path, 404, "NotFound")
            if sent is not None and sent != stored["metadata"].get("resourceVersion"):
                raise api_error("PUT", path, 409, "Conflict", "the object has been modified")
            replaced = copy.deepcopy(body)
            metadata = replaced.setdefault("metadata", {})
            metadata["uid"] = stored["metadata"].get("uid")
            metadata["resourceVersion"] = self._next_version(stored["metadata"]["resourceVersion"])
            return commit(path, replaced, "MODIFIED")

    async def merge_patch(self, path: str, body: JSON) -> JSON:
        """RFC 7386; on `/status` only the status changes."""
        async with self._request("PATCH", path, body) as commit:
            target, stored = self._target("PATCH", path)
            if path.endswith("/status"):
                patched = {**stored, "status": merge(stored.get("status"), body.get("status"))}
            else:
                patched = merge(stored, body)
            return commit(target, self._bump(stored, patched), "MODIFIED")

    async def strategic_merge_patch(self, path: str, body: JSON) -> JSON:
        """A merge patch with the finalizer directive; `metadata.uid` is a precondition."""
        async with self._request("PATCH", path, body) as commit:
            target, stored = self._target("PATCH", path)
            patch = copy.deepcopy(body)
            metadata = patch.get("metadata") or {}
            uid = metadata.pop("uid", None)
            if uid is not None and uid != stored["metadata"].get("uid"):
                raise api_error("PATCH", path, 409, "Conflict", "Precondition failed: UID")
            removed = set(metadata.pop(DELETE_FINALIZERS, []))
            patched = merge(stored, patch)
            if removed:
                kept = [f for f in patched["metadata"].get("finalizers", []) if f not in removed]
                patched["metadata"]["finalizers"] = kept
            return commit(target, self._bump(stored, patched), "MODIFIED")

    async def delete(
        self,
        path: str,
        *,
        grace_period_seconds: int | None = None,
        uid: str | None = None,
        propagation: str | None = None,
    ) -> JSON:
        """Delete, or mark for deletion (finalizers, or a pod's grace period)."""
        options = {"gracePeriodSeconds": grace_period_seconds, "uid": uid}
        async with self._request("DELETE", path, options) as commit:
            target, stored = self._target("DELETE", path)
            if uid is not None and uid != stored["metadata"].get("uid"):
                raise api_error("DELETE", path, 409, "Conflict", "Precondition failed: UID")
            grace = grace_period_seconds if grace_period_seconds is not None else 30
            is_pod = _split(path)[2] == "pods"
            metadata = stored["metadata"]
            if metadata.get("finalizers") or (is_pod and grace > 0):
                marked = copy.deepcopy(stored)
                deadline = self.clock() + datetime.timedelta(seconds=grace if is_pod else 0)
                if "deletionTimestamp" not in metadata or grace == 0:
                    marked["metadata"]["deletionTimestamp"] = format_time(deadline)
                    marked["metadata"]["deletionGracePeriodSeconds"] = grace if is_pod else 0
                return commit(target, self._bump(stored, marked), "MODIFIED")
            return commit(target, stored, "DELETED")

    async def close(self) -> None:
        """Nothing to release."""

    # ------------------------------------------------------------- the works
    def _next_version(self, at_least: object = None) -> str:
        try:
            floor = int(str(at_least))
        except ValueError:
            floor = 0
        self._version = max(self._version, floor) + 1
        return str(self._version)

    def _bump(self, before: JSON, after: JSON) -> JSON:
        after = copy.deepcopy(after)
        after["metadata"]["resourceVersion"] = self._next_version(
            before["metadata"].get("resourceVersion")
        )
        return after

    def _target(self, method: str, path: str) -> tuple[str, JSON]:
        target = path[: -len("/status")] if path.endswith("/status") else path
        stored = self.objects.get(target)
        if stored is None:
            raise api_error(method, path, 404, "NotFound", f"{target} not found")
        return target, copy.deepcopy(stored)

    def _request(self, method: str, path: str, body: Any) -> _Request:
        return _Request(self, method, path, body)

    def _commit(self, path: str, obj: JSON, change: str) -> JSON:
        metadata = obj.get("metadata") or {}
        if (
            change == "MODIFIED"
            and metadata.get("deletionTimestamp")
            and not metadata.get("finalizers")
            and (metadata.get("deletionGracePeriodSeconds") == 0 or _split(path)[2] != "pods")
        ):
            change = "DELETED"
        if change == "DELETED":
            self.objects.pop(path, None)
        else:
            self.objects[path] = obj
        self.changes.append(Change(change, path, copy.deepcopy(obj)))
        return copy.deepcopy(obj)


class _Request:
    """One request's life: journal, yield, faults, then the answer (see FakeApi)."""

    def __init__(self, api: FakeApi, method: str, path: str, body: Any) -> None:
        self.api, self.method, self.path, self.body = api, method, path, body
        self.crash: BaseException | None = None

    async def __aenter__(self) -> Callable[[str, JSON, str], JSON]:
        api = self.api
        api.calls.append(Call(self.method, self.path, copy.deepcopy(self.body)))
        api.in_flight += 1
        api.most_in_flight = max(api.most_in_flight, api.in_flight)
        try:
            await self._arrive()
        except BaseException:
            api.in_flight -= 1
            raise
        return self._commit

    async def _arrive(self) -> None:
        api = self.api
        for method, path, gate in api._holds:
            if (method, path) == (self.method, self.path):
                await gate.wait()
        await asyncio.sleep(0)  # as real I/O: let other tasks run first
        for fault in api._faults:
            if fault.matches(self.method, self.path, self.body):
                fault.times -= 1
                if not fault.after_write:
                    raise fault.error()
                self.crash = fault.error()
                break
        if self.method != "GET" and api.before_write is not None:
            hook, api.before_write = api.before_write, None
            hook()

    def _commit(self, path: str, obj: JSON, change: str) -> JSON:
        written = self.api._commit(path, obj, change)
        if self.crash is not None:
            raise self.crash
        return written

    async def __aexit__(self, *_: object) -> None:
        self.api.in_flight -= 1
