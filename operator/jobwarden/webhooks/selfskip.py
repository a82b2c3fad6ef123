"""The operator's own writes skip its webhooks (`matchConditions`).

Every ScheduledJob fire is a JobRun the operator creates; through the webhooks that
is two more HTTPS calls the API server makes (and the operator answers) per fire,
though the operator's requests are trusted and the answer is known. The condition
keeps server-side dry runs in, so the readiness probe (`AdmissionRuntime`) still
proves the API server calls us.

kopf builds the webhook configurations (`settings.admission.managed`) and has no
option for matchConditions, so its builder is wrapped: what it returns gets the
condition added. The operator sets what the mutating webhook would have stamped on
its own creates itself (`created-by`, filter labels: `engine.scheduler`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Final

from jobwarden.webhooks import creatorcancel

logger = logging.getLogger("jobwarden.webhooks")

CONDITION_NAME: Final = "not-the-jobwarden-operator"
#: The validating webhooks of runs: nor a creator's cancel (`creatorcancel`).
NARROWED_CONDITION_NAME: Final = "not-the-operator-nor-a-creators-cancel"

Webhooks = list[dict[str, Any]]


def skipping(webhooks: Webhooks, operator: str | None) -> Webhooks:
    """The webhooks, each told to skip `operator`'s requests other than dry runs (and
    the validating webhooks of runs a creator's cancel: `creatorcancel`)."""
    if not operator:
        return webhooks
    expression = (
        "(has(request.dryRun) && request.dryRun) || "
        f"request.userInfo.username != {json.dumps(operator)}"
    )
    result = []
    for webhook in webhooks:
        name = str(webhook.get("name") or "")
        narrowed = creatorcancel.narrowed(name, expression)
        condition = {
            "name": CONDITION_NAME if narrowed == expression else NARROWED_CONDITION_NAME,
            "expression": narrowed,
        }
        result.append({**webhook, "matchConditions": [condition]})
    return result


def install(operator: Callable[[], str | None]) -> bool:
    """Wrap kopf's webhook builder; False (and a warning) if this kopf has none."""
    try:
        from kopf._core.engines import admission  # noqa: PLC0415 - kopf internals
    except ImportError:
        admission = None  # type: ignore[assignment]
    build = getattr(admission, "build_webhooks", None)
    if build is None:
        logger.warning(
            "this kopf has no build_webhooks: the operator's own writes go through its webhooks"
        )
        return False
    original = getattr(build, "__wrapped__", build)

    def build_webhooks(*args: Any, **kwargs: Any) -> Webhooks:
        return skipping(original(*args, **kwargs), operator())

    build_webhooks.__wrapped__ = original  # type: ignore[attr-defined]
    admission.build_webhooks = build_webhooks
    return True
