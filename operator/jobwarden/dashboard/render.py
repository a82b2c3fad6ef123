"""The dashboard's pages: server-rendered HTML from API objects (plain dicts).

Pure functions: the server hands them objects and the caller's rights (what RBAC and
the admission webhook would allow); the unit tests feed them directly. Every value
from the API is escaped. Regions marked `data-live` are swapped in place by the page's
script when a watch reports a change. Times are `<time>` elements in UTC; the script
shows them in the browser's zone (or the job's own, `data-zone`) with a relative form,
and the raw UTC stays in the tooltip.
"""

from __future__ import annotations

import datetime
import html
import math
import urllib.parse
import zoneinfo
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from jobwarden.api import constants as c
from jobwarden.api.enums import ConditionType
from jobwarden.client.access import CancelRight, Right
from jobwarden.client.actions import MAX_REASON_CHARS
from jobwarden.client.objects import (
    NEW_PHASE,
    PLURALS,
    TERMINAL_PHASES,
    JobState,
    annotation,
    cancel_requested,
    condition,
    created_at,
    elapsed_seconds,
    estimated_start,
    event_time,
    failure_pause,
    is_stuck,
    is_terminal,
    job_state,
    name_of,
    namespace_of,
    phase_of,
    priority_of,
    queue_text,
    scheduled_job_of,
    spec_of,
    status_of,
    time_zone_of,
)
from jobwarden.client.schedule import PreviewFire
from jobwarden.client.stats import finished_per_minute
from jobwarden.client.text import DASH, format_timestamp, human_duration, parse_time
from jobwarden.client.timeline import Segment
from jobwarden.dashboard import charts

_T = TypeVar("_T")

CONFIRM_TEXT = "Are you sure you want to cancel this job? This action cannot be undone."
CANCELLING = "Cancelling…"
CANCEL_TOOLTIP = "Cancel job"
#: Phases in which the Cancel button is offered (the run has not ended and no cancel
#: was asked for yet): waiting, working, or between attempts.
CANCELLABLE_PHASES = frozenset({NEW_PHASE, "Queued", "Starting", "Running", "Retrying"})
RUN_PHASE_FILTERS = (
    "Queued",
    "Starting",
    "Running",
    "Retrying",
    "Cancelling",
    *sorted(TERMINAL_PHASES),
)
HISTORY_DAYS = (7, 30, 90)
RESULT_PHASES = ("Succeeded", "Failed", "Cancelled")
#: Runs that may be re-run from the dashboard (the issue: after a failure or a cancel).
RERUNNABLE_PHASES = frozenset({"Failed", "Cancelled"})
BULK_CONFIRM_TEXT = "Are you sure you want to cancel these jobs? This action cannot be undone."
#: Rows per page of a long list.
PAGE_SIZE = 50
#: How many of the objects a bulk cancel would touch its dialog names.
BULK_PREVIEW = 5


def h(value: object) -> str:
    """HTML-escaped text (None: empty)."""
    return "" if value is None else html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Page:
    """What every page shares: where it lives and who looks at it."""

    base: str  # "/<token>"
    user: str | None
    context: str | None
    now: datetime.datetime
    namespaces: Sequence[str] = ()
    errors: Sequence[str] = field(default_factory=tuple)

    def url(self, path: str, **query: str | None) -> str:
        """A link inside the dashboard, with the non-empty query values."""
        kept = {k: v for k, v in query.items() if v}
        return self.base + path + ("?" + urllib.parse.urlencode(kept) if kept else "")


def object_url(page: Page, obj: Mapping[str, Any]) -> str:
    """The page of a run, an export or a ScheduledJob."""
    plural = PLURALS[str(obj.get("kind"))]
    ns, name = urllib.parse.quote(namespace_of(obj)), urllib.parse.quote(name_of(obj))
    return page.url(f"/ns/{ns}/{plural}/{name}")


def key_of(obj: Mapping[str, Any]) -> str:
    """`Kind/namespace/name`: how the page's script names an object."""
    return f"{obj.get('kind')}/{namespace_of(obj)}/{name_of(obj)}"


def dom_id(prefix: str, obj: Mapping[str, Any]) -> str:
    """A stable element id for an object (names are DNS labels: safe in ids)."""
    return f"{prefix}-{str(obj.get('kind')).lower()}-{namespace_of(obj)}-{name_of(obj)}"


def when(value: object, zone: str | None = None) -> str:
    """A point in time: `<time>` in UTC, shown by the page's script in the browser's
    zone (or `zone`, a job's own) with a relative form; the raw UTC is the tooltip.
    The text before the script runs is UTC (or the time in `zone`)."""
    moment = value if isinstance(value, datetime.datetime) else parse_time(value)
    if moment is None:
        return f'<span class="muted">{DASH}</span>'
    utc = format_timestamp(moment)
    text = utc.replace("T", " ").replace("Z", " UTC")
    attrs = ""
    if zone:
        try:
            local = moment.astimezone(zoneinfo.ZoneInfo(zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            local = None
        if local is not None:
            text = local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or zone)
            attrs = f' data-zone="{h(zone)}"'
    return f'<time datetime="{utc}" title="{utc} (UTC)" data-when{attrs}>{h(text)}</time>'


def paginate(items: Sequence[_T], number: int, size: int = PAGE_SIZE) -> tuple[list[_T], int, int]:
    """The items of page `number` (from 1, clamped), that number, and the page count."""
    pages = max(math.ceil(len(items) / size), 1)
    number = min(max(number, 1), pages)
    return list(items[(number - 1) * size : number * size]), number, pages


def pager(
    page: Page,
    path: str,
    query: Mapping[str, str],
    *,
    total: int,
    number: int,
    what: str,
    size: int = PAGE_SIZE,
    param: str = "page",
) -> str:
    """`Showing 51-100 of 10,000` and links to the first, previous, next and last
    pages (keeping the other query values)."""
    pages = max(math.ceil(total / size), 1)
    first, last = (number - 1) * size + 1, min(number * size, total)
    shown = f"Showing {first:,} to {last:,} of {total:,} {what}." if total else f"No {what}."
    if pages == 1:
        return f'<p class="pager-count">{h(shown)}</p>'

    def link(to: int, label: str, rel: str = "") -> str:
        url = page.url(path, **{**query, param: str(to)})
        extra = f' rel="{rel}"' if rel else ""
        return f'<li><a href="{h(url)}"{extra}>{h(label)}</a></li>'

    items = []
    if number > 1:
        items += [link(1, "« First"), link(number - 1, "Previous", "prev")]
    items.append(f'<li><span aria-current="page">Page {number:,} of {pages:,}</span></li>')
    if number < pages:
        items += [link(number + 1, "Next", "next"), link(pages, "Last »")]
    return (
        f'<nav class="pager" aria-label="Pages of {h(what)}"><p class="pager-count">{h(shown)}'
        f"</p><ul>{''.join(items)}</ul></nav>"
    )


def action_button(
    action: str,
    label: str,
    obj: Mapping[str, Any],
    right: Right | None,
    *,
    named: bool = False,
    doing: str = "",
) -> str:
    """A button that POSTs `action` for `obj` (run, pause, resume, rerun): enabled if
    the caller may, else disabled with the reason as its tooltip. `named`: the
    accessible name carries the object's name (in a list of many)."""
    name = name_of(obj)
    data = (
        f'data-action="{h(action)}" data-kind="{h(obj.get("kind"))}" '
        f'data-namespace="{h(namespace_of(obj))}" data-name="{h(name)}"'
    )
    ident = h(dom_id(action, obj))
    aria = f"{label} {name}" if named else label
    if right is not None and right.allowed:
        aria_attr = f' aria-label="{h(aria)}"' if named else ""
        return f'<button type="button" id="{ident}" {data}{aria_attr}>{h(label)}</button>'
    why = right.why if right is not None else "unknown"
    return (
        f'<button type="button" id="{ident}" {data} disabled '
        f'aria-label="{h(aria)} (not allowed)" '
        f'title="You may not {h(doing or label.lower())}: {h(why)}">{h(label)}</button>'
    )


@dataclass(frozen=True)
class JobRights:
    """What the caller may do to a ScheduledJob: run it now, pause or resume it."""

    run: Right | None = None
    suspend: Right | None = None


def job_badge(job: Mapping[str, Any]) -> str:
    """The ScheduledJob's state (Active, Paused, Failing, Completed, Cancelled): a
    coloured badge with the state as text."""
    state = job_state(job)
    failures = int(status_of(job).get("consecutiveFailures") or 0)
    title = f' title="{failures} failed runs in a row"' if state is JobState.FAILING else ""
    return f'<span class="badge state-{state.value.lower()}"{title}>{h(state.value)}</span>'


# -------------------------------------------------------------------- the shell
NAV = (
    ("/", "Overview"),
    ("/runs", "Runs and exports"),
    ("/scheduledjobs", "Scheduled jobs"),
    ("/new", "New scheduled job"),
)


def layout(page: Page, title: str, body: str, *, current: str) -> str:
    """A whole page around `body`."""
    links = "".join(
        f'<li><a href="{h(page.url(path))}"'
        + (' aria-current="page"' if path == current else "")
        + f">{h(label)}</a></li>"
        for path, label in NAV
    )
    who = h(page.user or "unknown user") + (
        f' <span class="muted">(context {h(page.context)})</span>' if page.context else ""
    )
    errors = "".join(f'<p class="error">{h(e)}</p>' for e in page.errors)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{h(title)} · jobwarden</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{h(page.url("/static/dashboard.css"))}">
<script src="{h(page.url("/static/dashboard.js"))}" defer></script>
</head>
<body data-base="{h(page.base)}">
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<span class="brand">jobwarden</span>
<nav aria-label="Main"><ul>{links}</ul></nav>
<p class="who">Acting as <strong>{who}</strong></p>
</header>
<main id="main" tabindex="-1">
<h1>{h(title)}</h1>
<div id="alert" class="alert" role="alert" aria-live="assertive"></div>
<div id="notice" class="notice" role="status" aria-live="polite"></div>
<div id="scope-errors" data-live>{errors}</div>
{body}
</main>
<footer><p><span id="live" class="live" data-state="connecting">
Connecting to live updates…</span></p></footer>
{cancel_dialog()}
{bulk_dialog()}
</body>
</html>
"""


def cancel_dialog() -> str:
    """The confirmation dialog shared by every Cancel button."""
    return f"""<dialog id="cancel-dialog" aria-labelledby="cancel-title"
 aria-describedby="cancel-text">
<h2 id="cancel-title">Cancel <span id="cancel-target"></span>?</h2>
<p id="cancel-text">{h(CONFIRM_TEXT)}</p>
<p><label for="cancel-reason">Reason (optional)</label>
<input id="cancel-reason" type="text" maxlength="{MAX_REASON_CHARS}" autocomplete="off"></p>
<div class="buttons">
<button type="button" id="cancel-dismiss">Cancel</button>
<button type="button" id="cancel-confirm" class="danger">Confirm</button>
</div>
</dialog>"""


def bulk_dialog() -> str:
    """The confirmation of a cancel of many runs: how many, the first few by name."""
    return f"""<dialog id="bulk-dialog" aria-labelledby="bulk-title" aria-describedby="bulk-text">
<h2 id="bulk-title">Cancel <span id="bulk-count"></span>?</h2>
<p id="bulk-text">{h(BULK_CONFIRM_TEXT)}</p>
<ul id="bulk-list"></ul>
<p><label for="bulk-reason">Reason (optional)</label>
<input id="bulk-reason" type="text" maxlength="{MAX_REASON_CHARS}" autocomplete="off"></p>
<div class="buttons">
<button type="button" id="bulk-dismiss">Cancel</button>
<button type="button" id="bulk-confirm" class="danger">Confirm</button>
</div>
</dialog>"""


# ------------------------------------------------------------------- fragments
def phase_label(obj: Mapping[str, Any]) -> str:
    """The phase as shown: `Cancelling…` from the moment a cancel is asked for."""
    phase = phase_of(obj)
    if cancel_requested(obj) and phase not in TERMINAL_PHASES:
        return CANCELLING
    return phase


def badge(obj: Mapping[str, Any]) -> str:
    """The phase badge of a run."""
    label = phase_label(obj)
    css = "cancelling" if label == CANCELLING else label.lower()
    return f'<span class="badge phase-{h(css)}" data-phase-for="{h(key_of(obj))}">{h(label)}</span>'


def phase_cell(obj: Mapping[str, Any]) -> str:
    """The badge, and for a Starting run what it waits for (the message as tooltip)."""
    status = status_of(obj)
    reason = status.get("reason")
    if phase_label(obj) != "Starting" or not reason:
        return badge(obj)
    message = str(status.get("message") or "")
    return (
        f'{badge(obj)} <span class="reason" title="{h(message)}">{h(reason)}</span>'
        f'<span class="visually-hidden">: {h(message)}</span>'
    )


def progress_cell(obj: Mapping[str, Any]) -> str:
    """A progress bar with its percentage, or a dash before any report."""
    progress = status_of(obj).get("progress") or {}
    percent = progress.get("percent")
    if percent is None and progress.get("fraction") is not None:
        percent = int(float(progress["fraction"]) * 100)
    if percent is None:
        return f'<span class="muted">{DASH}</span>'
    value = max(0, min(100, int(percent)))
    return (
        f'<progress max="100" value="{value}" aria-label="Progress of {h(name_of(obj))}">'
        f"{value}%</progress> <span>{value}%</span>"
    )


def elapsed_cell(obj: Mapping[str, Any], now: datetime.datetime) -> str:
    """Elapsed time; the page's script keeps it ticking while the run lasts."""
    status = status_of(obj)
    start = parse_time(status.get("startTime")) or created_at(obj)
    end = parse_time(status.get("completionTime")) if is_terminal(obj) else None
    text = human_duration(elapsed_seconds(obj, now)) or DASH
    attrs = f' data-start="{h(format_timestamp(start))}"' if start else ""
    if end is not None:
        attrs += f' data-end="{h(format_timestamp(end))}"'
    return f'<span class="elapsed"{attrs}>{h(text)}</span>'


def queue_cell(obj: Mapping[str, Any]) -> str:
    """The queue position and why, and when the run is expected to start
    (status.queue.estimatedStartTime), shown relative by the page's script."""
    text = h(queue_text(obj))
    expected = estimated_start(obj)
    if expected is None:
        return text
    return f'{text}<br><span class="muted">starts ≈ {when(expected)}</span>'


def can_offer_cancel(obj: Mapping[str, Any]) -> bool:
    """The run is in a phase where a Cancel button belongs."""
    return phase_of(obj) in CANCELLABLE_PHASES and not cancel_requested(obj)


def cancel_button(obj: Mapping[str, Any], right: CancelRight | None) -> str:
    """The Cancel button: enabled if the caller may cancel, disabled (with the
    reason as its tooltip) if not, absent once there is nothing to cancel."""
    if not can_offer_cancel(obj):
        return ""
    name = name_of(obj)
    data = (
        f'data-cancel data-key="{h(key_of(obj))}" data-kind="{h(obj.get("kind"))}" '
        f'data-namespace="{h(namespace_of(obj))}" data-name="{h(name)}"'
    )
    ident = h(dom_id("cancel", obj))
    if right is not None and right.allowed:
        return (
            f'<button type="button" class="cancel" id="{ident}" {data} '
            f'aria-label="Cancel job {h(name)}" title="{CANCEL_TOOLTIP}">Cancel</button>'
        )
    why = right.why if right is not None else "unknown"
    return (
        f'<button type="button" class="cancel" id="{ident}" {data} disabled '
        f'aria-label="Cancel job {h(name)} (not allowed)" '
        f'title="You may not cancel this job: {h(why)}">Cancel</button>'
    )


# ---------------------------------------------------------------------- runs
@dataclass(frozen=True)
class RunFilter:
    """The runs table's filters."""

    namespace: str = ""
    phase: str = ""
    text: str = ""
    kind: str = ""

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether a run passes every filter."""
        if self.namespace and namespace_of(obj) != self.namespace:
            return False
        if self.kind and obj.get("kind") != self.kind:
            return False
        if self.phase:
            shown = phase_label(obj)
            wanted = self.phase
            if wanted == "active":
                if is_terminal(obj):
                    return False
            elif wanted == "Cancelling":
                if shown != CANCELLING:
                    return False
            elif phase_of(obj) != wanted or shown == CANCELLING:
                return False
        if self.text:
            needle = self.text.lower()
            hay = " ".join(
                str(x or "")
                for x in (
                    name_of(obj),
                    obj.get("kind"),
                    namespace_of(obj),
                    annotation(obj, c.ANNOTATION_CREATED_BY),
                    scheduled_job_of(obj),
                    phase_label(obj),
                )
            ).lower()
            if needle not in hay:
                return False
        return True


def newest_first(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Objects by creation time, newest first (then by name)."""
    return sorted(
        objects,
        key=lambda o: (str((o.get("metadata") or {}).get("creationTimestamp") or ""), name_of(o)),
        reverse=True,
    )


def can_offer_rerun(obj: Mapping[str, Any]) -> bool:
    """The run failed or was cancelled: a Re-run button belongs."""
    return phase_of(obj) in RERUNNABLE_PHASES


def select_box(obj: Mapping[str, Any], right: CancelRight | None) -> str:
    """The row's checkbox for "Cancel selected", where a Cancel is offered and allowed."""
    if not can_offer_cancel(obj) or right is None or not right.allowed:
        return ""
    return (
        f'<input type="checkbox" class="select" id="{h(dom_id("select", obj))}" '
        f'data-select="{h(key_of(obj))}" aria-label="Select {h(name_of(obj))}">'
    )


def run_row(
    page: Page,
    obj: Mapping[str, Any],
    right: CancelRight | None,
    *,
    show_namespace: bool,
    rerun: Right | None = None,
) -> str:
    """One row of the runs table."""
    state = "requested" if cancel_requested(obj) else "open"
    cells = [
        f"<td>{select_box(obj, right)}</td>",
        f'<th scope="row"><a href="{h(object_url(page, obj))}">{h(name_of(obj))}</a></th>',
        f"<td>{h(obj.get('kind'))}</td>",
    ]
    if show_namespace:
        cells.append(f"<td>{h(namespace_of(obj))}</td>")
    actions = cancel_button(obj, right)
    if can_offer_rerun(obj):
        actions = action_button("rerun", "Re-run", obj, rerun, named=True, doing="re-run it")
    cells += [
        f"<td>{phase_cell(obj)}</td>",
        f"<td>{progress_cell(obj)}</td>",
        f"<td>{elapsed_cell(obj, page.now)}</td>",
        f"<td>{queue_cell(obj)}</td>",
        f"<td>{h(annotation(obj, c.ANNOTATION_CREATED_BY) or DASH)}</td>",
        f"<td>{actions}</td>",
    ]
    return (
        f'<tr id="{h(dom_id("row", obj))}" data-key="{h(key_of(obj))}" '
        f'data-phase="{h(phase_of(obj))}" data-state="{state}">' + "".join(cells) + "</tr>"
    )


def filtered_runs(runs: Iterable[Mapping[str, Any]], flt: RunFilter) -> list[Mapping[str, Any]]:
    """The runs the filter keeps, newest first (what the table pages through)."""
    return newest_first(r for r in runs if flt.matches(r))


def runs_page(
    page: Page,
    runs: Iterable[Mapping[str, Any]],
    rights: Mapping[str, CancelRight],
    flt: RunFilter,
    *,
    number: int = 1,
    rerun_rights: Mapping[str, Right] | None = None,
    open_count: int | None = None,
    bulk: Right | None = None,
    filtered: bool = False,
) -> str:
    """Runs and exports: filters, the bulk actions, and the live table, one page of it
    (`runs` already filtered and ordered when `filtered`)."""
    chosen = list(runs) if filtered else filtered_runs(runs, flt)
    visible, number, _pages = paginate(chosen, number)
    show_ns = not flt.namespace
    headers = ["Name", "Kind", *(["Namespace"] if show_ns else []), "Phase", "Progress"]
    headers += ["Elapsed", "Queue position", "Started by", "Actions"]
    selectable = any(select_box(r, rights.get(key_of(r))) for r in visible)
    select_all = (
        '<input type="checkbox" id="select-page" '
        'aria-label="Select every run on this page that you may cancel">'
        if selectable
        else '<span class="visually-hidden">Select</span>'
    )
    head = f'<th scope="col">{select_all}</th>' + "".join(
        f'<th scope="col">{h(x)}</th>' for x in headers
    )
    reruns = rerun_rights or {}
    rows = "".join(
        run_row(
            page,
            r,
            rights.get(key_of(r)),
            show_namespace=show_ns,
            rerun=reruns.get(key_of(r)),
        )
        for r in visible
    )
    if not rows:
        rows = f'<tr><td colspan="{len(headers) + 1}" class="muted">No runs match.</td></tr>'
    ns_options = "".join(f'<option value="{h(n)}"></option>' for n in page.namespaces)
    phase_options = _options(
        [("", "Any phase"), ("active", "Not finished")] + [(p, p) for p in RUN_PHASE_FILTERS],
        flt.phase,
    )
    kind_options = _options(
        [("", "Runs and exports"), (c.KIND_JOB_RUN, "JobRuns"), (c.KIND_EXPORT, "Exports")],
        flt.kind,
    )
    query = {"namespace": flt.namespace, "phase": flt.phase, "kind": flt.kind, "q": flt.text}
    open_runs = open_count if open_count is not None else sum(can_offer_cancel(r) for r in chosen)
    return f"""<form class="filters" method="get" action="{h(page.url("/runs"))}" data-live-form>
<p><label for="f-namespace">Namespace</label>
<input id="f-namespace" name="namespace" list="known-namespaces" value="{h(flt.namespace)}"
 placeholder="all watched" autocomplete="off">
<datalist id="known-namespaces">{ns_options}</datalist></p>
<p><label for="f-phase">Phase</label>
<select id="f-phase" name="phase">{phase_options}</select></p>
<p><label for="f-kind">Kind</label>
<select id="f-kind" name="kind">{kind_options}</select></p>
<p><label for="f-text">Search</label>
<input id="f-text" name="q" type="search" value="{h(flt.text)}"
 placeholder="name, creator, job"></p>
<p><button type="submit">Apply filters</button></p>
</form>
<div id="runs-live" data-live>
{bulk_bar(open_runs, bulk)}
<p id="runs-count">{len(chosen)} shown</p>
<div class="table-wrap">
<table id="runs-table" class="runs">
<caption>Runs and exports, newest first; updated live</caption>
<thead><tr>{head}</tr></thead>
<tbody id="runs-body">{rows}</tbody>
</table>
</div>
{pager(page, "/runs", query, total=len(chosen), number=number, what="runs")}
</div>
<section id="bulk-results" class="bulk-results" aria-labelledby="bulk-results-title" hidden>
<h2 id="bulk-results-title">Cancel results</h2>
<div id="bulk-results-body" role="status"></div>
</section>
"""


def bulk_bar(open_runs: int, right: Right | None) -> str:
    """ "Cancel selected" (enabled by the page's script once rows are ticked) and
    "Cancel all matching this filter" (the unfinished runs the filter keeps, on every
    page), disabled where there is nothing to cancel or RBAC says no."""
    matching = f"Cancel all matching this filter ({open_runs:,})"
    if open_runs and (right is None or right.allowed):
        every = f'<button type="button" id="cancel-matching" class="cancel">{h(matching)}</button>'
    else:
        why = (
            "Nothing to cancel: no unfinished run matches"
            if not open_runs
            else f"You may not cancel these: {right.why if right else 'unknown'}"
        )
        every = (
            f'<button type="button" id="cancel-matching" class="cancel" disabled '
            f'title="{h(why)}">{h(matching)}</button>'
        )
    return (
        '<div class="bulk" id="bulk-bar">'
        '<button type="button" id="cancel-selected" class="cancel" disabled '
        'title="Tick the runs to cancel first">Cancel selected '
        '(<span id="selected-count">0</span>)</button> '
        f"{every}</div>"
    )


def _options(choices: Sequence[tuple[str, str]], selected: str) -> str:
    return "".join(
        f'<option value="{h(v)}"' + (" selected" if v == selected else "") + f">{h(label)}</option>"
        for v, label in choices
    )


# ------------------------------------------------------------------ overview
def _finished_within(obj: Mapping[str, Any], since: datetime.datetime) -> bool:
    done = parse_time(status_of(obj).get("completionTime"))
    return is_terminal(obj) and done is not None and done >= since


def overview_page(
    page: Page,
    quotas: Sequence[Mapping[str, Any]],
    runs: Sequence[Mapping[str, Any]],
    jobs: Sequence[Mapping[str, Any]],
) -> str:
    """Per namespace: workers against quota, the queue by priority, results of the
    last 24 hours and stuck runs."""
    since = page.now - datetime.timedelta(hours=24)
    results: dict[str, Counter[str]] = {ns: Counter() for ns in page.namespaces}
    live_names = {(namespace_of(r), name_of(r)) for r in runs}
    for run in runs:
        if _finished_within(run, since):
            results.setdefault(namespace_of(run), Counter())[phase_of(run)] += 1
    for job in jobs:  # runs already deleted live on as summaries in the job's history
        for summary in status_of(job).get("history") or []:
            done = parse_time(summary.get("completionTime"))
            key = (namespace_of(job), str(summary.get("name")))
            if done is not None and done >= since and key not in live_names:
                results.setdefault(namespace_of(job), Counter())[str(summary.get("phase"))] += 1
    stuck = [r for r in runs if not is_terminal(r) and is_stuck(r)]
    rows = []
    for record in quotas:
        ns = str(record["namespace"])
        counts = results.get(ns, Counter())
        by_priority = record.get("queuedByPriority") or {}
        maximum = int(record.get("maxRunning") or 0)
        running = int(record["running"])
        quota_name = "default quota" if record.get("default") else f"WorkerQuota {record['name']}"
        stuck_here = sum(1 for r in stuck if namespace_of(r) == ns)
        result_cells = "".join(
            f'<td><a href="{h(page.url("/runs", namespace=ns, phase=p))}" '
            f'aria-label="{counts[p]} {p.lower()} in {h(ns)}">{counts[p]}</a></td>'
            for p in RESULT_PHASES
        )
        rows.append(
            f'<tr id="ov-{h(ns)}"><th scope="row">'
            f'<a href="{h(page.url("/runs", namespace=ns))}">{h(ns)}</a></th>'
            f'<td><meter min="0" max="{max(maximum, 1)}" value="{min(running, max(maximum, 1))}" '
            f'aria-label="Workers in use in {h(ns)}">{running}/{maximum}</meter> '
            f'{running} of {maximum} <span class="muted">({h(quota_name)})</span></td>'
            f"<td>{int(record['queued'])}</td>"
            + "".join(f"<td>{int(by_priority.get(p, 0))}</td>" for p in ("high", "medium", "low"))
            + result_cells
            + f"<td>{stuck_here}</td></tr>"
        )
    if not rows:
        rows.append('<tr><td colspan="9" class="muted">No namespace watched yet.</td></tr>')
    stuck_items = "".join(
        f'<li><a href="{h(object_url(page, r))}">{h(namespace_of(r))}/{h(name_of(r))}</a> '
        f"({h(r.get('kind'))}, {h(phase_of(r))}): {h(_stuck_message(r))}</li>"
        for r in stuck
    )
    stuck_list = f"<ul>{stuck_items}</ul>" if stuck_items else "<p>No stuck runs.</p>"
    minutes = finished_per_minute(runs, jobs, page.now)
    return f"""<section aria-labelledby="ov-chart">
<h2 id="ov-chart">Runs finished per minute, last hour</h2>
<div id="chart-live" data-live>{charts.finished_chart(minutes)}</div>
</section>
<section aria-labelledby="ov-quota">
<h2 id="ov-quota">Namespaces</h2>
<div class="table-wrap" id="overview-live" data-live>
<table class="overview">
<caption>Workers against quota, queue by priority, results of the last 24 hours</caption>
<thead>
<tr><th scope="col" rowspan="2">Namespace</th><th scope="col" rowspan="2">Workers running</th>
<th scope="colgroup" colspan="4">Queued</th><th scope="colgroup" colspan="3">Last 24 hours</th>
<th scope="col" rowspan="2">Stuck</th></tr>
<tr><th scope="col">All</th><th scope="col">High</th><th scope="col">Medium</th>
<th scope="col">Low</th><th scope="col">Succeeded</th><th scope="col">Failed</th>
<th scope="col">Cancelled</th></tr>
</thead>
<tbody>{"".join(rows)}</tbody>
</table>
</div>
</section>
<section aria-labelledby="ov-stuck">
<h2 id="ov-stuck">Stuck runs</h2>
<div id="stuck-live" data-live>{stuck_list}</div>
</section>
"""


def _stuck_message(obj: Mapping[str, Any]) -> str:
    for cond in status_of(obj).get("conditions") or []:
        if cond.get("type") == "Stuck":
            return str(cond.get("message") or cond.get("reason") or "stuck")
    return "stuck"


# ------------------------------------------------------------ scheduled jobs
def paused(job: Mapping[str, Any]) -> bool:
    """spec.suspend, or paused by the operator after failed runs (status.failurePause)."""
    return bool(spec_of(job).get("suspend")) or failure_pause(job) is not None


def _deadline_text(job: Mapping[str, Any]) -> str:
    """spec.deadlineSeconds and whether the newest run met it (condition DeadlineMissed)."""
    seconds = spec_of(job).get("deadlineSeconds")
    if not seconds:
        return DASH
    state = condition(job, ConditionType.DEADLINE_MISSED.value)
    text = f"{human_duration(float(seconds))} after each fire"
    if state is not None:
        text += f"; {state.get('message')}"
    return text


def job_buttons(job: Mapping[str, Any], rights: JobRights | None, *, named: bool) -> str:
    """Run now and Pause or Resume, as RBAC and the webhook allow; none once the job
    is over (Completed or Cancelled)."""
    if job_state(job) in (JobState.COMPLETED, JobState.CANCELLED):
        return ""
    rights = rights or JobRights()
    toggle = (
        action_button("resume", "Resume", job, rights.suspend, named=named)
        if paused(job)
        else action_button("pause", "Pause", job, rights.suspend, named=named)
    )
    run = action_button("run", "Run now", job, rights.run, named=named, doing="run it now")
    return f"{run} {toggle}"


def sorted_jobs(jobs: Iterable[Mapping[str, Any]], namespace: str) -> list[Mapping[str, Any]]:
    """The ScheduledJobs shown (in `namespace`, if given), by namespace and name."""
    return sorted(
        (j for j in jobs if not namespace or namespace_of(j) == namespace),
        key=lambda j: (namespace_of(j), name_of(j)),
    )


def jobs_page(
    page: Page,
    jobs: Iterable[Mapping[str, Any]],
    namespace: str,
    *,
    rights: Mapping[str, JobRights] | None = None,
    number: int = 1,
    new_url: str = "",
) -> str:
    """The ScheduledJobs, with schedule, state badge, next and last runs (in the job's
    own time zone), and Run now / Pause / Resume on each row; one page of them."""
    chosen = sorted_jobs(jobs, namespace)
    visible, number, _pages = paginate(chosen, number)
    rows = []
    for job in visible:
        status, spec = status_of(job), spec_of(job)
        zone = time_zone_of(job)
        rows.append(
            f'<tr id="{h(dom_id("row", job))}" data-key="{h(key_of(job))}">'
            f'<th scope="row"><a href="{h(object_url(page, job))}">{h(name_of(job))}</a></th>'
            f"<td>{h(namespace_of(job))}</td><td><code>{h(spec.get('schedule') or 'one-time')}"
            f"</code></td><td>{h(zone)}</td><td>{job_badge(job)}</td>"
            f"<td>{when(status.get('nextScheduleTime'), zone)}</td>"
            f"<td>{when(status.get('lastScheduleTime'), zone)}</td>"
            f'<td class="actions">{job_buttons(job, (rights or {}).get(key_of(job)), named=True)}'
            "</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="8" class="muted">No scheduled jobs.</td></tr>'
    action = h(page.url("/scheduledjobs"))
    new = f'<p><a class="button" href="{h(new_url)}">New scheduled job</a></p>' if new_url else ""
    paging = pager(
        page,
        "/scheduledjobs",
        {"namespace": namespace},
        total=len(chosen),
        number=number,
        what="scheduled jobs",
    )
    return f"""{new}<form class="filters" method="get" action="{action}" data-live-form>
<p><label for="j-namespace">Namespace</label>
<input id="j-namespace" name="namespace" value="{h(namespace)}" placeholder="all watched"
 autocomplete="off"></p>
<p><button type="submit">Apply filters</button></p>
</form>
<div id="jobs-live" data-live>
<div class="table-wrap">
<table>
<caption>Scheduled jobs; next and last runs in each job's time zone</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Namespace</th><th scope="col">Schedule</th>
<th scope="col">Time zone</th><th scope="col">State</th><th scope="col">Next run</th>
<th scope="col">Last run</th><th scope="col">Actions</th></tr></thead>
<tbody id="jobs-body">{body}</tbody>
</table>
</div>
{paging}
</div>
"""


def job_page(
    page: Page,
    job: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    *,
    status_filter: str,
    days: str,
    csv_url: str,
    rights: JobRights | None = None,
    durations: Sequence[Mapping[str, Any]] = (),
    number: int = 1,
    upcoming: Sequence[PreviewFire] = (),
    upcoming_problem: str = "",
) -> str:
    """One ScheduledJob: its schedule and state, actions, its next runs (the
    operator's own reading: DST marks, jitter), the durations of its recent runs, and
    its history (one page of it)."""
    status, spec = status_of(job), spec_of(job)
    ns, name = namespace_of(job), name_of(job)
    zone = time_zone_of(job)
    facts = [
        ("Namespace", h(ns)),
        ("Schedule", f"<code>{h(spec.get('schedule') or 'one-time')}</code>"),
        ("Time zone", h(zone)),
        ("State", job_badge(job)),
        ("Next run", when(status.get("nextScheduleTime"), zone)),
        ("Last run", when(status.get("lastScheduleTime"), zone)),
        ("Last success", when(status.get("lastSuccessfulTime"), zone)),
        ("Last failure", when(status.get("lastFailureTime"), zone)),
        ("Failed in a row", h(status.get("consecutiveFailures") or 0)),
        ("Paused after failures", h((failure_pause(job) or {}).get("message") or DASH)),
        ("Deadline", h(_deadline_text(job))),
        ("Concurrency policy", h(spec.get("concurrencyPolicy") or "Allow")),
        ("Created by", h(annotation(job, c.ANNOTATION_CREATED_BY) or DASH)),
    ]
    buttons = job_buttons(job, rights, named=False)
    status_options = _options(
        [("", "Any status")] + [(p, p) for p in RUN_PHASE_FILTERS if p != "Cancelling"],
        status_filter,
    )
    days_options = _options(
        [(str(d), f"Last {d} days") for d in HISTORY_DAYS] + [("all", "All kept")], days
    )
    visible, number, _pages = paginate(records, number)
    rows = "".join(_history_row(page, ns, r) for r in visible) or (
        '<tr><td colspan="8" class="muted">No runs match.</td></tr>'
    )
    base = f"/ns/{urllib.parse.quote(ns)}/scheduledjobs/{urllib.parse.quote(name)}"
    paging = pager(
        page,
        base,
        {"status": status_filter, "days": days},
        total=len(records),
        number=number,
        what="runs",
    )
    return f"""<div id="job-live" data-live>
<dl class="facts">{"".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)}</dl>
<p class="actions">{buttons}</p>
</div>
{next_runs_section(job, upcoming, upcoming_problem)}
<section aria-labelledby="durations-title">
<h2 id="durations-title">Durations of recent runs</h2>
<div id="durations-live" data-live>{charts.duration_chart(durations)}</div>
</section>
<section aria-labelledby="history-title">
<h2 id="history-title">History</h2>
<form class="filters" method="get" data-live-form>
<p><label for="h-status">Status</label>
<select id="h-status" name="status">{status_options}</select></p>
<p><label for="h-days">Period</label>
<select id="h-days" name="days">{days_options}</select></p>
<p><button type="submit">Apply filters</button></p>
</form>
<p id="history-download" data-live>
<a href="{h(csv_url)}" download="{h(name)}-history.csv">Download CSV</a>
 <span class="muted">({len(records)} runs)</span></p>
<div id="history-live" data-live>
<div class="table-wrap">
<table>
<caption>Runs of {h(name)}, newest first</caption>
<thead><tr><th scope="col">Run</th><th scope="col">Trigger</th><th scope="col">Phase</th>
<th scope="col">Reason</th><th scope="col">Started</th><th scope="col">Duration</th>
<th scope="col">Triggered by</th><th scope="col">Source</th></tr></thead>
<tbody id="history-body">{rows}</tbody>
</table>
</div>
{paging}
</div>
</section>
"""


def next_runs_section(
    job: Mapping[str, Any], upcoming: Sequence[PreviewFire], problem: str = ""
) -> str:
    """The job's next fires: on its own clock and in UTC, when its run starts (with
    spec.jitterSeconds), and what a DST change does to it."""
    zone = time_zone_of(job)
    jitter = any(fire.delay_seconds for fire in upcoming) or bool(spec_of(job).get("jitterSeconds"))
    if not upcoming:
        text = problem or "No coming runs (a one-time job)."
        content = f'<p class="muted">{h(text)}</p>'
    else:
        rows = []
        for number, fire in enumerate(upcoming, start=1):
            note = fire.note()
            mark = f'<span class="badge dst">DST</span> {h(note)}' if note else ""
            starts = (
                f"<td>{h(fire.effective_local.strftime('%Y-%m-%d %H:%M:%S %Z'))} "
                f'<span class="muted">(+{h(human_duration(fire.delay_seconds) or "0s")})</span>'
                "</td>"
                if jitter
                else ""
            )
            rows.append(
                f'<tr><th scope="row">{number}</th>'
                f"<td>{h(fire.local.strftime('%Y-%m-%d %H:%M:%S %Z'))}</td>"
                f"<td><code>{h(format_timestamp(fire.time))}</code></td>{starts}"
                f"<td>{mark}</td></tr>"
            )
        head = '<th scope="col">Starts (jitter)</th>' if jitter else ""
        content = f"""<div class="table-wrap">
<table id="next-runs-table">
<caption>Next {len(upcoming)} runs of {h(name_of(job))} ({h(zone)} and UTC)</caption>
<thead><tr><th scope="col">#</th><th scope="col">{h(zone)}</th><th scope="col">UTC</th>
{head}<th scope="col">Daylight saving</th></tr></thead>
<tbody>{"".join(rows)}</tbody>
</table>
</div>"""
    return f"""<section aria-labelledby="next-runs-title">
<h2 id="next-runs-title">Next runs</h2>
<div id="next-runs-live" data-live>{content}</div>
</section>"""


def _history_row(page: Page, namespace: str, record: Mapping[str, Any]) -> str:
    name = str(record.get("name"))
    if record.get("source") == c.KIND_JOB_RUN:
        ref = page.url(f"/ns/{urllib.parse.quote(namespace)}/jobruns/{urllib.parse.quote(name)}")
        label = f'<a href="{h(ref)}">{h(name)}</a>'
    else:
        label = h(name)
    duration = record.get("durationSeconds")
    return (
        f'<tr><th scope="row">{label}</th><td>{h(record.get("trigger") or DASH)}</td>'
        f'<td><span class="badge phase-{h(str(record.get("phase") or "").lower())}">'
        f"{h(record.get('phase') or DASH)}</span></td>"
        f"<td>{h(record.get('reason') or DASH)}</td><td>{when(record.get('startTime'))}</td>"
        f"<td>{h(human_duration(duration) if isinstance(duration, int | float) else DASH)}</td>"
        f"<td>{h(record.get('triggeredBy') or DASH)}</td><td>{h(record.get('source'))}</td></tr>"
    )


# ----------------------------------------------------------------------- run
def run_page(
    page: Page,
    obj: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    right: CancelRight | None,
    *,
    rerun: Right | None = None,
    timeline: Sequence[Segment] = (),
) -> str:
    """One run or export: summary, actions, timeline, progress, attempts,
    cancellation, execution log, Events, and the worker's log."""
    status, spec = status_of(obj), spec_of(obj)
    started, completed = (
        parse_time(status.get("startTime")),
        parse_time(status.get("completionTime")),
    )
    job = scheduled_job_of(obj)
    job_link = (
        f'<a href="{h(page.url(f"/ns/{namespace_of(obj)}/scheduledjobs/{job}"))}">{h(job)}</a>'
        if job
        else DASH
    )
    facts = [
        ("Kind", h(obj.get("kind"))),
        ("Namespace", h(namespace_of(obj))),
        ("Phase", badge(obj) + (f" {h(status.get('reason'))}" if status.get("reason") else "")),
        ("Message", h(status.get("message") or DASH)),
        ("Scheduled job", job_link),
        ("Trigger", h(spec.get("trigger") or DASH)),
        ("Priority", h(priority_of(obj))),
        ("Queue", queue_cell(obj)),
        ("Started by", h(annotation(obj, c.ANNOTATION_CREATED_BY) or DASH)),
        ("Created", when(created_at(obj))),
        ("Started", when(started)),
        ("Completed", when(completed)),
        ("Elapsed", elapsed_cell(obj, page.now)),
    ]
    button = cancel_button(obj, right)
    if can_offer_rerun(obj):
        button = action_button("rerun", "Re-run", obj, rerun, doing="re-run it")
    progress = status.get("progress") or {}
    counters = progress.get("counters") or {}
    progress_html = (
        f"<p>{progress_cell(obj)}</p>"
        + (f"<p>{h(progress.get('message'))}</p>" if progress.get("message") else "")
        + (
            "<ul>"
            + "".join(f"<li>{h(k)}: {h(v)}</li>" for k, v in sorted(counters.items()))
            + "</ul>"
            if counters
            else ""
        )
        + (
            f'<p class="muted">Reported {when(progress.get("updateTime"))}</p>'
            if progress.get("updateTime")
            else ""
        )
        if progress
        else "<p>No progress reported.</p>"
    )
    attempts = status.get("attempts") or []
    attempt_rows = "".join(
        f'<tr><th scope="row">{h(a.get("attempt"))}</th><td>{h(a.get("podName") or DASH)}</td>'
        f"<td>{when(a.get('startTime'))}</td><td>{when(a.get('finishTime'))}</td>"
        f"<td>{h(DASH if a.get('exitCode') is None else a.get('exitCode'))}</td>"
        f"<td>{h(a.get('reason') or DASH)}</td><td>{h(a.get('message') or '')}</td></tr>"
        for a in attempts
    )
    attempts_html = (
        '<div class="table-wrap"><table><caption>Attempts</caption><thead><tr>'
        '<th scope="col">#</th><th scope="col">Pod</th><th scope="col">Started</th>'
        '<th scope="col">Finished</th><th scope="col">Exit code</th><th scope="col">Reason</th>'
        f'<th scope="col">Message</th></tr></thead><tbody>{attempt_rows}</tbody></table></div>'
        if attempts
        else "<p>No attempt yet.</p>"
    )
    cancellation = status.get("cancellation") or {}
    if cancellation:
        grace = cancellation.get("gracePeriodSeconds")
        cancel_facts = [
            ("Requested by", h(cancellation.get("requestedBy") or DASH)),
            ("Requested at", when(cancellation.get("requestedAt"))),
            ("Reason", h(cancellation.get("reason") or DASH)),
            ("Signalled at", when(cancellation.get("signalledAt"))),
            ("Grace period", h(f"{grace} s" if grace is not None else DASH)),
            ("Finished at", when(cancellation.get("finishedAt"))),
            ("Outcome", h(cancellation.get("outcome") or DASH)),
        ]
        cancel_html = (
            '<dl class="facts">'
            + "".join(f"<dt>{h(k)}</dt><dd>{v}</dd>" for k, v in cancel_facts)
            + "</dl>"
        )
    elif cancel_requested(obj):
        cancel_html = "<p>Requested; the operator has not picked it up yet.</p>"
    else:
        cancel_html = "<p>Not cancelled.</p>"
    log_rows = "".join(
        f"<tr><td>{when(e.get('time'))}</td><td>{h(e.get('message'))}</td></tr>"
        for e in status.get("log") or []
    )
    log_html = (
        '<div class="table-wrap"><table><caption>Execution log, newest last</caption><thead><tr>'
        '<th scope="col">Time</th><th scope="col">Message</th></tr></thead>'
        f"<tbody>{log_rows}</tbody></table></div>"
        if log_rows
        else "<p>The log is empty.</p>"
    )
    event_rows = "".join(
        f"<tr><td>{when(event_time(e))}</td><td>{h(e.get('type'))}</td>"
        f"<td>{h(e.get('reason'))}</td><td>{h(e.get('message'))}</td></tr>"
        for e in events
    )
    events_html = (
        '<div class="table-wrap"><table><caption>Recent Events</caption><thead><tr>'
        '<th scope="col">Time</th><th scope="col">Type</th><th scope="col">Reason</th>'
        f'<th scope="col">Message</th></tr></thead><tbody>{event_rows}</tbody></table></div>'
        if event_rows
        else "<p>No recent Events.</p>"
    )
    state = "requested" if cancel_requested(obj) else "open"
    return f"""<div id="run-live" data-live data-key="{h(key_of(obj))}"
 data-phase="{h(phase_of(obj))}"
 data-state="{state}">
<dl class="facts">{"".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)}</dl>
<p class="actions">{button}</p>
<section aria-labelledby="s-timeline"><h2 id="s-timeline">Timeline</h2>
{charts.timeline_chart(timeline)}</section>
{log_attempts(obj)}
<section aria-labelledby="s-progress"><h2 id="s-progress">Progress</h2>{progress_html}</section>
<section aria-labelledby="s-attempts"><h2 id="s-attempts">Attempts</h2>{attempts_html}</section>
<section aria-labelledby="s-cancel"><h2 id="s-cancel">Cancellation</h2>{cancel_html}</section>
<section aria-labelledby="s-log"><h2 id="s-log">Execution log</h2>{log_html}</section>
<section aria-labelledby="s-events"><h2 id="s-events">Events</h2>{events_html}</section>
</div>
{log_section(obj, page)}
"""


def not_found_page(page: Page, what: str) -> str:
    """The body of a page whose object does not exist (or is not visible)."""
    back = h(page.url("/"))
    return (
        f"<p>{h(what)} was not found, or you may not read it.</p>"
        f'<p><a href="{back}">Back to the overview</a></p>'
    )


# ------------------------------------------------------------------ worker log
#: Phases in which the current attempt's worker may be writing its log.
LOG_LIVE_PHASES = frozenset({"Starting", "Running", "Cancelling"})


def log_attempts(obj: Mapping[str, Any]) -> str:
    """The run's worker pods, for the log viewer's script (hidden; swapped with the
    run's live region, so a new attempt appears in the viewer without a reload)."""
    attempts = status_of(obj).get("attempts") or []
    following = phase_of(obj) in LOG_LIVE_PHASES
    items = "".join(
        f'<li data-attempt="{h(a.get("attempt"))}" data-pod="{h(a.get("podName"))}" '
        f'data-follow="{str(following and a is attempts[-1] and not a.get("finishTime")).lower()}">'
        f"{h(a.get('podName'))}</li>"
        for a in attempts
        if a.get("podName")
    )
    return f'<ul id="log-attempts" hidden>{items}</ul>'


def log_section(obj: Mapping[str, Any], page: Page) -> str:
    """The worker's log, read through the API (`pods/log`) as the caller: followed
    while the worker runs, its tail afterwards; the page's script fills it."""
    attempts = [a for a in status_of(obj).get("attempts") or [] if a.get("podName")]
    options = "".join(
        f'<option value="{h(a.get("attempt"))}"'
        + (" selected" if a is attempts[-1] else "")
        + f">{h(a.get('attempt'))} ({h(a.get('podName'))})</option>"
        for a in attempts
    )
    hidden = "" if attempts else " hidden"
    waiting = (
        "Loading the worker's log…"
        if attempts
        else "No worker has started yet: the log appears when the run's first pod starts."
    )
    return f"""<section id="logs" aria-labelledby="s-worker-log"
 data-log-url="{h(object_url(page, obj) + "/log")}">
<h2 id="s-worker-log">Worker log</h2>
<p class="log-controls" id="log-controls"{hidden}><label for="log-attempt">Attempt</label>
<select id="log-attempt">{options}</select>
<button type="button" id="log-reload">Reload</button></p>
<p id="log-state" role="status">{h(waiting)}</p>
<pre id="log-text" class="log" tabindex="0" aria-labelledby="s-worker-log"></pre>
</section>"""
