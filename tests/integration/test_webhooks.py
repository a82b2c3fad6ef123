"""Admission webhooks on the real control plane, acting as the test identities:
alice and bob (group team-a, jobwarden-edit in the test namespace), carol (group
jobwarden-admins: jobwarden-admin everywhere) and admin (system:masters)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from devcluster.cluster import IDENTITIES
from devcluster.install import OPERATOR_NAMESPACE, OperatorProcess
from jobwarden.api.paths import resource_path
from jobwarden.core.scheduling import ScheduleError, parse_schedule
from tests.support import runs
from tests.support.audit import audit_records
from tests.support.cluster import TestCluster
from tests.support.kube import JSON, Kube, KubeError
from tests.support.runs import jobrun, pod_template, sim
from tests.support.wait import wait_until
from tests.unit.test_cronjob_conformance import ACCEPT

pytestmark = pytest.mark.cluster

RBAC = "rbac.authorization.k8s.io/v1"
CREATED_BY = "jobwarden.dev/created-by"
TRIGGERED_BY = "jobwarden.dev/triggered-by"
CANCEL_BY = "jobwarden.dev/cancel-requested-by"
CANCEL_AT = "jobwarden.dev/cancel-requested-at"
OPERATOR_CANCEL = "jobwarden.dev/operator-cancel"
CANCEL_REASON = "jobwarden.dev/cancel-reason"
PLURALS = ("scheduledjobs", "jobruns", "exports", "backfills")


@pytest.fixture
def team(cluster: TestCluster, operator: OperatorProcess, namespace: str) -> str:
    """The test namespace, where group team-a (alice, bob) has jobwarden-edit."""
    _bind(cluster, namespace, "team-a-edit", "jobwarden-edit", group="team-a")
    for user in ("alice", "bob"):
        _wait_can(cluster, user, "create", "jobruns.jobwarden.dev", namespace)
    _wait_can(cluster, "carol", "cancel", "jobruns.jobwarden.dev", namespace)
    return namespace


def _bind(
    cluster: TestCluster,
    namespace: str,
    name: str,
    role: str,
    *,
    group: str | None = None,
    user: str | None = None,
    kind: str = "ClusterRole",
) -> None:
    subject = (
        {"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}
        if group
        else {"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}
    )
    cluster.kube().create(
        resource_path(RBAC, "rolebindings", namespace),
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [subject],
        },
    )


def _wait_can(cluster: TestCluster, user: str, verb: str, resource: str, namespace: str) -> None:
    def allowed() -> bool:
        result = cluster.kubectl(
            "auth", "can-i", verb, resource, "-n", namespace, identity=user, check=False
        )
        return result.stdout.strip() == "yes"

    wait_until(allowed, timeout=15, message=f"{user} may {verb} {resource} in {namespace}")


def _annotations(body: JSON) -> dict[str, str]:
    annotations: dict[str, str] = body["metadata"].get("annotations") or {}
    return annotations


def _denied(call: Any, *args: Any, **kwargs: Any) -> KubeError:
    with pytest.raises(KubeError) as caught:
        call(*args, **kwargs)
    return caught.value


def _cancellation(kube: Kube, namespace: str, name: str, kind: str = "JobRun") -> JSON:
    def recorded() -> JSON | None:
        status = runs.get(kube, namespace, name, kind).get("status", {})
        record: JSON | None = status.get("cancellation")
        return record

    return wait_until(recorded, timeout=20, message=f"status.cancellation of {name}")


def _audit_lines(operator: OperatorProcess, name: str) -> list[JSON]:
    return audit_records(operator.log_path, name)


def scheduledjob(name: str, **spec: Any) -> JSON:
    """A ScheduledJob that fires once a year (so no run appears during a test)."""
    return {
        "apiVersion": runs.API,
        "kind": "ScheduledJob",
        "metadata": {"name": name},
        "spec": {"schedule": "0 0 1 1 *", "template": pod_template(sim()), **spec},
    }


def manual_run(name: str, scheduled_job: str, **spec: Any) -> JSON:
    """A run-now JobRun of a ScheduledJob."""
    return {
        "apiVersion": runs.API,
        "kind": "JobRun",
        "metadata": {"name": name},
        "spec": {"scheduledJobRef": {"name": scheduled_job}, "trigger": "Manual", **spec},
    }


# --------------------------------------------------------------------- cancel
def test_only_the_creator_or_a_cancel_holder_may_cancel(
    cluster: TestCluster, operator: OperatorProcess, team: str
) -> None:
    alice, bob, carol = cluster.kube("alice"), cluster.kube("bob"), cluster.kube("carol")
    created = runs.create(alice, team, jobrun("alices", sim(run_seconds=600)))
    assert _annotations(created)[CREATED_BY] == "alice"
    assert _annotations(created)[TRIGGERED_BY] == "alice"
    runs.wait_phase(alice, team, "alices", "Running")

    error = _denied(runs.cancel, bob, team, "alices")
    assert error.status == 403
    assert 'bob may not cancel JobRun "alices"' in error.message
    assert "only its creator (alice)" in error.message
    assert 'RBAC verb "cancel" on jobruns.jobwarden.dev' in error.message
    assert "jobwarden-admin" in error.message
    assert runs.get(alice, team, "alices")["spec"]["cancel"] is False
    denied = wait_until(
        lambda: [r for r in _audit_lines(operator, "alices") if r["action"] == "cancel-denied"],
        timeout=5,
        message="an audit line for bob's refused cancel",
    )
    assert denied[0]["user"] == "bob" and denied[0]["outcome"] == "Denied"

    cancelled = runs.cancel(alice, team, "alices")
    assert _annotations(cancelled)[CANCEL_BY] == "alice"
    assert _annotations(cancelled)[CANCEL_AT]
    assert _cancellation(alice, team, "alices")["requestedBy"] == "alice"

    runs.create(bob, team, jobrun("bobs", sim(run_seconds=600)))
    runs.wait_phase(bob, team, "bobs", "Running")
    runs.cancel(carol, team, "bobs")
    assert _cancellation(bob, team, "bobs")["requestedBy"] == "carol"
    for name in ("alices", "bobs"):
        runs.wait_phase(alice, team, name, ("Cancelled", "Failed"), timeout=60)


def test_deleting_an_unfinished_run_takes_the_cancel_right_and_stops_it_first(
    cluster: TestCluster, operator: OperatorProcess, team: str
) -> None:
    """bob may not delete alice's running run; alice may, and the delete goes through
    the cancel path (SIGTERM, status.cancellation by alice with reason "deleted", audit
    line) before the object goes. A finished run is deleted by anyone who may delete."""
    alice, bob = cluster.kube("alice"), cluster.kube("bob")
    created = runs.create(
        alice, team, jobrun("doomed", sim(run_seconds=600, sigterm_exit_seconds=1))
    )
    assert "jobwarden.dev/stop-before-delete" in created["metadata"]["finalizers"]
    runs.wait_phase(alice, team, "doomed", "Running")

    error = _denied(bob.delete, runs.path(team, "doomed"))
    assert error.status == 403
    assert 'bob may not delete JobRun "doomed"' in error.message
    assert (
        "only its creator (alice)" in error.message and "stops it as a cancel does" in error.message
    )
    assert runs.get(alice, team, "doomed")["metadata"].get("deletionTimestamp") is None
    wait_until(
        lambda: any(r["action"] == "delete-denied" and r["user"] == "bob"
                    for r in _audit_lines(operator, "doomed")),
        timeout=5,
        message="an audit line for bob's refused delete",
    )  # fmt: skip

    alice.delete(runs.path(team, "doomed"))
    stopping = runs.get(alice, team, "doomed")  # still there: stopped first
    assert stopping["metadata"].get("deletionTimestamp")
    seen: dict[str, Any] = {}

    def stopped_then_gone() -> bool:
        try:
            body = runs.get(alice, team, "doomed")
        except KubeError as error:
            return error.status == 404
        if body.get("status", {}).get("cancellation"):
            seen.update(body["status"])
        return False

    wait_until(stopped_then_gone, timeout=60, message="doomed stopped, then deleted")
    assert seen["cancellation"]["requestedBy"] == "alice"
    assert seen["cancellation"]["reason"] == "deleted"
    actions = [r["action"] for r in _audit_lines(operator, "doomed")]
    assert "cancel-requested" in actions and "cancel-finished" in actions

    runs.create(alice, team, jobrun("brief", sim(run_seconds=0.2)))
    runs.wait_phase(alice, team, "brief", "Succeeded", timeout=30)
    bob.delete(runs.path(team, "brief"))  # finished: nothing to stop
    wait_until(lambda: not alice.exists(runs.path(team, "brief")), timeout=15, message="gone")


def test_cancel_of_a_finished_run_is_denied_with_its_state(cluster: TestCluster, team: str) -> None:
    alice, admin = cluster.kube("alice"), cluster.kube()
    runs.create(alice, team, jobrun("done", sim(run_seconds=0.3)))
    runs.create(alice, team, jobrun("broken", sim(run_seconds=0.3, exit_code=1), retries=0))
    runs.wait_phase(alice, team, "done", "Succeeded")
    runs.wait_phase(alice, team, "broken", "Failed")

    for client in (alice, admin):  # not even an administrator: nothing is left to cancel
        error = _denied(runs.cancel, client, team, "done")
        assert error.status == 409
        assert "not in a cancellable state: Succeeded" in error.message
    error = _denied(runs.cancel, alice, team, "broken")
    assert "not in a cancellable state: Failed" in error.message
    stored = runs.get(admin, team, "done")
    assert stored["spec"]["cancel"] is False
    assert "cancellation" not in stored["status"]
    assert "CancelIgnored" not in runs.event_reasons(admin, team, "done")


def test_cancel_set_again_on_a_finished_run_is_refused_with_its_state(
    cluster: TestCluster, team: str
) -> None:
    """A second `cancel: true` on a run that has ended is a 409 naming its state, as
    any late cancel is (it used to be a silent 200: the patch changed nothing)."""
    alice, admin = cluster.kube("alice"), cluster.kube()
    runs.create(alice, team, jobrun("stopped", sim(run_seconds=600)))
    runs.create(alice, team, runs.export("exported", sim(run_seconds=600)))
    for name, kind in (("stopped", "JobRun"), ("exported", "Export")):
        runs.wait_phase(alice, team, name, "Running", kind=kind)
        runs.cancel(alice, team, name, kind)
    for name, kind in (("stopped", "JobRun"), ("exported", "Export")):
        runs.wait_phase(alice, team, name, "Cancelled", kind=kind, timeout=60)
        for client in (alice, admin):
            error = _denied(runs.cancel, client, team, name, kind)
            assert error.status == 409
            assert f'{kind} "{name}" is not in a cancellable state: Cancelled' in error.message
    reason = {"spec": {"cancel": True}, "metadata": {"annotations": {CANCEL_REASON: "again"}}}
    error = _denied(alice.merge_patch, runs.path(team, "stopped"), reason)
    assert error.status == 409
    stored = runs.get(alice, team, "stopped")
    assert CANCEL_REASON not in _annotations(stored)
    assert stored["status"]["cancellation"]["requestedBy"] == "alice"
    # Other edits of a finished run stay possible (labels, notes).
    labelled = alice.merge_patch(runs.path(team, "stopped"), {"metadata": {"labels": {"k": "v"}}})
    assert labelled["metadata"]["labels"]["k"] == "v"


# ------------------------------------------------------------ manual runs, closed
def test_a_manual_run_of_a_paused_cancelled_or_completed_job_is_refused(
    cluster: TestCluster, operator: OperatorProcess, team: str
) -> None:
    alice = cluster.kube("alice")
    runs.create(alice, team, scheduledjob("nightly"))
    runs.create(alice, team, scheduledjob("ended"))
    once = scheduledjob("once")
    del once["spec"]["schedule"]
    once["spec"]["template"] = pod_template(sim(run_seconds=0.2))
    runs.create(alice, team, once)

    sj_path = runs.path(team, "nightly", "ScheduledJob")
    alice.merge_patch(sj_path, {"spec": {"suspend": True}})
    error = _denied(runs.create, alice, team, manual_run("nightly-now", "nightly"))
    assert error.status == 409
    assert error.message.endswith(
        "ScheduledJob nightly is paused: resume it first (kubectl jobwarden resume nightly, "
        "or spec.suspend: false)"
    )
    rerun = manual_run("nightly-again", "nightly", trigger="Rerun", rerunOf="nightly-1")
    assert _denied(runs.create, alice, team, rerun).status == 409
    denied = wait_until(
        lambda: [r for r in _audit_lines(operator, "nightly-now") if r["action"] == "run-denied"],
        timeout=5,
        message="an audit line for the refused run of a paused job",
    )
    assert denied[0]["user"] == "alice"
    alice.merge_patch(sj_path, {"spec": {"suspend": False}})
    runs.create(alice, team, manual_run("nightly-now", "nightly"))  # resumed: it runs

    runs.cancel(alice, team, "ended", "ScheduledJob")
    error = _denied(runs.create, alice, team, manual_run("ended-now", "ended"))
    assert "ScheduledJob ended is cancelled: its schedule has ended" in error.message

    wait_until(
        lambda: runs.phase(alice, team, "once", "ScheduledJob") == "Completed",
        timeout=30,
        message="the one-time job completed",
    )
    error = _denied(runs.create, alice, team, manual_run("once-again", "once"))
    assert error.status == 409
    assert "ScheduledJob once is completed: a one-time job runs once" in error.message


def _webhook_calls(cluster: TestCluster) -> dict[str, float]:
    """UPDATE requests the API server sent to each of jobwarden's webhooks so far (its
    own counter: apiserver_admission_webhook_request_total)."""
    calls: dict[str, float] = {}
    for line in cluster.kube().get_text("/metrics").splitlines():
        if line.startswith("apiserver_admission_webhook_request_total{") and (
            'operation="UPDATE"' in line
        ):
            name = line.split('name="', 1)[1].split('"', 1)[0]
            calls[name] = calls.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return calls


def test_a_creators_cancel_skips_the_validating_webhook(cluster: TestCluster, team: str) -> None:
    """Its answer is known (allowed): the API server does not ask (creatorcancel.py);
    anyone else's cancel, and a cancel with a stamp set by hand, are still checked."""
    alice, bob = cluster.kube("alice"), cluster.kube("bob")
    mutating, validating = "identity.jobruns.jobwarden.dev", "policy.jobruns.jobwarden.dev"
    for name in ("mine", "mine-too"):
        runs.create(alice, team, jobrun(name, sim(run_seconds=600)))
    runs.wait_phase(alice, team, "mine", "Running")

    before = _webhook_calls(cluster)
    assert _denied(runs.cancel, bob, team, "mine").status == 403
    after_bob = _webhook_calls(cluster)
    assert after_bob.get(validating, 0) == before.get(validating, 0) + 1

    cancelled = runs.cancel(alice, team, "mine")
    assert _annotations(cancelled)[CANCEL_BY] == "alice"
    after_alice = _webhook_calls(cluster)
    assert after_alice.get(mutating, 0) == after_bob.get(mutating, 0) + 1
    assert after_alice.get(validating, 0) == after_bob.get(validating, 0)
    assert _cancellation(alice, team, "mine")["requestedBy"] == "alice"

    # A label changed in the same request: checked (the condition holds for a cancel only).
    forged = alice.merge_patch(
        runs.path(team, "mine-too"),
        {"spec": {"cancel": True}, "metadata": {"labels": {"team": "a"}}},
    )
    assert _annotations(forged)[CANCEL_BY] == "alice"
    assert _webhook_calls(cluster).get(validating, 0) == after_alice.get(validating, 0) + 1
    # A moment after its creation, before or after its first status write: allowed.
    runs.create(alice, team, jobrun("fresh", sim(run_seconds=600)))
    runs.cancel(alice, team, "fresh")
    for name in ("mine", "mine-too", "fresh"):
        runs.wait_phase(alice, team, name, ("Cancelled", "Failed"), timeout=60)
    runs.create(alice, team, jobrun("done", sim(run_seconds=0.3)))
    runs.wait_phase(alice, team, "done", "Succeeded")
    error = _denied(runs.cancel, alice, team, "done")  # finished: still denied, by the webhook
    assert error.status == 409 and "not in a cancellable state: Succeeded" in error.message


# -------------------------------------------------------------- stamps, forged
def test_stamped_annotations_are_never_taken_from_the_request(
    cluster: TestCluster, team: str
) -> None:
    alice, bob = cluster.kube("alice"), cluster.kube("bob")
    forged = jobrun("forged", sim(run_seconds=600))
    forged["metadata"]["annotations"] = {
        CREATED_BY: "carol",
        TRIGGERED_BY: "carol",
        CANCEL_BY: "carol",
        OPERATOR_CANCEL: "true",
    }
    result = cluster.kubectl(
        "create", "-n", team, "-f", "-", "-o", "json", identity="alice", input=json.dumps(forged)
    )
    stored = _annotations(json.loads(result.stdout))
    assert stored[CREATED_BY] == "alice"
    assert stored[TRIGGERED_BY] == "alice"
    assert CANCEL_BY not in stored and OPERATOR_CANCEL not in stored
    assert "Warning: jobwarden.dev/created-by is set by jobwarden" in result.stderr
    assert "'carol' replaced by 'alice'" in result.stderr

    path = runs.path(team, "forged")
    edits: list[JSON] = [
        {"metadata": {"annotations": {CREATED_BY: "bob"}}},
        {"metadata": {"annotations": {CREATED_BY: None, TRIGGERED_BY: None}}},
        {"metadata": {"annotations": {OPERATOR_CANCEL: "true", CANCEL_BY: "carol"}}},
    ]
    for client in (alice, bob):
        for edit in edits:
            after = _annotations(client.merge_patch(path, edit))
            assert after[CREATED_BY] == "alice" and after[TRIGGERED_BY] == "alice"
            assert OPERATOR_CANCEL not in after and CANCEL_BY not in after
    runs.wait_phase(alice, team, "forged", "Running")
    assert "cancellation" not in runs.get(alice, team, "forged")["status"]
    # Still alice's: bob's attempts to rename the creator gave him nothing.
    assert _denied(runs.cancel, bob, team, "forged").status == 403
    runs.cancel(alice, team, "forged")


# -------------------------------------------------------------------- sensitive
def test_a_sensitive_job_runs_by_hand_only_with_execute_sensitive(
    cluster: TestCluster, team: str
) -> None:
    alice, admin = cluster.kube("alice"), cluster.kube()
    runs.create(admin, team, scheduledjob("payroll", sensitive=True))
    runs.create(admin, team, scheduledjob("report"))

    error = _denied(runs.create, alice, team, manual_run("payroll-now", "payroll"))
    assert error.status == 403
    assert 'alice may not run ScheduledJob "payroll" by hand: it is marked sensitive' in (
        error.message
    )
    assert 'RBAC verb "execute-sensitive" on scheduledjobs.jobwarden.dev "payroll"' in (
        error.message
    )
    rerun = manual_run("payroll-again", "payroll", trigger="Rerun", rerunOf="payroll-1")
    assert _denied(runs.create, alice, team, rerun).status == 403
    runs.create(alice, team, manual_run("report-now", "report"))  # not sensitive: fine

    cluster.kube().create(
        resource_path(RBAC, "roles", team),
        {
            "metadata": {"name": "run-payroll"},
            "rules": [
                {
                    "apiGroups": ["jobwarden.dev"],
                    "resources": ["scheduledjobs"],
                    "resourceNames": ["payroll"],
                    "verbs": ["execute-sensitive"],
                }
            ],
        },
    )
    _bind(cluster, team, "alice-runs-payroll", "run-payroll", user="alice", kind="Role")
    created = wait_until(
        lambda: runs.create(alice, team, manual_run("payroll-now", "payroll")),
        timeout=15,
        message="alice's manual run of payroll, once she holds execute-sensitive",
    )
    assert _annotations(created)[TRIGGERED_BY] == "alice"


def test_only_the_operator_creates_scheduled_runs(cluster: TestCluster, team: str) -> None:
    alice = cluster.kube("alice")
    runs.create(cluster.kube(), team, scheduledjob("nightly"))
    body = manual_run(
        "nightly-1767225600", "nightly", trigger="Schedule", scheduledTime="2026-01-01T00:00:00Z"
    )
    for client in (alice, cluster.kube()):
        error = _denied(runs.create, client, team, body)
        assert error.status == 403
        assert "trigger Schedule is reserved for the runs jobwarden creates" in error.message


# --------------------------------------------------------------------- schedules
SCHEDULE_CASES = {
    # The webhook parses what the CRD's pattern lets through ...
    "minute 61": (
        {"schedule": "61 * * * *"},
        'spec.schedule: invalid schedule "61 * * * *": minute must be 0-59; '
        'example of a valid one: "0 2 * * *" (daily at 02:00)',
    ),
    "time zone on Mars": (
        {"schedule": "0 2 * * *", "timeZone": "Mars/Olympus"},
        'spec.timeZone: unknown time zone "Mars/Olympus"; use an IANA name such as '
        '"Europe/Berlin" or "UTC"',
    ),
    "February 30th": (
        {"schedule": "0 0 30 2 *"},
        'invalid schedule "0 0 30 2 *": it never fires',
    ),
    # ... and the CRD's own rule refuses the shapes no parser needs to see.
    "@every": (
        {"schedule": "@every 5m"},
        "or a macro such as @daily",
    ),
    "three fields": (
        {"schedule": "* * *"},
        "schedule must be five cron fields separated by blanks, e.g. '0 2 * * *'",
    ),
    "unknown macro": (
        {"schedule": "@fortnightly"},
        "or a macro such as @daily",
    ),
    "a macro with a blank": (
        {"schedule": "@daily "},
        "or a macro such as @daily",
    ),
}


@pytest.mark.parametrize("case", list(SCHEDULE_CASES), ids=list(SCHEDULE_CASES))
def test_invalid_schedules_are_denied_with_an_example(
    cluster: TestCluster, team: str, case: str
) -> None:
    spec, message = SCHEDULE_CASES[case]
    alice = cluster.kube("alice")
    error = _denied(runs.create, alice, team, scheduledjob("bad", **spec))
    assert message in error.message
    assert "spec.schedule" in error.message or "spec.timeZone" in error.message

    runs.create(alice, team, scheduledjob("good", timeZone="Europe/Berlin"))
    error = _denied(alice.merge_patch, runs.path(team, "good", "ScheduledJob"), {"spec": spec})
    assert message in error.message


#: Expressions of the CronJob conformance suite, and blanks CronJob accepts between fields.
API_SCHEDULES = [(row.expression, row.time_zone) for row in ACCEPT.values()] + [
    ("0\t2\t*\t*\t*", "UTC"),
    ("  0   2 * *\t*  \n", "UTC"),
    ("0\u00a02\u3000*\u2003*\v*", "UTC"),
    ("0\x1c2 * * * *", "UTC"),
    (" @daily", "UTC"),
    ("5-5 9-9 1-1 JAN-JAN MON-MON", "UTC"),
]


def test_the_api_admits_exactly_what_the_schedule_parser_accepts(
    cluster: TestCluster, team: str
) -> None:
    """The CRD's rule, the webhook and the operator's parser draw one line: what the API
    server admits (server-side dry run) is what jobwarden can schedule, and the rest is
    refused when applied, never stalled later."""
    alice = cluster.kube("alice")
    disagree: list[tuple[str, str, bool]] = []
    for schedule, zone in API_SCHEDULES:
        body = scheduledjob("probe", schedule=schedule, timeZone=zone)
        try:
            alice.create(runs.path(team, kind="ScheduledJob"), body, dryRun="All")
            admitted = True
        except KubeError as error:
            assert error.status in (403, 422), error
            admitted = False
        try:
            parse_schedule(schedule, zone)
            parsed = True
        except ScheduleError:
            parsed = False
        if admitted != parsed:
            disagree.append((schedule, zone, admitted))
    assert disagree == []
    listed = alice.get(runs.path(team, kind="ScheduledJob"))["items"]
    assert listed == [], "a dry run created an object"


def test_an_unchanged_schedule_is_not_checked_again(cluster: TestCluster, team: str) -> None:
    alice = cluster.kube("alice")
    runs.create(alice, team, scheduledjob("steady", schedule="@daily"))
    edited = alice.merge_patch(
        runs.path(team, "steady", "ScheduledJob"), {"spec": {"suspend": True}}
    )
    assert edited["spec"]["suspend"] is True


# ---------------------------------------------------------------------- dry run
def test_server_side_dry_run_is_answered_without_side_effects(
    cluster: TestCluster, operator: OperatorProcess, team: str
) -> None:
    alice, bob = cluster.kube("alice"), cluster.kube("bob")
    preview = alice.create(runs.path(team), jobrun("preview", sim()), dryRun="All")
    assert _annotations(preview)[CREATED_BY] == "alice"
    assert not cluster.kube().exists(runs.path(team, "preview"))

    runs.create(alice, team, jobrun("real", sim(run_seconds=600)))
    runs.wait_phase(alice, team, "real", "Running")
    error = _denied(
        bob.merge_patch, runs.path(team, "real"), {"spec": {"cancel": True}}, dryRun="All"
    )
    assert "bob may not cancel" in error.message
    answer = alice.merge_patch(runs.path(team, "real"), {"spec": {"cancel": True}}, dryRun="All")
    assert answer["spec"]["cancel"] is True
    assert _annotations(answer)[CANCEL_BY] == "alice"

    stored = runs.get(alice, team, "real")
    assert stored["spec"]["cancel"] is False
    assert CANCEL_BY not in _annotations(stored)
    assert "cancellation" not in stored["status"]
    actions = [r["action"] for r in _audit_lines(operator, "real") if r["namespace"] == team]
    assert actions == ["admitted"], f"a dry run left audit lines: {actions}"
    runs.cancel(alice, team, "real")


# ---------------------------------------------------------------- configuration
@pytest.fixture
def configurations(cluster: TestCluster, operator: OperatorProcess) -> list[JSON]:
    """The webhook configurations kopf keeps for jobwarden."""
    admin = cluster.kube()
    base = "admissionregistration.k8s.io/v1"
    return [
        admin.get(resource_path(base, kind, None, "jobwarden.dev"))
        for kind in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations")
    ]


def test_webhooks_cover_jobwarden_resources_only(configurations: list[JSON]) -> None:
    names = {w["name"] for c in configurations for w in c["webhooks"]}
    assert names == {f"{k}.{p}.jobwarden.dev" for k in ("identity", "policy") for p in PLURALS} | {
        "policy.workerquotas.jobwarden.dev"  # audit lines of quota changes
    }
    for configuration in configurations:
        for webhook in configuration["webhooks"]:
            validating = webhook["name"].startswith("policy.")
            assert webhook["failurePolicy"] == "Fail"
            # Dry-run requests are sent too; the validating one writes (audit lines, the
            # cancel of a delete) only for real requests.
            assert webhook["sideEffects"] == ("NoneOnDryRun" if validating else "None")
            assert webhook["clientConfig"]["url"].startswith("https://127.0.0.1:")
            assert webhook["clientConfig"]["caBundle"]
            (rule,) = webhook["rules"]
            assert rule["apiGroups"] == ["jobwarden.dev"]
            assert len(rule["resources"]) == 1
            assert rule["resources"][0] in (*PLURALS, "workerquotas")
            # Deleting a Backfill stops no run (its runs belong to the job and go on): its
            # deletes are not checked.
            checks_deletes = validating and rule["resources"] != ["backfills"]
            expected = ["CREATE", "DELETE", "UPDATE"] if checks_deletes else ["CREATE", "UPDATE"]
            assert sorted(rule["operations"]) == expected


def test_the_operators_own_writes_skip_the_webhooks(
    cluster: TestCluster, team: str, configurations: list[JSON]
) -> None:
    operator_user = IDENTITIES["operator"].user
    for configuration in configurations:
        for webhook in configuration["webhooks"]:
            [condition] = webhook["matchConditions"]
            assert f'request.userInfo.username != "{operator_user}"' in condition["expression"]
    # The mutating webhook labels and stamps every new run: not the operator's own.
    own = runs.create(cluster.kube("operator"), team, jobrun("operators-own", sim(run_seconds=0.5)))
    assert CREATED_BY not in _annotations(own)
    assert "jobwarden.dev/trigger" not in (own["metadata"].get("labels") or {})
    users = runs.create(cluster.kube("alice"), team, jobrun("alices", sim(run_seconds=0.5)))
    assert _annotations(users)[CREATED_BY] == "alice"
    assert users["metadata"]["labels"]["jobwarden.dev/trigger"] == "Manual"


def test_the_certificate_is_kept_in_a_secret_shared_by_the_replicas(
    cluster: TestCluster, configurations: list[JSON]
) -> None:
    secret = cluster.kube().get(
        resource_path("v1", "secrets", OPERATOR_NAMESPACE, "jobwarden-webhook-tls")
    )
    assert set(secret["data"]) == {"tls.crt", "tls.key", "ca.crt", "ca.key"}
    bundle = secret["data"]["ca.crt"]
    assert base64.b64decode(bundle).startswith(b"-----BEGIN CERTIFICATE-----")
    for configuration in configurations:
        for webhook in configuration["webhooks"]:
            assert webhook["clientConfig"]["caBundle"] == bundle


# ------------------------------------------------------------------ unavailable
def test_while_no_operator_serves_the_webhooks_writes_are_refused(
    cluster: TestCluster, operator: OperatorProcess, team: str
) -> None:
    admin, alice = cluster.kube(), cluster.kube("alice")
    runs.create(alice, team, jobrun("before", sim(run_seconds=600)))
    runs.create(alice, team, jobrun("to-delete", sim(run_seconds=600)))
    operator.kill()
    try:
        for client, body in ((alice, jobrun("during", sim())), (admin, jobrun("during", sim()))):
            error = _denied(runs.create, client, team, body)
            assert error.status == 500
            assert 'failed calling webhook "identity.jobruns.jobwarden.dev"' in error.message
        error = _denied(runs.cancel, alice, team, "before")
        assert "failed calling webhook" in error.message
        # A delete is checked too (it would stop a run without the cancel path);
        # status writes never go through the webhooks.
        error = _denied(alice.delete, runs.path(team, "to-delete"))
        assert 'failed calling webhook "policy.jobruns.jobwarden.dev"' in error.message
        admin.merge_patch(
            runs.path(team, "before") + "/status", {"status": {"message": "status still works"}}
        )
    finally:
        operator.start()
    created = runs.create(alice, team, jobrun("during", sim()))
    assert _annotations(created)[CREATED_BY] == "alice"
    runs.cancel(alice, team, "before")
    alice.delete(runs.path(team, "to-delete"))  # with the operator back: stopped, then gone
    runs.wait_phase(alice, team, "during", "Succeeded")
    wait_until(
        lambda: not alice.exists(runs.path(team, "to-delete")), timeout=60, message="deleted"
    )
