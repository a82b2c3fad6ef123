"""The operator's own requests skip its webhooks, dry runs excepted."""

from __future__ import annotations

from typing import Any

from kopf._core.engines import admission

from jobwarden.webhooks import selfskip


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
