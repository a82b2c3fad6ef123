"""The engine's writes, through a fake of its API port: a refused pod create is
reported as what the API server said and the decision made with it is applied (one
status write, no exception, no loop, the slot kept or freed as it says); a run just
admitted is written once it starts (or after a few seconds), not twice."""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

import pytest

from jobwarden.api import constants as c
from jobwarden.api.paths import object_path
from jobwarden.core.lifecycle import START_QUIET_SECONDS
from jobwarden.engine import reconciler
from jobwarden.engine.port import JSON, KubeApiError
from jobwarden.engine.reconciler import Engine, EngineConfig
from tests.support.fakeapi import FakeApi
from tests.unit.factories import NAMESPACE, T0, pod_body, run_body

KEY = (c.KIND_JOB_RUN, NAMESPACE, "r")
PODS = f"/api/v1/namespaces/{NAMESPACE}/pods"
QUOTA = {"reason": "Forbidden", "message": 'pods "r-1" is forbidden: exceeded quota: q'}
PSA = {"reason": "Forbidden", "message": 'pods "r-1" is forbidden: violates PodSecurity'}


RUN = object_path(c.KIND_JOB_RUN, NAMESPACE, "r")


def _api(pod_error: BaseException | None) -> FakeApi:
    """The run `r` stored; its pod creates fail with `pod_error` (or succeed)."""
    api = FakeApi(clock=lambda: T0)
    api.put(RUN, run_body("r", spec={"template": {"spec": {"containers": [{"name": "w"}]}}}))
    if pod_error is not None:
        api.fail("POST", PODS, pod_error)
    return api


def _status(api: FakeApi) -> JSON:
    status: JSON = api.objects[RUN]["status"]
    return status


async def _reconcile(
    error: BaseException, monkeypatch: pytest.MonkeyPatch
) -> tuple[Engine, FakeApi]:
    async def no_identity(*_: Any) -> None:
        return None

    monkeypatch.setattr(reconciler, "ensure_worker_identity", no_identity)
    kube = _api(error)
    engine = Engine(kube, EngineConfig(operator_username="op"), clock=lambda: T0)
    engine.store.put_run(kube.objects[RUN])
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
    assert kube.requests().count(("POST", PODS)) == 1, "one create per reconcile, not a loop"
    assert [m for m, p in kube.requests() if p.endswith("/status")] == ["PATCH"], "one status write"
    status = _status(kube)
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


def _started_pod() -> JSON:
    return pod_body(1, run="r", created=T0, running_since=T0, run_kind=c.KIND_JOB_RUN)


def test_an_admission_is_written_with_the_start_of_its_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def story() -> FakeApi:
        async def no_identity(*_: Any) -> None:
            return None

        monkeypatch.setattr(reconciler, "ensure_worker_identity", no_identity)
        kube, clock = _api(None), Clock()
        engine = Engine(kube, EngineConfig(operator_username="op"), clock=clock)
        engine.store.put_run(kube.objects[RUN])
        await engine.reconcile_run(KEY)
        assert kube.requests().count(("POST", PODS)) == 1
        assert not any(p.endswith("/status") for _, p in kube.requests()), "not written yet"
        assert engine.slots.holds(engine.store.run(KEY))  # type: ignore[arg-type]
        clock.now = T0 + datetime.timedelta(seconds=1)
        await engine.reconcile_run(KEY)
        assert kube.requests().count(("POST", PODS)) == 1, "not admitted (or created) twice"
        engine.store.put_pod(_started_pod())
        await engine.reconcile_run(KEY)
        return kube

    kube = asyncio.run(story())
    assert [m for m, p in kube.requests() if p.endswith("/status")] == ["PATCH"]
    status = _status(kube)
    assert status["phase"] == "Running"
    assert status["attempts"][0]["podName"] == "r-1"
    assert status["attempts"][0]["startTime"] == "2025-03-01T12:00:00.000000Z"


def test_a_slow_start_is_written_as_starting_after_a_few_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def story() -> FakeApi:
        async def no_identity(*_: Any) -> None:
            return None

        monkeypatch.setattr(reconciler, "ensure_worker_identity", no_identity)
        kube, clock = _api(None), Clock()
        engine = Engine(kube, EngineConfig(operator_username="op"), clock=clock)
        engine.store.put_run(kube.objects[RUN])
        await engine.reconcile_run(KEY)
        assert KEY in engine.queue._due, "woken when the status is due"
        clock.now = T0 + datetime.timedelta(seconds=START_QUIET_SECONDS)
        await engine.reconcile_run(KEY)
        return kube

    kube = asyncio.run(story())
    assert [m for m, p in kube.requests() if p.endswith("/status")] == ["PATCH"]
    assert _status(kube)["phase"] == "Starting"
    assert _status(kube)["attempt"] == 1
