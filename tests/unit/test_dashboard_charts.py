"""The dashboard's hand-drawn SVG charts (jobwarden.dashboard.charts): each is an
image named by its summary, with the same numbers as a table."""

from __future__ import annotations

import datetime
import re

from jobwarden.client.stats import Minute
from jobwarden.client.timeline import Segment, Stage
from jobwarden.dashboard import charts

T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


def minutes(*counts: tuple[int, int, int]) -> list[Minute]:
    return [
        Minute(
            T0 + datetime.timedelta(minutes=i),
            {"Succeeded": s, "Failed": f, "Cancelled": x},
        )
        for i, (s, f, x) in enumerate(counts)
    ]


def test_the_per_minute_chart_sums_up_and_tabulates_every_busy_minute() -> None:
    data = minutes((0, 0, 0), (2, 1, 0), (0, 0, 0), (1, 0, 1))
    html = charts.finished_chart(data)
    summary = "In the last 4 minutes 5 runs finished: 3 succeeded, 1 failed, 1 cancelled."
    assert summary in html
    assert "Busiest minute: 2 min ago, with 3." in html
    assert re.search(r'<svg id="finished-chart" class="chart" role="img"', html)
    assert '<title id="finished-chart-title">In the last 4 minutes' in html
    assert len(re.findall(r"<tbody>.*?</tbody>", html, re.S)) == 1
    rows = re.findall(r"<tr><th scope=\"row\">.*?</tr>", html, re.S)
    assert len(rows) == 2  # minutes without a run are left out of the table
    assert html.count("<rect x=") == 4  # one per result per busy minute (legend aside)
    assert "style=" not in html  # the CSP forbids inline styles


def test_an_empty_hour_says_so() -> None:
    html = charts.finished_chart(minutes((0, 0, 0), (0, 0, 0)))
    assert "No run finished in the last 2 minutes." in html
    assert "<rect x=" not in html


def test_the_timeline_names_each_stage_with_its_duration() -> None:
    segments = [
        Segment(Stage.QUEUED, T0, T0 + datetime.timedelta(seconds=5)),
        Segment(
            Stage.RUNNING,
            T0 + datetime.timedelta(seconds=5),
            T0 + datetime.timedelta(seconds=65),
            1,
        ),
        Segment(
            Stage.BACKOFF,
            T0 + datetime.timedelta(seconds=65),
            T0 + datetime.timedelta(seconds=125),
            1,
        ),
        Segment(
            Stage.RUNNING,
            T0 + datetime.timedelta(seconds=125),
            T0 + datetime.timedelta(seconds=130),
            2,
            open=True,
        ),
    ]
    html = charts.timeline_chart(segments)
    assert (
        "Timeline: queued 5s, then running (attempt 1) 1m, then backoff (attempt 1) 1m, "
        "then running (attempt 2) 5s so far."
    ) in html
    assert html.count('<th scope="row">') == 4
    assert "(still going)" in html
    assert 'class="backoff"' in html


def test_the_duration_chart_has_a_bar_per_run_and_its_median() -> None:
    records = [
        {"name": "a", "phase": "Succeeded", "durationSeconds": 10.0},
        {"name": "b", "phase": "Failed", "durationSeconds": 30.0},
        {"name": "c", "phase": "Succeeded", "durationSeconds": 20.0},
    ]
    html = charts.duration_chart(records)
    assert "The last 3 runs took 10s to 30s (median 20s); the longest was b (Failed)." in html
    assert html.count("<g><title>") == 3
    assert charts.duration_chart([]) == "<p>No finished run with a duration yet.</p>"
