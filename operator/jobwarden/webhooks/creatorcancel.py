"""A creator's cancel of a run skips the validating webhook (`matchConditions`).

On a cancel the API server calls both webhooks; the validating one re-checks the
stamps and decides who may cancel. For a run's own creator, cancelling a run that has
not finished, with the stamps as the mutating webhook left them, its answer is known:
allowed, without a SubjectAccessReview (`decisions._decide_cancel`). A burst of 200
cancels costs the API server and the operator 200 HTTPS calls fewer, each of which
waited for the operator's event loop (0.3 s on average in a burst, while the handler
itself took 1 ms).

The condition below says exactly that, in CEL, for the validating webhooks of JobRun
and Export (whose spec is immutable but for `cancel`, so nothing else in an update
is the validating webhook's concern). It holds only when `decisions.decide` would
allow; when it does not hold the webhook is called and decides as always, so a
non-creator, a finished run, a stamp set by hand or a changed label or finalizer
still get their check (and a denial still comes from the validating webhook, with
its audit line). A rule added to `decide` for updates of runs must narrow this too.
"""

from __future__ import annotations

import json
from typing import Final

from jobwarden.api import constants as c
from jobwarden.api.enums import RunPhase

#: The validating webhooks this applies to (kopf names them `<handler id>.<group>`).
WEBHOOKS: Final = frozenset(
    f"policy.{plural}.{c.GROUP}" for plural in (c.PLURAL_JOB_RUNS, c.PLURAL_EXPORTS)
)
#: Stamps a cancel must leave as they were (the cancel's own two are checked apart).
UNCHANGED_STAMPS: Final = (
    c.ANNOTATION_CREATED_BY,
    c.ANNOTATION_TRIGGERED_BY,
    c.ANNOTATION_OPERATOR_CANCEL,
)
#: What `format_micro_time` writes (stricter than what the webhook accepts: a value
#: that does not match is sent to the webhook).
STAMP_TIME: Final = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3])"
    r":[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z$"
)
USER: Final = "request.userInfo.username"
NEW: Final = "object.metadata.annotations"
OLD: Final = "oldObject.metadata.annotations"


def _q(value: str) -> str:
    return json.dumps(value)  # a CEL string literal


def _same_list(field: str) -> str:
    """`metadata.<field>` is the same before and after (absent counts as empty)."""
    new, old = f"object.metadata.{field}", f"oldObject.metadata.{field}"
    return f"(has({new}) ? {new} : []) == (has({old}) ? {old} : [])"


def _same_map(field: str) -> str:
    new, old = f"object.metadata.{field}", f"oldObject.metadata.{field}"
    return f"(has({new}) ? {new} : {{}}) == (has({old}) ? {old} : {{}})"


def creators_cancel() -> str:
    """CEL: this update is a cancel by the run's creator that `decide` allows."""
    terminal = ", ".join(_q(p.value) for p in RunPhase if p.terminal)
    by, at, creator = (
        _q(c.ANNOTATION_CANCEL_REQUESTED_BY),
        _q(c.ANNOTATION_CANCEL_REQUESTED_AT),
        _q(c.ANNOTATION_CREATED_BY),
    )
    parts = [
        'request.operation == "UPDATE"',
        "has(object.spec.cancel) && object.spec.cancel == true",
        "!(has(oldObject.spec.cancel) && oldObject.spec.cancel == true)",
        "!(has(oldObject.status) && has(oldObject.status.phase) && "
        f"oldObject.status.phase in [{terminal}])",
        f"has({OLD}) && {creator} in {OLD} && {OLD}[{creator}] == {USER}",
        f"has({NEW}) && {by} in {NEW} && {NEW}[{by}] == {USER}",
        f"{at} in {NEW} && {NEW}[{at}].matches({_q(STAMP_TIME)})",
    ]
    for key in map(_q, UNCHANGED_STAMPS):
        parts.append(f"({key} in {NEW}) == ({key} in {OLD})")
        parts.append(f"(!({key} in {NEW}) || {NEW}[{key}] == {OLD}[{key}])")
    parts += [_same_list("finalizers"), _same_map("labels")]
    return " && ".join(f"({part})" for part in parts)


def narrowed(name: str, expression: str) -> str:
    """The webhook's match condition, also skipping a creator's cancel where it
    applies (the validating webhooks of runs); others are returned as they are."""
    if name not in WEBHOOKS:
        return expression
    return f"({expression}) && !({creators_cancel()})"
