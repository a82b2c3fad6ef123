"""The alert rules: kubernetes-mixin shape, runbooks that exist, and `promtool test
rules` (Debian's prometheus package) on tests/promtool/alerts_test.yaml.

The chart ships a PrometheusRule; promtool reads plain rule files, so its `spec` is
written beside a copy of the test file, where the test's `rule_files` finds it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULE_FILE = REPO / "charts" / "jobwarden" / "files" / "prometheusrule.yaml"
PROMTOOL_TEST = REPO / "tests" / "promtool" / "alerts_test.yaml"
RUNBOOKS = REPO / "docs" / "runbooks.md"
RUNBOOK_BASE = "https://github.com/jobwarden/jobwarden/blob/main/docs/runbooks.md#"
#: The alerts the operations issue asks for (plus the operator's own health).
EXPECTED_ALERTS = {
    "JobwardenRunsStuck",
    "JobwardenHighCancellationRate",
    "JobwardenCancelTimeouts",
    "JobwardenQuotaSaturated",
    "JobwardenMissedSchedules",
    "JobwardenScheduledJobFailing",
    "JobwardenOperatorAbsent",
    "JobwardenNoLeader",
    "JobwardenReconcileErrors",
    # issue 22: deadlines and stop-on-failure
    "JobwardenDeadlineMissed",
    "JobwardenScheduledJobPausedAfterFailures",
}


def rules() -> list[dict[str, Any]]:
    """Every rule of the PrometheusRule."""
    body = yaml.safe_load(RULE_FILE.read_text())
    return [rule for group in body["spec"]["groups"] for rule in group["rules"]]


def promtool() -> str:
    """promtool's path; a clear failure (not a skip) when it is not installed."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found: install Debian's prometheus package "
            "(apt-get install -y prometheus; .ci/run does)",
            pytrace=False,
        )
    return path


def runbook_anchors() -> set[str]:
    """GitHub's anchors of the runbook headings (lower case, spaces to dashes)."""
    headings = re.findall(r"^#+ (.+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_expected_alert_exists_once() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED_ALERTS


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: str(rule["alert"]))
def test_alerts_have_the_kubernetes_mixin_shape(rule: dict[str, Any]) -> None:
    assert re.fullmatch(r"Jobwarden[A-Z][A-Za-z]+", rule["alert"])
    assert re.fullmatch(r"\d+[smh]", str(rule["for"])), "every alert has a for:"
    assert rule["labels"]["severity"] in ("info", "warning", "critical")
    annotations = rule["annotations"]
    assert set(annotations) == {"summary", "description", "runbook_url"}
    assert annotations["summary"].endswith(".")
    assert annotations["runbook_url"] == RUNBOOK_BASE + rule["alert"].lower()


def test_every_runbook_url_has_its_section() -> None:
    anchors = runbook_anchors()
    for rule in rules():
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor in anchors, f"docs/runbooks.md has no section {rule['alert']}"


def test_promtool_accepts_the_rules_and_their_unit_tests(tmp_path: Path) -> None:
    tool = promtool()
    spec = yaml.safe_load(RULE_FILE.read_text())["spec"]
    (tmp_path / "jobwarden-rules.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    shutil.copy(PROMTOOL_TEST, tmp_path / PROMTOOL_TEST.name)
    checked = subprocess.run(
        [tool, "check", "rules", "jobwarden-rules.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [tool, "test", "rules", PROMTOOL_TEST.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_promtool_case_that_fires_it() -> None:
    cases = yaml.safe_load(PROMTOOL_TEST.read_text())["tests"]
    fired = {
        check["alertname"]
        for case in cases
        for check in case.get("alert_rule_test", [])
        if check.get("exp_alerts")
    }
    assert fired == EXPECTED_ALERTS
