"""Time zones resolve without the host's tz database (a slim container image has none).

Python's zoneinfo reads the host's database first (zoneinfo.TZPATH) and falls back to
the `tzdata` package, which jobwarden therefore declares as a runtime dependency. The
tests run the schedule parser in a fresh interpreter whose TZPATH is one empty
directory, once as installed and once with `tzdata` made unimportable: the second run
must fail, which shows that the host's database really is out of reach and that the
first run's zones came from the package.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

#: Runs in the child: resolves zones through jobwarden's parser and prints what it got.
_CHILD = textwrap.dedent(
    """
    import json, sys, zoneinfo
    from datetime import UTC, datetime
    if sys.argv[1] == "without-tzdata":
        sys.modules["tzdata"] = None  # as if the package were not installed
    from jobwarden.core.scheduling import ScheduleError, parse_schedule

    result = {"tzpath": list(zoneinfo.TZPATH), "fires": {}, "errors": {}}
    for zone in json.loads(sys.argv[2]):
        try:
            schedule = parse_schedule("30 2 * * *", zone)
        except ScheduleError as error:
            result["errors"][zone] = error.message
        else:
            fire = schedule.next_after(datetime(2024, 3, 30, 12, tzinfo=UTC))
            result["fires"][zone] = fire.astimezone(schedule.zone).isoformat()
    try:
        parse_schedule("0 2 * * *", "europe/berlin")
    except ScheduleError as error:
        result["suggestion"] = error.message
    print(json.dumps(result))
    """
)

#: A few names of CronJob's own list of valid zones (validation_test.go, TestTimeZones),
#: with their local time of the first 02:30 fire after 2024-03-30T12:00Z.
ZONES = {
    "Europe/Berlin": "2024-03-31T03:00:00+02:00",  # 02:30 is in the spring-forward gap
    "America/New_York": "2024-03-31T02:30:00-04:00",
    "America/Argentina/ComodRivadavia": "2024-03-31T02:30:00-03:00",
    "Asia/Kolkata": "2024-03-31T02:30:00+05:30",
    "Etc/GMT+5": "2024-03-31T02:30:00-05:00",
    "NZ-CHAT": "2024-03-31T02:30:00+13:45",
    "US/Eastern": "2024-03-31T02:30:00-04:00",
    "UTC": "2024-03-31T02:30:00+00:00",
}


def _resolve(mode: str, empty: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONTZPATH": str(empty)}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, json.dumps(list(ZONES))],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def empty_tzpath(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("no-tz-database")


def test_zones_resolve_from_the_tzdata_package_without_a_host_database(empty_tzpath: Path) -> None:
    result = _resolve("with-tzdata", empty_tzpath)
    assert result["tzpath"] == [str(empty_tzpath)]
    assert result["errors"] == {}
    assert result["fires"] == ZONES
    assert result["suggestion"] == (
        'unknown time zone "europe/berlin" (did you mean "Europe/Berlin"?); '
        'use an IANA name such as "Europe/Berlin" or "UTC"'
    )


def test_without_tzdata_and_the_host_database_no_zone_resolves(empty_tzpath: Path) -> None:
    """The control: proves the host's database is hidden from the child."""
    result = _resolve("without-tzdata", empty_tzpath)
    assert result["fires"] == {}
    assert set(result["errors"]) == set(ZONES)
    assert result["errors"]["Europe/Berlin"] == (
        'unknown time zone "Europe/Berlin"; use an IANA name such as "Europe/Berlin" or "UTC"'
    )


def test_tzdata_is_a_runtime_dependency() -> None:
    """Declared by jobwarden itself (not only through another package), in the base
    install: the operator reads time zones, and so does the kubectl plugin
    (`kubectl jobwarden next`, the dashboard's previews)."""
    requirements = importlib.metadata.requires("jobwarden") or []
    base = [r for r in requirements if "extra ==" not in r]
    assert any(r.split(">")[0].split("=")[0].strip() == "tzdata" for r in base), requirements
