"""The New scheduled job form's manifest (jobwarden.dashboard.newjob): what the form
describes, what it refuses before asking the API server, and which field a refusal
is about; the page's labelled fields."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from jobwarden.api import constants as c
from jobwarden.client.access import Right
from jobwarden.client.schedule import InvalidScheduleError, next_fires
from jobwarden.dashboard import newjob
from jobwarden.dashboard.render import Page

FORM = {
    "namespace": "team-a",
    "name": "report",
    "preset": "0 2 * * *",
    "schedule": "0 2 * * *",
    "timeZone": "Europe/Berlin",
    "image": "registry.invalid/report:1",
    "command": "python -m report --day 'to day'",
    "priority": "",
    "concurrencyPolicy": "",
    "timeoutSeconds": "",
    "retries": "",
    "cancelGracePeriodSeconds": "",
}


def test_a_filled_form_is_a_minimal_scheduled_job() -> None:
    body, problems = newjob.manifest(FORM)
    assert problems == []
    assert body == {
        "apiVersion": c.API_VERSION,
        "kind": "ScheduledJob",
        "metadata": {"name": "report", "namespace": "team-a"},
        "spec": {
            "schedule": "0 2 * * *",
            "timeZone": "Europe/Berlin",
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "registry.invalid/report:1",
                            "command": ["python", "-m", "report", "--day", "to day"],
                        }
                    ]
                }
            },
        },
    }


def test_run_settings_are_written_only_when_set() -> None:
    body, problems = newjob.manifest(
        {
            **FORM,
            "priority": "High",
            "concurrencyPolicy": "Replace",
            "retries": "2",
            "timeoutSeconds": "600",
            "suspend": True,
        }
    )
    assert problems == []
    spec = body["spec"]
    assert (spec["priority"], spec["concurrencyPolicy"], spec["retries"]) == ("High", "Replace", 2)
    assert (spec["timeoutSeconds"], spec["suspend"]) == (600, True)


def test_a_one_time_job_has_no_schedule() -> None:
    body, problems = newjob.manifest({**FORM, "preset": newjob.ONE_TIME, "schedule": ""})
    assert problems == [] and "schedule" not in body["spec"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "Not_A_Name"}, "name"),
        ({"name": "x" * (c.MAX_SCHEDULED_JOB_NAME + 1)}, "name"),
        ({"namespace": ""}, "namespace"),
        ({"image": " "}, "image"),
        ({"command": "echo 'unclosed"}, "command"),
        ({"preset": "", "schedule": ""}, "schedule"),
        ({"retries": "-1"}, "retries"),
        ({"retries": str(c.MAX_RETRIES + 1)}, "retries"),
        ({"timeoutSeconds": "soon"}, "timeoutSeconds"),
    ],
)
def test_what_is_refused_before_asking_the_api_server(change: dict[str, Any], field: str) -> None:
    _body, problems = newjob.manifest({**FORM, **change})
    assert [p.field for p in problems] == [field]


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("spec.schedule: cannot read it", "schedule"),
        ("spec.timeZone: unknown time zone", "timeZone"),
        ('metadata.name: Invalid value: "x"', "name"),
        ("spec.retries: must be <= 10", "retries"),
        ("spec.template.spec.containers[0].image: Required value", "image"),
        ('scheduledjobs.jobwarden.dev "x" already exists', "form"),
    ],
)
def test_a_refusal_points_at_its_field(message: str, field: str) -> None:
    assert newjob.field_of(message) == field


def test_next_fires_are_the_operators_and_bad_input_says_which_field() -> None:
    now = datetime.datetime(2026, 3, 28, 12, 0, tzinfo=datetime.UTC)
    fires = next_fires("30 2 * * *", "Europe/Berlin", now)
    # 29 March 2026: 02:30 does not exist in Berlin; it fires at the end of the gap.
    assert [f.strftime("%m-%d %H:%M") for f in fires] == [
        "03-29 01:00",
        "03-30 00:30",
        "03-31 00:30",
        "04-01 00:30",
        "04-02 00:30",
    ]
    with pytest.raises(InvalidScheduleError) as bad:
        next_fires("61 * * * *", "UTC", now)
    assert bad.value.field == "schedule"
    with pytest.raises(InvalidScheduleError) as zone:
        next_fires("* * * * *", "Mars/Olympus", now)
    assert zone.value.field == "timeZone"


def test_the_form_labels_every_field_and_says_when_creating_is_not_allowed() -> None:
    page = Page(base="/tok", user="bob", context=None, now=datetime.datetime.now(datetime.UTC))
    html = newjob.form_page(
        page, "team-a", ("UTC", "Europe/Berlin"), Right(False, "no RBAC create")
    )
    for ident in ("nj-namespace", "nj-name", "nj-preset", "nj-schedule", "nj-zone", "nj-image"):
        assert f'<label for="{ident}">' in html and f'id="{ident}"' in html
        assert f'id="{ident}-problem"' in html
    assert 'id="create-refused"' in html and "no RBAC create" in html
    assert '<option value="Europe/Berlin">' in html
    allowed = newjob.form_page(page, "team-a", ("UTC",), Right(True, "RBAC create"))
    assert "create-refused" not in allowed
