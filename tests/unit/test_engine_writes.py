"""The engine's writes, through a fake of its API port: a refused pod create is
reported as what the API server said and the decision made with it is applied (one
status write, no exception, no loop, the slot kept or freed as it says); a run just
admitted is written once it starts (or after a few seconds), not twice."""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
from collections.abc import Mapping
from typing import Any

import pytest

from jobwarden.api import constants as c
from jobwarden.core.lifecycle import START_QUIET_SECONDS
from jobwarden.engine import reconciler
from jobwarden.engine.kube import JSON, Kube, KubeApiError
from jobwarden.engine.reconciler import Engine, EngineConfig
from tests.unit.factories import NAMESPACE, T0, pod_body, run_body

KEY = (c.KIND_JOB_RUN, NAMESPACE, "r")
PODS = f"/api/v1/namespaces/{NAMESPACE}/pods"
QUOTA = {"reason": "Forbidden", "message": 'pods "r-1" is forbidden: exceeded quota: q'}
PSA = {"reason": "Forbidden", "message": 'pods "r-1" is forbidden: violates PodSecurity'}


class FakeKube(Kube):
    """Pod creates fail as told (or succeed); status patches are stored and echoed."""

    def __init__(self, pod_error: BaseException | None) -> None:
        super().__init__()
        self.pod_error = pod_error
        self.sent: list[tuple[str, str]] = []
        self.run = run_body("r", spec={"template": {"spec": {"containers": [{"name": "w"}]}}})

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: JSON | list[JSON] | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        _retried: bool = False,
    ) -> JSON:
        self.sent.append((method, path))
        if method == "POST" and path == PODS:
            if self.pod_error is not None:
                raise self.pod_error
            assert isinstance(body, dict)
            return copy.deepcopy(body)
        if method == "PATCH" and path.endswith("/status"):
            assert isinstance(body, dict)
            status = {**(self.run.get("status") or {}), **copy.deepcopy(body["status"])}
            self.run = {**self.run, "status": {k: v for k, v in status.items() if v is not None}}
            self.run["metadata"] = {**self.run["metadata"], "resourceVersion": "1001"}
            return copy.deepcopy(self.run)
        return {}


async def _reconcile(
    error: BaseException, monkeypatch: pytest.MonkeyPatch
) -> tuple[Engine, FakeKube]:
    async def no_identity(*_: Any) -> None:
        return None

    monkeypatch.setattr(reconciler, "ensure_worker_identity", no_identity)
    kube = FakeKube(error)
    engine = Engine(kube, EngineConfig(operator_username="op"), clock=lambda: T0)
    engine.store.put_run(kube.run)
    await engine.reconcile_run(KEY)
    return engine, kube


def _api_error(status: int, answer: dict[str, str]) -> KubeApiError:
    return KubeApiError("POST", PODS, status, json.dumps(answer))


@pytest.mark.parametrize(
    ("error", "phase", "reason", "holds"),
    [
        pytest.param(_api_error(403, QUOTA), "Starting", "PodCreateRefused", True,
                     id="exceeded quota: recorded, backing off, slot kept"),
        pytest.param(TimeoutError(), "Starting", "PodCreateRefused", True,
                     id="no answer: transient"),
        pytest.param(_api_error(403, PSA), "Failed", "PodRejected", False,
                     id="PodSecurity: Failed at once, slot freed"),
    ],
)  # fmt: skip
def test_a_refused_create_is_decided_again_with_what_the_api_said(
    error: BaseException, phase: str, reason: str, holds: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, kube = asyncio.run(_reconcile(error, monkeypatch))
    assert kube.sent.count(("POST", PODS)) == 1, "one create per reconcile, not a loop"
    assert [m for m, p in kube.sent if p.endswith("/status")] == ["PATCH"], "one status write"
    status = kube.run["status"]
    assert (status["phase"], status["reason"]) == (phase, reason)
    view = engine.store.run(KEY)
    assert view is not None and engine.slots.holds(view) is holds
    if holds:
        assert status["attempts"][0]["createRefusals"] == 1
        assert KEY in engine.queue._due, "woken again for the retry"
    else:
        assert ("namespace", NAMESPACE) in engine.queue._dirty, "the freed slot is offered"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime.datetime:
        return self.now


def _started_pod(kube: FakeKube) -> JSON:
    return pod_body(1, run="r", created=T0, running_since=T0, labels={
        c.LABEL_RUN: "r", c.LABEL_RUN_KIND: c.KIND_JOB_RUN, c.LABEL_ATTEMPT: "1"})  # fmt: skip


def test_an_admission_is_written_with_the_start_of_its_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def story() -> FakeKube:
        async def no_identity(*_: Any) -> None:
            return None

        monkeypatch.setattr(reconciler, "ensure_worker_identity", no_identity)
        kube, clock = FakeKube(None), Clock()
        engine = Engine(kube, EngineConfig(operator_username="op"), clock=clock)
        engine.store.put_run(kube.run)
        await engine.reconcile_run(KEY)
        assert kube.sent.count(("POST", PODS)) == 1
        assert not any(p.endswith("/status") for _, p in kube.sent), "not written yet"
        assert engine.slots.holds(engine.store.run(KEY))  # type: ignore[arg-type]
        clock.now = T0 + datetime.timedelta(seconds=1)
        await engine.reconcile_run(KEY)
        assert kube.sent.count(("POST", PODS)) == 1, "not admitted (or created) twice"
        engine.store.put_pod(_started_pod(kube))
        await engine.reconcile_run(KEY)
        return kube

    kube = asyncio.run(story())
    assert [m for m, p in kube.sent if p.endswith("/status")] == ["PATCH"]
    status = kube.run["status"]
    assert status["phase"] == "Running"
    assert status["attempts"][0]["podName"] == "r-1"
    assert status["attempts"][0]["startTime"] == "2025-03-01T12:00:00.000000Z"


def test_a_slow_start_is_written_as_starting_after_a_few_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def story() -> FakeKube:
        async def no_identity(*_: Any) -> None:
            return None

        monkeypatch.setattr(reconciler, "ensure_worker_identity", no_identity)
        kube, clock = FakeKube(None), Clock()
        engine = Engine(kube, EngineConfig(operator_username="op"), clock=clock)
        engine.store.put_run(kube.run)
        await engine.reconcile_run(KEY)
        assert KEY in engine.queue._due, "woken when the status is due"
        clock.now = T0 + datetime.timedelta(seconds=START_QUIET_SECONDS)
        await engine.reconcile_run(KEY)
        return kube

    kube = asyncio.run(story())
    assert [m for m, p in kube.sent if p.endswith("/status")] == ["PATCH"]
    assert kube.run["status"]["phase"] == "Starting"
    assert kube.run["status"]["attempt"] == 1
