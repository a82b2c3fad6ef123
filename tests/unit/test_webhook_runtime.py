"""The webhooks' I/O layer against a fake API: the certificate Secret (create, keep,
replace garbage, lose a race), SubjectAccessReviews, and the question loop."""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import io
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from devcluster.install import webhook_port
from jobwarden.api.enums import AuditAction, Guard, RunPhase
from jobwarden.core.plan import Audit
from jobwarden.engine.audit import AuditLog
from jobwarden.engine.port import JSON
from jobwarden.settings import OperatorConfig
from jobwarden.webhooks import certs
from jobwarden.webhooks.decisions import AccessReview, Request, User, Verdict
from jobwarden.webhooks.runtime import AdmissionRuntime, AdmissionServer, request_from
from tests.support.fakeapi import FakeApi
from tests.unit.factories import make_run

SECRET = "/api/v1/namespaces/jobwarden-system/secrets/jobwarden-webhook-tls"
SECRETS = "/api/v1/namespaces/jobwarden-system/secrets"
SAR = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
NOW = datetime.datetime.now(datetime.UTC)


@pytest.fixture
def runtime(tmp_path: Path) -> AdmissionRuntime:
    config = OperatorConfig(webhook_address="127.0.0.1", webhook_cert_dir=str(tmp_path))
    return AdmissionRuntime(config, FakeApi())


def fake(runtime: AdmissionRuntime) -> FakeApi:
    assert isinstance(runtime.kube, FakeApi)
    return runtime.kube


def writes(kube: FakeApi) -> list[str]:
    return [method for method, path, _ in kube.calls if method != "GET" and "secrets" in path]


def test_the_first_replica_creates_the_secret_and_the_files(runtime: AdmissionRuntime) -> None:
    kube = fake(runtime)
    state = asyncio.run(runtime.sync_certificates(NOW))
    assert writes(kube) == ["POST"]
    assert set(kube.objects[SECRET]["data"]) == {"tls.crt", "tls.key", "ca.crt", "ca.key"}
    assert runtime.files.ca is not None
    assert runtime.files.ca.read_bytes() == certs.ca_bundle_pem(state)
    assert runtime.files.cert.read_bytes() == certs.serving_pem(state)

    again = asyncio.run(runtime.sync_certificates(NOW))  # another replica, or a restart
    assert writes(kube) == ["POST"] and again.cert == state.cert


def test_garbage_in_the_secret_is_replaced(runtime: AdmissionRuntime) -> None:
    kube = fake(runtime)
    kube.objects[SECRET] = {
        "metadata": {"name": "jobwarden-webhook-tls", "resourceVersion": "7"},
        "data": {"tls.crt": base64.b64encode(b"junk").decode()},
    }
    asyncio.run(runtime.sync_certificates(NOW))
    assert writes(kube) == ["PUT"]
    assert certs.from_secret_data(kube.objects[SECRET]["data"]) is not None


def test_a_replica_that_loses_the_race_uses_the_winners_certificate(
    runtime: AdmissionRuntime, tmp_path: Path
) -> None:
    kube = fake(runtime)
    winner, _ = certs.rotate(None, ["127.0.0.1"], NOW)

    def other_replica_writes_first() -> None:
        kube.objects[SECRET] = {
            "metadata": {"name": "jobwarden-webhook-tls", "resourceVersion": "99"},
            "data": certs.secret_data(winner),
        }

    kube.before_write = other_replica_writes_first
    state = asyncio.run(runtime.sync_certificates(NOW))
    assert state.cert == winner.cert
    assert runtime.files.cert.read_bytes() == certs.serving_pem(winner)


def test_an_access_review_asks_about_the_requesting_user(runtime: AdmissionRuntime) -> None:
    kube = fake(runtime)
    user = User("bob", "u-1", ("team-a", "system:authenticated"), {"scope": ("x",)})
    review = AccessReview("cancel", "jobruns", "nightly-1")
    assert asyncio.run(runtime.access_review(user, "team-a", review)) is True
    kube.allowed = False
    assert asyncio.run(runtime.access_review(user, "team-a", review)) is False
    _, _, body = kube.calls[0]
    assert body["spec"] == {
        "user": "bob",
        "uid": "u-1",
        "groups": ["team-a", "system:authenticated"],
        "extra": {"scope": ["x"]},
        "resourceAttributes": {
            "namespace": "team-a",
            "verb": "cancel",
            "group": "jobwarden.dev",
            "resource": "jobruns",
            "name": "nightly-1",
        },
    }


def _run_request(user: str, old: JSON) -> Request:
    new = copy.deepcopy(old)
    new["spec"]["cancel"] = True
    new["metadata"]["annotations"]["jobwarden.dev/cancel-requested-by"] = user
    new["metadata"]["annotations"]["jobwarden.dev/cancel-requested-at"] = "2026-01-01T00:00:00Z"
    return request_from(
        operation="UPDATE", body=new, old=old, userinfo={"username": user}, operator="op"
    )


def test_decide_asks_the_api_only_what_it_needs(runtime: AdmissionRuntime) -> None:
    kube = fake(runtime)
    sj = "/apis/jobwarden.dev/v1alpha1/namespaces/team-a/scheduledjobs/nightly"
    kube.objects[sj] = {
        "metadata": {"name": "nightly", "annotations": {"jobwarden.dev/created-by": "alice"}},
        "spec": {},
    }
    old: JSON = {
        "kind": "JobRun",
        "metadata": {
            "name": "nightly-1",
            "namespace": "team-a",
            "annotations": {"jobwarden.dev/created-by": "op"},
        },
        "spec": {"scheduledJobRef": {"name": "nightly"}, "trigger": "Schedule", "cancel": False},
        "status": {"phase": "Running"},
    }
    assert asyncio.run(runtime.decide(_run_request("alice", old))).allowed
    assert [(m, p) for m, p, _ in kube.calls] == [("GET", sj)]
    kube.allowed = False
    verdict = asyncio.run(runtime.decide(_run_request("bob", old)))
    assert not verdict.allowed
    assert [p for _, p, _ in kube.calls[1:]] == [sj, SAR]


def test_request_from_a_create_with_generate_name() -> None:
    body = {"kind": "JobRun", "metadata": {"generateName": "report-", "namespace": "t"}}
    request = request_from(
        operation="CREATE", body=body, old=None, userinfo={"username": "a"}, operator=None
    )
    assert (request.namespace, request.name, request.what) == ("t", "report-*", 'JobRun "report-*"')
    assert not request.trusted


def test_in_a_cluster_the_webhooks_are_called_through_the_service(tmp_path: Path) -> None:
    config = OperatorConfig(webhook_service="jobwarden-webhook", webhook_cert_dir=str(tmp_path))
    server = AdmissionServer(AdmissionRuntime(config, FakeApi()))
    given: Any = {"url": "https://0.0.0.0:9443", "caBundle": "Q0E="}
    assert server._client_config(given) == {
        "service": {"namespace": "jobwarden-system", "name": "jobwarden-webhook", "port": 443},
        "caBundle": "Q0E=",
    }


def test_files_mode_needs_a_directory() -> None:
    with pytest.raises(ValueError, match="JOBWARDEN_WEBHOOK_CERT_DIR"):
        AdmissionRuntime(OperatorConfig(webhook_cert_source="files"), FakeApi())


def test_local_operators_of_one_cluster_share_a_webhook_port(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "operator.kubeconfig"
    kubeconfig.write_text("clusters: [{cluster: {server: 'https://127.0.0.1:40001'}}]\n")
    port = webhook_port(kubeconfig)
    assert webhook_port(kubeconfig) == port  # a replica, or a restart
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as replica:
        replica.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        replica.bind(("127.0.0.1", port))
        replica.listen()
        assert webhook_port(kubeconfig) == port  # held by one of ours: shared
    kubeconfig.write_text("clusters: [{cluster: {server: 'https://127.0.0.1:40002'}}]\n")
    fresh = webhook_port(kubeconfig)  # a new cluster: a port chosen afresh
    assert (tmp_path / "jobwarden-webhook-port").read_text() == f"{fresh} https://127.0.0.1:40002\n"


def test_a_denial_is_audited_in_the_engines_format(runtime: AdmissionRuntime) -> None:
    lines = io.StringIO()
    runtime.audit = AuditLog(lines)
    old: JSON = {"kind": "JobRun", "metadata": {"name": "r", "namespace": "t", "annotations": {}},
                 "spec": {"cancel": False}}  # fmt: skip
    request = _run_request("bob", old)
    runtime.audit_denial(request, Verdict(False, "no", 403, Guard.CANCEL), "uid-1")
    runtime.audit_denial(request, Verdict(False, "invalid", 422), "uid-1")  # not audited
    denial = json.loads(lines.getvalue())
    assert {k: v for k, v in denial.items() if k != "time"} == {
        "audit": True,
        "action": "cancel-denied",
        "namespace": "t",
        "kind": "JobRun",
        "name": "r",
        "uid": "uid-1",
        "user": "bob",
        "outcome": "Denied",
        "detail": "no",
    }
    engine_line = io.StringIO()
    AuditLog(engine_line).write(make_run(), Audit(AuditAction.FINISHED, RunPhase.FAILED))
    assert list(json.loads(engine_line.getvalue())) == [k for k in denial if k != "detail"]
