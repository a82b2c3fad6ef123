"""kopf registrations the operator's settings rely on."""

from __future__ import annotations

import kopf

from jobwarden import controller


def test_no_change_detecting_handlers_while_kopf_keeps_no_diff_base() -> None:
    """`NoDiffBase` makes kopf skip its per-event deep copy; a change-detecting handler
    (on.create/update/delete/resume/field) would then never see a change."""
    registry = kopf.get_default_registry()
    assert registry._changing.get_all_handlers() == []
    assert registry._watching.get_all_handlers(), "the engine watches with on.event"
    assert controller.NoDiffBase().fetch(body=kopf.Body({})) is None
