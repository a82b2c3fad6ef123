"""`kubectl jobwarden` as installed (jobwarden.plugin): the plugin's commands plus
the dashboard, joined without the two front ends importing each other."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jobwarden.plugin import main


def test_the_dashboard_is_a_command_of_the_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["-h"])
    assert "dashboard" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        main(["dashboard", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "kubectl jobwarden dashboard" in text
    for option in ("--port", "--no-browser", "--all-namespaces", "--kubeconfig", "--context"):
        assert option in text


def test_the_dashboard_command_reaches_the_dashboard(capsys: pytest.CaptureFixture[str]) -> None:
    # An unreachable server: the dashboard's own start-up error, not a usage error.
    assert main(["dashboard", "--kubeconfig", "/nonexistent/kubeconfig", "--no-browser"]) == 1
    assert "the kubeconfig file /nonexistent/kubeconfig does not exist" in capsys.readouterr().err


def test_help_loads_neither_the_api_client_nor_the_dashboard_server() -> None:
    probe = (
        "import sys\n"
        "from jobwarden.plugin import main\n"
        "try:\n"
        "    main(['dashboard', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('kubernetes', 'pydantic', 'urllib3', 'yaml',\n"
        "         'jobwarden.dashboard.server') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert "HEAVY []" in result.stderr
