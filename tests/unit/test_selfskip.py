"""The operator's own requests skip its webhooks, dry runs excepted."""

from __future__ import annotations

import datetime
import re
from typing import Any

from kopf._core.engines import admission

from jobwarden.core.conditions import format_micro_time
from jobwarden.webhooks import selfskip
from jobwarden.webhooks.creatorcancel import STAMP_TIME


def test_each_webhook_skips_the_operator_but_not_dry_runs() -> None:
    hooks = [{"name": "a", "rules": []}, {"name": "b", "rules": []}]
    got = selfskip.skipping(hooks, "system:serviceaccount:ops:jobwarden")
    assert [hook["name"] for hook in got] == ["a", "b"]
    for hook in got:
        [condition] = hook["matchConditions"]
        assert condition["name"] == selfskip.CONDITION_NAME
        assert condition["expression"] == (
            "(has(request.dryRun) && request.dryRun) || "
            'request.userInfo.username != "system:serviceaccount:ops:jobwarden"'
        )
    assert "matchConditions" not in hooks[0]  # the input is left alone


def test_unknown_operator_leaves_the_webhooks_as_they_are() -> None:
    hooks = [{"name": "a"}]
    assert selfskip.skipping(hooks, None) == hooks
    assert selfskip.skipping(hooks, "") == hooks


def test_kopfs_builder_is_wrapped_once() -> None:
    original = admission.build_webhooks
    try:
        assert selfskip.install(lambda: "op")
        assert selfskip.install(lambda: "op")  # again (a second startup): not nested
        built: Any = admission.build_webhooks(
            [], resources=[], name_suffix="x", client_config={"url": "https://x"}
        )
        assert built == []
        assert admission.build_webhooks.__wrapped__ is getattr(  # type: ignore[attr-defined]
            original, "__wrapped__", original
        )
    finally:
        admission.build_webhooks = original


def test_the_validating_webhooks_of_runs_also_skip_a_creators_cancel() -> None:
    hooks = [
        {"name": f"{kind}.{plural}.jobwarden.dev"}
        for kind in ("identity", "policy")
        for plural in ("scheduledjobs", "jobruns", "exports")
    ]
    got = {hook["name"]: hook["matchConditions"] for hook in selfskip.skipping(hooks, "op")}
    narrowed = {"policy.jobruns.jobwarden.dev", "policy.exports.jobwarden.dev"}
    for name, [condition] in got.items():
        operator_only = (
            '(has(request.dryRun) && request.dryRun) || request.userInfo.username != "op"'
        )
        if name not in narrowed:  # stamping and ScheduledJobs' checks: always called
            assert condition["expression"] == operator_only
            continue
        assert condition["name"] == selfskip.NARROWED_CONDITION_NAME
        expression = condition["expression"]
        assert expression.startswith(f"({operator_only}) && !(")
        # Only a cancel, by the creator, of an unfinished run, stamps as stamped.
        for part in (
            'request.operation == "UPDATE"',
            "object.spec.cancel == true",
            '["Succeeded", "Failed", "Cancelled"]',
            '["jobwarden.dev/created-by"] == request.userInfo.username',
            '["jobwarden.dev/cancel-requested-by"] == request.userInfo.username',
            '"jobwarden.dev/triggered-by" in object.metadata.annotations',
            '"jobwarden.dev/operator-cancel" in oldObject.metadata.annotations',
            "object.metadata.finalizers",
            "object.metadata.labels",
        ):
            assert part in expression, part


def test_the_stamp_time_pattern_matches_what_the_webhook_writes() -> None:
    now = datetime.datetime(2026, 12, 31, 23, 59, 59, 1, tzinfo=datetime.UTC)
    assert re.match(STAMP_TIME, format_micro_time(now))
    for other in ("2026-12-31T23:59:59Z", "2026-13-01T00:00:00.000000Z", "soon", ""):
        assert not re.match(STAMP_TIME, other), other
