"""The dashboard's charts, drawn by hand in SVG: runs finished per minute, a run's
timeline, a ScheduledJob's durations. Pure functions returning HTML.

Every chart is an `<svg role="img">` named by a one-sentence summary, followed by
the same numbers as a table (in a `<details>`), so screen readers and people who
would rather read get everything the picture shows. Colours always come with text
(legend, summary, table).
"""

from __future__ import annotations

import datetime
import html
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from jobwarden.client.stats import RESULTS, Minute
from jobwarden.client.text import exact_duration, format_timestamp
from jobwarden.client.timeline import Segment, Stage

WIDTH = 720
PLOT_LEFT = 44
PLOT_RIGHT = WIDTH - 8
#: Fill colours; each also appears as text in the legend and the table.
RESULT_COLOURS = {"Succeeded": "#1e7b34", "Failed": "#b3261e", "Cancelled": "#5f5f5f"}
STAGE_COLOURS = {
    Stage.QUEUED: "#6b7a99",
    Stage.STARTING: "#a36a00",
    Stage.RUNNING: "#0b62a4",
    Stage.BACKOFF: "#c9c9c9",
    Stage.CANCELLING: "#b3261e",
}
STAGE_LABELS = {
    Stage.QUEUED: "Queued",
    Stage.STARTING: "Starting",
    Stage.RUNNING: "Running",
    Stage.BACKOFF: "Backoff",
    Stage.CANCELLING: "Cancelling",
}


def h(value: object) -> str:
    """HTML-escaped text."""
    return "" if value is None else html.escape(str(value), quote=True)


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<ul class="legend">'
        + "".join(
            '<li><svg class="swatch" width="14" height="14" aria-hidden="true" focusable="false">'
            f'<rect width="14" height="14" fill="{colour}"/></svg>{h(label)}</li>'
            for label, colour in items
        )
        + "</ul>"
    )


def _svg(ident: str, height: int, title: str, body: str) -> str:
    return (
        f'<svg id="{h(ident)}" class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" aria-labelledby="{h(ident)}-title" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{h(ident)}-title">{h(title)}</title>{body}</svg>'
    )


def _when(moment: datetime.datetime) -> str:
    utc = format_timestamp(moment)
    return f'<time datetime="{utc}" title="{utc} (UTC)" data-when>{h(utc)}</time>'


# --------------------------------------------------------- finished per minute
def finished_summary(minutes: Sequence[Minute]) -> str:
    """One sentence: how many finished in the window, by result, and the busiest
    minute."""
    totals = {r: sum(m.counts[r] for m in minutes) for r in RESULTS}
    count = sum(totals.values())
    span = len(minutes)
    if not count:
        return f"No run finished in the last {span} minutes."
    parts = ", ".join(f"{totals[r]} {r.lower()}" for r in RESULTS)
    busiest = max(reversed(list(enumerate(minutes))), key=lambda pair: pair[1].total)
    ago = span - 1 - busiest[0]
    when = "this minute" if ago == 0 else f"{ago} min ago"
    return (
        f"In the last {span} minutes {count} runs finished: {parts}. "
        f"Busiest minute: {when}, with {busiest[1].total}."
    )


def finished_chart(minutes: Sequence[Minute], ident: str = "finished-chart") -> str:
    """Stacked bars: runs finished per minute (succeeded, failed, cancelled), the
    oldest minute left, this minute right; then the numbers as a table."""
    height, top, bottom = 170, 10, 140
    peak = max([m.total for m in minutes] + [1])
    scale = (bottom - top) / peak
    slot = (PLOT_RIGHT - PLOT_LEFT) / max(len(minutes), 1)
    bars = []
    for index, minute in enumerate(minutes):
        x = PLOT_LEFT + index * slot
        y = float(bottom)
        ago = len(minutes) - 1 - index
        label = "this minute" if ago == 0 else f"{ago} min ago"
        said = ", ".join(f"{minute.counts[r]} {r.lower()}" for r in RESULTS if minute.counts[r])
        rects = []
        for result in RESULTS:
            value = minute.counts[result]
            if not value:
                continue
            y -= value * scale
            rects.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(slot - 2, 1):.1f}" '
                f'height="{value * scale:.1f}" fill="{RESULT_COLOURS[result]}"/>'
            )
        if rects:
            bars.append(f"<g><title>{h(label)}: {h(said)}</title>{''.join(rects)}</g>")
    axis = (
        f'<line x1="{PLOT_LEFT}" y1="{bottom}" x2="{PLOT_RIGHT}" y2="{bottom}" class="axis"/>'
        f'<text x="{PLOT_LEFT - 6}" y="{top + 10}" text-anchor="end" class="tick">{peak}</text>'
        f'<text x="{PLOT_LEFT - 6}" y="{bottom}" text-anchor="end" class="tick">0</text>'
        f'<text x="{PLOT_LEFT}" y="{bottom + 18}" class="tick">{len(minutes)} min ago</text>'
        f'<text x="{(PLOT_LEFT + PLOT_RIGHT) / 2:.0f}" y="{bottom + 18}" text-anchor="middle" '
        f'class="tick">{len(minutes) // 2} min ago</text>'
        f'<text x="{PLOT_RIGHT}" y="{bottom + 18}" text-anchor="end" class="tick">now</text>'
    )
    summary = finished_summary(minutes)
    rows = "".join(
        f'<tr><th scope="row">{_when(m.start)}</th>'
        + "".join(f"<td>{m.counts[r]}</td>" for r in RESULTS)
        + "</tr>"
        for m in reversed(minutes)
        if m.total
    )
    table = (
        '<table class="compact"><caption>Runs finished per minute (minutes without any '
        'left out), newest first</caption><thead><tr><th scope="col">Minute from</th>'
        + "".join(f'<th scope="col">{r}</th>' for r in RESULTS)
        + f"</tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else "<p>No run finished in this window.</p>"
    )
    return (
        f'<figure class="chart-figure"><figcaption id="{h(ident)}-summary">{h(summary)}'
        f"</figcaption>{_svg(ident, height, summary, axis + ''.join(bars))}"
        f"{_legend([(r, RESULT_COLOURS[r]) for r in RESULTS])}"
        f'<details id="{h(ident)}-table"><summary>The numbers as a table</summary>{table}</details>'
        "</figure>"
    )


# ------------------------------------------------------------------ timeline
def timeline_summary(segments: Sequence[Segment]) -> str:
    """One sentence: the stages in order with their durations."""
    if not segments:
        return "Nothing to show yet: the run has no recorded time."
    parts = []
    for s in segments:
        name = STAGE_LABELS[s.stage].lower()
        attempt = f" (attempt {s.attempt})" if s.attempt else ""
        parts.append(f"{name}{attempt} {exact_duration(s.seconds)}" + (" so far" if s.open else ""))
    return "Timeline: " + ", then ".join(parts) + "."


def timeline_chart(segments: Sequence[Segment], ident: str = "timeline-chart") -> str:
    """The run's stages on one time axis, from creation to the end (or now); then the
    segments as a table."""
    height, top, bar = 74, 12, 30
    summary = timeline_summary(segments)
    if not segments:
        return f"<p>{h(summary)}</p>"
    begin = min(s.start for s in segments)
    end = max(s.end for s in segments)
    span = max((end - begin).total_seconds(), 1.0)
    width = PLOT_RIGHT - PLOT_LEFT
    shapes = []
    for s in segments:
        x = PLOT_LEFT + (s.start - begin).total_seconds() / span * width
        w = max(s.seconds / span * width, 2.0)
        attempt = f" (attempt {s.attempt})" if s.attempt else ""
        title = f"{STAGE_LABELS[s.stage]}{attempt}: {exact_duration(s.seconds)}"
        pattern = ' class="backoff"' if s.stage is Stage.BACKOFF else ""
        shapes.append(
            f'<g><title>{h(title)}</title><rect{pattern} x="{x:.1f}" y="{top}" '
            f'width="{w:.1f}" height="{bar}" fill="{STAGE_COLOURS[s.stage]}"/></g>'
        )
    axis = (
        f'<line x1="{PLOT_LEFT}" y1="{top + bar + 4}" x2="{PLOT_RIGHT}" y2="{top + bar + 4}" '
        f'class="axis"/><text x="{PLOT_LEFT}" y="{top + bar + 22}" class="tick">created</text>'
        f'<text x="{PLOT_RIGHT}" y="{top + bar + 22}" text-anchor="end" class="tick">'
        f"{h(exact_duration(span))} later</text>"
    )
    rows = "".join(
        f'<tr><th scope="row">{h(STAGE_LABELS[s.stage])}</th><td>{h(s.attempt or "")}</td>'
        f"<td>{_when(s.start)}</td><td>{'(still going)' if s.open else _when(s.end)}</td>"
        f"<td>{h(exact_duration(s.seconds))}</td></tr>"
        for s in segments
    )
    used = [st for st in Stage if any(s.stage is st for s in segments)]
    return (
        f'<figure class="chart-figure"><figcaption id="{h(ident)}-summary">{h(summary)}'
        f"</figcaption>{_svg(ident, height, summary, axis + ''.join(shapes))}"
        f"{_legend([(STAGE_LABELS[st], STAGE_COLOURS[st]) for st in used])}"
        f'<details id="{h(ident)}-table"><summary>The timeline as a table</summary>'
        '<table class="compact">'
        "<caption>Stages of the run, oldest first</caption><thead><tr>"
        '<th scope="col">Stage</th><th scope="col">Attempt</th><th scope="col">From</th>'
        '<th scope="col">To</th><th scope="col">Duration</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></details></figure>"
    )


# ---------------------------------------------------------------- durations
def duration_summary(records: Sequence[Mapping[str, Any]]) -> str:
    """One sentence: how many runs, median, longest and shortest."""
    if not records:
        return "No finished run with a duration yet."
    seconds = [float(r["durationSeconds"]) for r in records]
    longest = max(records, key=lambda r: float(r["durationSeconds"]))
    return (
        f"The last {len(records)} runs took {exact_duration(min(seconds))} to "
        f"{exact_duration(max(seconds))} (median {exact_duration(statistics.median(seconds))}); "
        f"the longest was {longest.get('name')} ({longest.get('phase')})."
    )


def duration_chart(records: Sequence[Mapping[str, Any]], ident: str = "duration-chart") -> str:
    """One bar per recent run, oldest left, its height the run's duration and its
    colour its result; then the numbers as a table."""
    summary = duration_summary(records)
    if not records:
        return f"<p>{h(summary)}</p>"
    height, top, bottom = 170, 10, 140
    peak = max(float(r["durationSeconds"]) for r in records) or 1.0
    slot = (PLOT_RIGHT - PLOT_LEFT) / max(len(records), 10)
    bars = []
    for index, record in enumerate(records):
        seconds = float(record["durationSeconds"])
        tall = max(seconds / peak * (bottom - top), 1.0)
        phase = str(record.get("phase") or "")
        colour = RESULT_COLOURS.get(phase, "#0b62a4")
        title = f"{record.get('name')}: {exact_duration(seconds)}, {phase}"
        bars.append(
            f'<g><title>{h(title)}</title><rect x="{PLOT_LEFT + index * slot + 2:.1f}" '
            f'y="{bottom - tall:.1f}" width="{max(slot - 4, 1):.1f}" height="{tall:.1f}" '
            f'fill="{colour}"/></g>'
        )
    axis = (
        f'<line x1="{PLOT_LEFT}" y1="{bottom}" x2="{PLOT_RIGHT}" y2="{bottom}" class="axis"/>'
        f'<text x="{PLOT_LEFT - 6}" y="{top + 10}" text-anchor="end" class="tick">'
        f"{h(exact_duration(peak))}</text>"
        f'<text x="{PLOT_LEFT - 6}" y="{bottom}" text-anchor="end" class="tick">0</text>'
        f'<text x="{PLOT_LEFT}" y="{bottom + 18}" class="tick">oldest</text>'
        f'<text x="{PLOT_LEFT + len(records) * slot:.0f}" y="{bottom + 18}" text-anchor="end" '
        'class="tick">newest</text>'
    )
    rows = "".join(
        f'<tr><th scope="row">{h(r.get("name"))}</th><td>{h(r.get("phase"))}</td>'
        f"<td>{h(exact_duration(float(r['durationSeconds'])))}</td></tr>"
        for r in reversed(records)
    )
    phases = [p for p in RESULTS if any(r.get("phase") == p for r in records)]
    return (
        f'<figure class="chart-figure"><figcaption id="{h(ident)}-summary">{h(summary)}'
        f"</figcaption>{_svg(ident, height, summary, axis + ''.join(bars))}"
        f"{_legend([(p, RESULT_COLOURS[p]) for p in phases])}"
        f'<details id="{h(ident)}-table"><summary>The durations as a table</summary>'
        '<table class="compact">'
        "<caption>Recent runs, newest first</caption><thead><tr>"
        '<th scope="col">Run</th><th scope="col">Result</th><th scope="col">Duration</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></details></figure>"
    )
