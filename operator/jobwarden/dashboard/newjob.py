"""The "New scheduled job" form: the page, and the manifest built from what was
typed. Pure functions; the server checks the manifest with a server-side dry run
(RBAC, the admission webhook and the CRD's schema answer) and computes the next fires
with the operator's own cron reading (jobwarden.client.schedule).

The manifest is what gets created, and also the YAML shown for teams that commit it
(GitOps): only what the form set, nothing the API server would add.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jobwarden.api import constants as c
from jobwarden.client.access import Right
from jobwarden.client.objects import JSON
from jobwarden.client.schedule import PRESETS
from jobwarden.dashboard.render import Page, h

#: The form's select for "no schedule": a one-time job, run once right after creation.
ONE_TIME = "one-time"
PRIORITIES = ("High", "Medium", "Low")
CONCURRENCY_POLICIES = ("Forbid", "Allow", "Replace")
#: Integer run settings: form field → (spec key, minimum, maximum, placeholder).
NUMBERS: dict[str, tuple[str, int, int, str]] = {
    "timeoutSeconds": (
        "timeoutSeconds",
        c.MIN_TIMEOUT_SECONDS,
        c.MAX_TIMEOUT_SECONDS,
        f"{c.DEFAULT_TIMEOUT_SECONDS} (default)",
    ),
    "retries": ("retries", 0, c.MAX_RETRIES, f"{c.DEFAULT_RETRIES} (default)"),
    "cancelGracePeriodSeconds": (
        "cancelGracePeriodSeconds",
        0,
        c.MAX_CANCEL_GRACE_PERIOD_SECONDS,
        f"{c.DEFAULT_CANCEL_GRACE_PERIOD_SECONDS} (default)",
    ),
}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Problem:
    """Something wrong with one field of the form (or `form` for the whole)."""

    field: str
    message: str

    def record(self) -> dict[str, str]:
        """As the page's script receives it."""
        return {"field": self.field, "message": self.message}


def _text(data: Mapping[str, Any], key: str) -> str:
    return str(data.get(key) or "").strip()


def manifest(data: Mapping[str, Any]) -> tuple[JSON, list[Problem]]:
    """The ScheduledJob the form describes, and what is missing or malformed before
    the API server is even asked (a name, an image, numbers)."""
    problems: list[Problem] = []
    name, namespace = _text(data, "name"), _text(data, "namespace")
    if not name:
        problems.append(Problem("name", "give the job a name"))
    elif len(name) > c.MAX_SCHEDULED_JOB_NAME or not _NAME.match(name):
        problems.append(
            Problem(
                "name",
                f"use at most {c.MAX_SCHEDULED_JOB_NAME} lower-case letters, digits and "
                "'-', starting and ending with a letter or digit",
            )
        )
    if not namespace:
        problems.append(Problem("namespace", "choose a namespace"))
    image = _text(data, "image")
    if not image:
        problems.append(Problem("image", "give the worker's container image"))
    container: JSON = {"name": "main", "image": image}
    command = _text(data, "command")
    if command:
        try:
            container["command"] = shlex.split(command)
        except ValueError as error:
            problems.append(Problem("command", f"cannot split the command: {error}"))
    spec: JSON = {}
    if _text(data, "preset") != ONE_TIME:
        schedule = _text(data, "schedule")
        if not schedule:
            problems.append(Problem("schedule", "give a schedule, or choose a one-time job"))
        spec["schedule"] = schedule
    spec["timeZone"] = _text(data, "timeZone") or "UTC"
    if data.get("suspend"):
        spec["suspend"] = True
    for key, allowed in (("priority", PRIORITIES), ("concurrencyPolicy", CONCURRENCY_POLICIES)):
        value = _text(data, key)
        if value and value in allowed:
            spec[key] = value
    for field, (key, low, high, _hint) in NUMBERS.items():
        raw = _text(data, field)
        if not raw:
            continue
        if not raw.isdigit() or not low <= int(raw) <= high:
            problems.append(Problem(field, f"use a whole number from {low} to {high}"))
            continue
        spec[key] = int(raw)
    spec["template"] = {"spec": {"containers": [container]}}
    body: JSON = {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND_SCHEDULED_JOB,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return body, problems


def field_of(message: str) -> str:
    """The form field an API server's refusal is about (`form` if it does not say)."""
    for key in ("schedule", "timeZone", "name", "image", *NUMBERS):
        if f"spec.{key}" in message or f"metadata.{key}" in message:
            return key
    if "containers" in message:
        return "image"
    return "form"


def _options(values: Sequence[tuple[str, str]], selected: str) -> str:
    return "".join(
        f'<option value="{h(v)}"' + (" selected" if v == selected else "") + f">{h(t)}</option>"
        for v, t in values
    )


def _field(ident: str, label: str, control: str, hint: str = "") -> str:
    hint_html = f'<span class="hint" id="{ident}-hint">{h(hint)}</span>' if hint else ""
    return (
        f'<p class="field"><label for="{ident}">{h(label)}</label>{control}{hint_html}'
        f'<span class="problem" id="{ident}-problem"></span></p>'
    )


def _described(ident: str, hint: bool) -> str:
    ids = f"{ident}-hint {ident}-problem" if hint else f"{ident}-problem"
    return f'aria-describedby="{ids}"'


def form_page(page: Page, namespace: str, zones: Sequence[str], right: Right | None) -> str:
    """The form; the page's script previews (next fires, YAML) while it is filled in."""
    refusal = (
        f'<p class="error" id="create-refused">You may not create ScheduledJobs in '
        f"{h(namespace)}: {h(right.why)}. The preview still works.</p>"
        if right is not None and not right.allowed
        else ""
    )
    ns_options = "".join(f'<option value="{h(n)}"></option>' for n in page.namespaces)
    zone_options = "".join(f'<option value="{h(z)}"></option>' for z in zones)
    presets = _options(
        [*PRESETS, ("", "Custom (type it below)"), (ONE_TIME, "One-time: run once, now")],
        PRESETS[2][0],
    )
    numbers = "".join(
        _field(
            f"n-{field}",
            {"timeoutSeconds": "Timeout per attempt (seconds)", "retries": "Retries"}.get(
                field, "Cancel grace period (seconds)"
            ),
            f'<input id="n-{field}" name="{field}" type="number" min="{low}" max="{high}" '
            f'inputmode="numeric" placeholder="{h(hint)}" {_described(f"n-{field}", False)}>',
        )
        for field, (_key, low, high, hint) in NUMBERS.items()
    )
    job_fields = _field(
        "nj-namespace",
        "Namespace",
        f'<input id="nj-namespace" name="namespace" value="{h(namespace)}" '
        f'list="nj-namespaces" autocomplete="off" required {_described("nj-namespace", False)}>'
        f'<datalist id="nj-namespaces">{ns_options}</datalist>',
    ) + _field(
        "nj-name",
        "Name",
        f'<input id="nj-name" name="name" maxlength="{c.MAX_SCHEDULED_JOB_NAME}" '
        f'autocomplete="off" required {_described("nj-name", True)}>',
        f"lower-case letters, digits and '-', at most {c.MAX_SCHEDULED_JOB_NAME}",
    )
    when_fields = (
        _field(
            "nj-preset",
            "Common schedules",
            f'<select id="nj-preset" name="preset" {_described("nj-preset", False)}>'
            f"{presets}</select>",
        )
        + _field(
            "nj-schedule",
            "Schedule (cron)",
            f'<input id="nj-schedule" name="schedule" value="{h(PRESETS[2][0])}" '
            f'autocomplete="off" spellcheck="false" {_described("nj-schedule", True)}>',
            "minute hour day-of-month month day-of-week, or a macro such as @daily",
        )
        + _field(
            "nj-zone",
            "Time zone",
            f'<input id="nj-zone" name="timeZone" value="UTC" list="nj-zones" '
            f'autocomplete="off" {_described("nj-zone", True)}>'
            f'<datalist id="nj-zones">{zone_options}</datalist>',
            "an IANA name such as Europe/Berlin; the schedule is read in it",
        )
    )
    what_fields = _field(
        "nj-image",
        "Container image",
        f'<input id="nj-image" name="image" autocomplete="off" spellcheck="false" '
        f"required {_described('nj-image', False)}>",
    ) + _field(
        "nj-command",
        "Command (optional)",
        f'<input id="nj-command" name="command" autocomplete="off" spellcheck="false" '
        f"{_described('nj-command', True)}>",
        "split like a shell: python -m report --day today",
    )
    priority = _options([("", "Medium (default)"), ("High", "High"), ("Low", "Low")], "")
    concurrency = _options(
        [
            ("", "Skip the new fire (Forbid, default)"),
            ("Allow", "Run both (Allow)"),
            ("Replace", "Cancel the old run (Replace)"),
        ],
        "",
    )
    settings_fields = (
        _field(
            "nj-priority",
            "Priority",
            f'<select id="nj-priority" name="priority" {_described("nj-priority", False)}>'
            f"{priority}</select>",
        )
        + _field(
            "nj-concurrency",
            "When a run is still going at the next fire",
            f'<select id="nj-concurrency" name="concurrencyPolicy" '
            f"{_described('nj-concurrency', False)}>{concurrency}</select>",
        )
        + numbers
    )
    preview, create = h(page.url("/api/preview")), h(page.url("/api/create"))
    return f"""{refusal}<form id="new-job" class="new-job" novalidate
 data-preview="{preview}" data-create="{create}">
<fieldset><legend>The job</legend>
{job_fields}
</fieldset>
<fieldset><legend>When</legend>
{when_fields}
<section aria-labelledby="nj-fires-title" class="fires">
<h2 id="nj-fires-title">Next 5 runs</h2>
<ol id="nj-fires" aria-live="polite"></ol>
</section>
</fieldset>
<fieldset><legend>What runs</legend>
{what_fields}
</fieldset>
<fieldset><legend>Run settings</legend>
{settings_fields}
<p class="field checkbox"><input id="nj-suspend" name="suspend" type="checkbox">
<label for="nj-suspend">Create it paused</label></p>
</fieldset>
<p id="nj-form-problem" class="problem" role="alert"></p>
<p id="nj-check" role="status" class="muted">Fill in the form: it is checked as you type.</p>
<p><button type="submit" id="nj-create" class="primary" disabled>Create scheduled job</button></p>
</form>
<section aria-labelledby="nj-yaml-title">
<h2 id="nj-yaml-title">The same as YAML (for GitOps)</h2>
<p>Commit this to your repository instead of creating it here, if a GitOps tool
(Argo CD, Flux) applies your manifests.</p>
<pre id="nj-yaml" class="yaml" tabindex="0" aria-labelledby="nj-yaml-title"></pre>
<p><button type="button" id="nj-copy">Copy YAML</button></p>
</section>
"""
