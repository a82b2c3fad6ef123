"""A burst of runs with one worker pod is dry-run once (`webhooks.dryruns`): keys
that tell apart what the API server could answer differently, an expiry, and the
runtime asking again after a refusal."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from jobwarden.core.podspec import build_worker_pod
from jobwarden.settings import OperatorConfig
from jobwarden.webhooks.dryruns import AcceptedPods, pod_key
from jobwarden.webhooks.runtime import AdmissionRuntime
from tests.support.fakeapi import FakeApi, api_error
from tests.unit.factories import NAMESPACE, run_body

PODS = f"/api/v1/namespaces/{NAMESPACE}/pods"
TEMPLATE = {"spec": {"containers": [{"name": "main", "image": "registry.example/w:1"}]}}


def _run(name: str, uid: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    return run_body(name, uid=uid, spec={"template": copy.deepcopy(template or TEMPLATE)})


def _key(run: dict[str, Any], namespace: str = NAMESPACE) -> str:
    manifest = build_worker_pod(run, 1, "registry.example/jobwarden:1")
    manifest["metadata"]["generateName"] = manifest["metadata"].pop("name") + "-"
    metadata = run["metadata"]
    return pod_key(namespace, manifest, name=metadata["name"], uid=metadata["uid"])


def test_runs_that_differ_only_in_their_own_name_and_uid_share_a_key() -> None:
    assert _key(_run("report-0001", "uid-1")) == _key(_run("report-0002", "uid-2"))


def _template(image: str = "registry.example/w:1", *args: str) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": image}
    if args:
        container["args"] = list(args)
    return {"spec": {"containers": [container]}}


@pytest.mark.parametrize(
    ("case", "first", "second"),
    [
        (
            "another image",
            _run("report-0001", "uid-1", _template("registry.example/w:1")),
            _run("report-0002", "uid-2", _template("registry.example/w:2")),
        ),
        (
            "a longer name (label values have a limit)",
            _run("report-0001", "uid-1"),
            _run("report-00002", "uid-2"),
        ),
        (
            "a dot in the name (not a DNS label)",
            _run("report-0001", "uid-1"),
            _run("report.0002", "uid-2"),
        ),
        (
            "the name inside a longer value is not the name",
            _run("report-0001", "uid-1", _template("w:1", "--for", "report-0001-x")),
            _run("report-0002", "uid-2", _template("w:1", "--for", "report-0002-x")),
        ),
    ],
)
def test_what_the_api_server_could_answer_differently_gets_another_key(
    case: str, first: dict[str, Any], second: dict[str, Any]
) -> None:
    assert _key(first) != _key(second), case


def test_another_namespace_gets_another_key() -> None:
    run = _run("report-0001", "uid-1")
    assert _key(run, "team-a") != _key(run, "team-b")


def test_an_acceptance_is_kept_for_the_ttl_only_and_the_oldest_goes_first() -> None:
    now = [100.0]
    accepted = AcceptedPods(10.0, size=2, clock=lambda: now[0])
    accepted.accepted("a")
    now[0] += 9.9
    assert "a" in accepted
    now[0] += 0.1
    assert "a" not in accepted
    for key in ("b", "c", "d"):
        accepted.accepted(key)
    assert ("b" in accepted, "c" in accepted, "d" in accepted) == (False, True, True)


def test_a_ttl_of_zero_keeps_nothing() -> None:
    accepted = AcceptedPods(0.0)
    accepted.accepted("a")
    assert "a" not in accepted


def _runtime(tmp_path: Path, seconds: float) -> tuple[AdmissionRuntime, FakeApi]:
    api = FakeApi()
    config = OperatorConfig(
        webhook_cert_dir=str(tmp_path), webhook_pod_dry_run_cache_seconds=seconds
    )
    return AdmissionRuntime(config, api), api


def _dry_runs(api: FakeApi) -> int:
    return sum(1 for method, path in api.requests("POST") if path == PODS)


def test_a_burst_of_runs_from_one_template_is_dry_run_once(tmp_path: Path) -> None:
    runtime, api = _runtime(tmp_path, 10.0)

    async def burst() -> list[Any]:
        return [
            await runtime.dry_run_worker_pod(NAMESPACE, _run(f"report-{i:04d}", f"uid-{i}"))
            for i in range(50)
        ]

    assert asyncio.run(burst()) == [None] * 50
    # The first dry run of a namespace's first run asks twice: the worker
    # ServiceAccount does not exist yet, so the pod is tried with `default`.
    assert _dry_runs(api) <= 2


def test_a_refusal_is_asked_again_every_time(tmp_path: Path) -> None:
    runtime, api = _runtime(tmp_path, 10.0)
    forbidden = api_error("POST", PODS, 403, "Forbidden", "violates PodSecurity")
    api.fail("POST", PODS, forbidden, times=2)

    async def twice() -> list[Any]:
        return [
            await runtime.dry_run_worker_pod(NAMESPACE, _run(f"report-{i:04d}", f"uid-{i}"))
            for i in range(2)
        ]

    first, second = asyncio.run(twice())
    assert first is not None and first.status == 403
    assert second is not None and second.status == 403
    assert _dry_runs(api) == 2


def test_with_the_cache_off_every_run_is_dry_run(tmp_path: Path) -> None:
    runtime, api = _runtime(tmp_path, 0.0)

    async def three() -> None:
        for i in range(3):
            await runtime.dry_run_worker_pod(NAMESPACE, _run(f"report-{i:04d}", f"uid-{i}"))

    asyncio.run(three())
    assert _dry_runs(api) >= 3


def test_the_cache_time_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBWARDEN_WEBHOOK_POD_DRY_RUN_CACHE_SECONDS", "2.5")
    assert OperatorConfig.from_env().webhook_pod_dry_run_cache_seconds == 2.5
    monkeypatch.setenv("JOBWARDEN_WEBHOOK_POD_DRY_RUN_CACHE_SECONDS", "-1")
    with pytest.raises(ValueError, match="must be at least 0"):
        OperatorConfig.from_env()
