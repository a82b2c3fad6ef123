"""The worker pod of an attempt: name, labels, owner, finalizer, env, policies."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from jobwarden.api import constants as c
from jobwarden.core.observed import TRACKING_FINALIZER, PodView
from jobwarden.core.podspec import (
    EXPORT_SCRATCH_VOLUME,
    EXPORT_VOLUME_ROOT,
    EXPORT_WORKER_MODULE,
    TemplateMissingError,
    export_template,
    run_template,
    worker_pod,
)
from tests.unit.factories import NAMESPACE, RUN, RUN_UID, run_body

IMAGE = "ghcr.io/example/worker:1.2"
TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "report"}, "annotations": {"team": "data"}},
    "spec": {"containers": [{"name": "main", "image": IMAGE, "args": ["--all"]}]},
}
IDENTITY = [
    "JOBWARDEN_RUN_NAME",
    "JOBWARDEN_RUN_NAMESPACE",
    "JOBWARDEN_RUN_KIND",
    "JOBWARDEN_RUN_UID",
    "JOBWARDEN_ATTEMPT",
]


def jobrun(template: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return run_body(spec={"template": template or TEMPLATE, **spec})


def env_of(container: dict[str, Any]) -> dict[str, str]:
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names)), f"duplicate env vars: {names}"
    return {e["name"]: e.get("value", "") for e in container["env"]}


@pytest.mark.parametrize("attempt", [1, 2, 11], ids=["attempt 1", "attempt 2", "attempt 11"])
def test_name_labels_owner_and_finalizer(attempt: int) -> None:
    pod = worker_pod(jobrun(), TEMPLATE, attempt)
    meta = pod["metadata"]
    assert (pod["apiVersion"], pod["kind"]) == ("v1", "Pod")
    assert meta["name"] == f"{RUN}-{attempt}"
    assert meta["namespace"] == NAMESPACE
    assert meta["labels"] == {
        "app": "report",
        c.LABEL_RUN: RUN,
        c.LABEL_RUN_KIND: c.KIND_JOB_RUN,
        c.LABEL_ATTEMPT: str(attempt),
        c.LABEL_TENANT: NAMESPACE,
    }
    assert meta["annotations"] == {"team": "data"}
    assert meta["finalizers"] == [TRACKING_FINALIZER]
    assert meta["ownerReferences"] == [
        {
            "apiVersion": c.API_VERSION,
            "kind": c.KIND_JOB_RUN,
            "name": RUN,
            "uid": RUN_UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_the_projection_of_the_pod_reads_back_what_was_built() -> None:
    body = worker_pod(jobrun(), TEMPLATE, 2)
    view = PodView.from_body(body)
    assert (view.name, view.attempt, view.tracked, view.alive) == (f"{RUN}-2", 2, True, True)


def test_template_labels_cannot_override_the_operator_labels() -> None:
    template = copy.deepcopy(TEMPLATE)
    template["metadata"]["labels"] = {c.LABEL_RUN: "someone-else", c.LABEL_ATTEMPT: "9"}
    labels = worker_pod(jobrun(template), template, 1)["metadata"]["labels"]
    assert labels[c.LABEL_RUN] == RUN
    assert labels[c.LABEL_ATTEMPT] == "1"


def test_scheduled_job_label_is_carried_over() -> None:
    body = run_body(spec={"template": TEMPLATE}, labels={c.LABEL_SCHEDULED_JOB: "nightly-sj"})
    assert worker_pod(body, TEMPLATE, 1)["metadata"]["labels"][c.LABEL_SCHEDULED_JOB] == (
        "nightly-sj"
    )
    assert c.LABEL_SCHEDULED_JOB not in worker_pod(jobrun(), TEMPLATE, 1)["metadata"]["labels"]


def test_identity_env_in_every_container_without_duplicating_user_values() -> None:
    template: dict[str, Any] = {
        "spec": {
            "containers": [
                {"name": "main", "image": IMAGE},
                {
                    "name": "sidecar",
                    "image": IMAGE,
                    "env": [
                        {"name": "JOBWARDEN_ATTEMPT", "value": "user-set"},
                        {"name": "OTHER", "value": "x"},
                    ],
                },
            ]
        }
    }
    pod = worker_pod(jobrun(template), template, 3)
    main, sidecar = pod["spec"]["containers"]
    assert env_of(main) == {
        "JOBWARDEN_RUN_NAME": RUN,
        "JOBWARDEN_RUN_NAMESPACE": NAMESPACE,
        "JOBWARDEN_RUN_KIND": c.KIND_JOB_RUN,
        "JOBWARDEN_RUN_UID": RUN_UID,
        "JOBWARDEN_ATTEMPT": "3",
    }
    sidecar_env = env_of(sidecar)
    assert sidecar_env["JOBWARDEN_ATTEMPT"] == "user-set"
    assert sidecar_env["OTHER"] == "x"
    assert set(IDENTITY) <= set(sidecar_env)
    # The user's entries come first, in their order.
    assert [e["name"] for e in sidecar["env"]][:2] == ["JOBWARDEN_ATTEMPT", "OTHER"]


def test_env_value_from_entries_are_kept() -> None:
    secret = {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    template: dict[str, Any] = {
        "spec": {"containers": [{"name": "main", "image": IMAGE, "env": [secret]}]}
    }
    container = worker_pod(jobrun(template), template, 1)["spec"]["containers"][0]
    assert container["env"][0] == secret


@pytest.mark.parametrize(
    ("container", "want"),
    [
        pytest.param({"name": "main", "image": IMAGE}, "FallbackToLogsOnError", id="defaulted"),
        pytest.param(
            {"name": "main", "image": IMAGE, "terminationMessagePolicy": "File"},
            "File",
            id="user choice kept",
        ),
    ],
)
def test_termination_message_policy(container: dict[str, Any], want: str) -> None:
    template: dict[str, Any] = {"spec": {"containers": [container]}}
    built = worker_pod(jobrun(template), template, 1)["spec"]["containers"][0]
    assert built["terminationMessagePolicy"] == want


@pytest.mark.parametrize(
    ("template_spec", "spec", "grace"),
    [
        pytest.param({}, {}, 30, id="default grace from the run's default"),
        pytest.param({}, {"cancelGracePeriodSeconds": 5}, 5, id="grace from the run"),
        pytest.param({"terminationGracePeriodSeconds": 90}, {"cancelGracePeriodSeconds": 5},
                     90, id="template's own grace kept"),
        pytest.param({"restartPolicy": "Always"}, {}, 30, id="restartPolicy forced to Never"),
    ],
)  # fmt: skip
def test_pod_policies(template_spec: dict[str, Any], spec: dict[str, Any], grace: int) -> None:
    template: dict[str, Any] = {
        "spec": {"containers": [{"name": "main", "image": IMAGE}], **template_spec}
    }
    pod_spec = worker_pod(jobrun(template, **spec), template, 1)["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    assert pod_spec["terminationGracePeriodSeconds"] == grace


def test_the_template_is_not_modified() -> None:
    template = copy.deepcopy(TEMPLATE)
    worker_pod(jobrun(template), template, 1)
    worker_pod(jobrun(template), template, 2)
    assert template == TEMPLATE


def test_two_builds_are_identical() -> None:
    assert worker_pod(jobrun(), TEMPLATE, 1) == worker_pod(jobrun(), TEMPLATE, 1)


# ------------------------------------------------------------------ templates
def test_run_template_from_the_spec() -> None:
    body = jobrun()
    template = run_template(body)
    assert template == TEMPLATE
    template["spec"]["containers"][0]["image"] = "changed"
    assert body["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE


def test_run_template_from_the_scheduled_job_snapshot() -> None:
    body = run_body(spec={}, status={"snapshot": {"template": TEMPLATE}})
    assert run_template(body) == TEMPLATE


def test_run_template_prefers_the_spec() -> None:
    other = {"spec": {"containers": [{"name": "old", "image": "old"}]}}
    body = run_body(spec={"template": TEMPLATE}, status={"snapshot": {"template": other}})
    assert run_template(body) == TEMPLATE


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(run_body(spec={}), id="no template, no status"),
        pytest.param(run_body(spec={}, status={"snapshot": {}}), id="empty snapshot"),
        pytest.param(run_body(spec={"template": {}}, status={}), id="empty template"),
        pytest.param({"kind": "JobRun"}, id="no metadata, no spec"),
    ],
)
def test_missing_template(body: dict[str, Any]) -> None:
    with pytest.raises(TemplateMissingError, match="no template"):
        run_template(body)
    assert issubclass(TemplateMissingError, ValueError)


EXPORT_SPEC: dict[str, Any] = {
    "source": {"postgres": {"secretRef": {"name": "db"}}},
    "query": "SELECT 1",
    "format": "csv",
    "destination": {"volume": "out", "path": "x.csv"},
    "volumes": [{"name": "out", "emptyDir": {}}],
}


def test_export_template_defaults() -> None:
    body = run_body(kind=c.KIND_EXPORT, spec=EXPORT_SPEC)
    template = export_template(body, "jobwarden:latest")
    (container,) = template["spec"]["containers"]
    assert container["image"] == "jobwarden:latest"
    assert container["command"] == ["python", "-m", EXPORT_WORKER_MODULE]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert json.loads(env["JOBWARDEN_EXPORT_SPEC"]) == EXPORT_SPEC
    assert env["JOBWARDEN_VOLUME_ROOT"] == EXPORT_VOLUME_ROOT
    assert container["volumeMounts"] == [
        {"name": "out", "mountPath": f"{EXPORT_VOLUME_ROOT}/out"},
        {"name": EXPORT_SCRATCH_VOLUME, "mountPath": "/tmp"},
    ]
    assert template["spec"]["volumes"] == [
        *EXPORT_SPEC["volumes"],
        {"name": EXPORT_SCRATCH_VOLUME, "emptyDir": {}},
    ]
    assert env["TMPDIR"] == "/tmp"
    assert "imagePullPolicy" not in container and "resources" not in container
    assert template["metadata"] == {"labels": {}, "annotations": {}}
    for field in ("nodeSelector", "tolerations", "serviceAccountName"):
        assert field not in template["spec"]


def test_export_template_with_worker_overrides() -> None:
    worker: dict[str, Any] = {
        "image": "registry.example/export:2",
        "imagePullPolicy": "Always",
        "resources": {"limits": {"memory": "1Gi"}},
        "env": [{"name": "LOG_LEVEL", "value": "debug"}],
        "nodeSelector": {"pool": "batch"},
        "tolerations": [{"key": "batch", "operator": "Exists"}],
        "serviceAccountName": "exporter",
        "podLabels": {"cost-center": "42"},
        "podAnnotations": {"note": "x"},
    }
    body = run_body(kind=c.KIND_EXPORT, spec={**EXPORT_SPEC, "worker": worker})
    template = export_template(body, "jobwarden:latest")
    (container,) = template["spec"]["containers"]
    assert container["image"] == "registry.example/export:2"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == {"limits": {"memory": "1Gi"}}
    assert container["env"][-1] == {"name": "LOG_LEVEL", "value": "debug"}
    assert template["spec"]["nodeSelector"] == {"pool": "batch"}
    assert template["spec"]["tolerations"] == [{"key": "batch", "operator": "Exists"}]
    assert template["spec"]["serviceAccountName"] == "exporter"
    assert template["metadata"] == {"labels": {"cost-center": "42"}, "annotations": {"note": "x"}}


def test_export_worker_pod() -> None:
    body = run_body(kind=c.KIND_EXPORT, spec=EXPORT_SPEC)
    pod = worker_pod(body, export_template(body, "jobwarden:latest"), 1)
    assert pod["metadata"]["name"] == f"{RUN}-1"
    assert pod["metadata"]["labels"][c.LABEL_RUN_KIND] == c.KIND_EXPORT
    assert pod["metadata"]["ownerReferences"][0]["kind"] == c.KIND_EXPORT
    (container,) = pod["spec"]["containers"]
    env = env_of(container)
    assert env["JOBWARDEN_RUN_KIND"] == c.KIND_EXPORT
    assert "JOBWARDEN_EXPORT_SPEC" in env
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert pod["spec"]["restartPolicy"] == "Never"


def test_the_export_worker_meets_the_restricted_pod_security_standard() -> None:
    """What PodSecurity "restricted" checks (the integration test has the API server
    itself judge the same pod in a namespace that enforces it)."""
    body = run_body(kind=c.KIND_EXPORT, spec=EXPORT_SPEC)
    pod = worker_pod(body, export_template(body, "jobwarden:latest"), 1)
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = spec["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["readOnlyRootFilesystem"] is True
    allowed = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
               "persistentVolumeClaim", "projected", "secret"}  # fmt: skip
    for volume in spec["volumes"]:
        assert set(volume) - {"name"} <= allowed, volume
    assert not any(k in spec for k in ("hostNetwork", "hostPID", "hostIPC"))
