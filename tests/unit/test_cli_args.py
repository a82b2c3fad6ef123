"""The plugin's command line without a cluster: help, parsing, usage errors, and
the refusals that must happen before any API request."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jobwarden.cli import main
from jobwarden.cli.app import build_parser

COMMANDS = ("active", "status", "cancel", "run", "pause", "resume", "retry", "history", "quota")
#: A kubeconfig whose server cannot answer: a test that reaches it fails loudly.
UNREACHABLE = """\
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:9"}
users:
- name: someone
  user: {token: not-a-token}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: someone, namespace: team-a}
current-context: nowhere
"""


@pytest.fixture
def kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(UNREACHABLE)
    return str(path)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert f"kubectl jobwarden {command}" in text
    assert "examples:" in text
    for option in ("--namespace", "--context", "--kubeconfig"):
        assert option in text


def test_top_level_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["-h"])
    text = capsys.readouterr().out
    for command in COMMANDS:
        assert command in text
    assert "Exit status" in text


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().err


def test_kubectl_options_go_before_or_after_the_command() -> None:
    parser, _ = build_parser()
    before = parser.parse_args(["-n", "team-a", "--context", "dev", "active", "-A"])
    after = parser.parse_args(["active", "-n", "team-a", "--context", "dev", "-o", "wide"])
    assert (before.namespace, before.context, before.all_namespaces) == ("team-a", "dev", True)
    assert (after.namespace, after.context, after.output) == ("team-a", "dev", "wide")
    plain = parser.parse_args(["active"])
    assert not hasattr(plain, "namespace")  # the context's namespace applies


def test_dry_run_alone_means_client() -> None:
    parser, _ = build_parser()
    assert parser.parse_args(["cancel", "x", "--dry-run"]).dry_run == "client"
    assert parser.parse_args(["cancel", "x", "--dry-run=server"]).dry_run == "server"
    assert parser.parse_args(["cancel", "x"]).dry_run == "none"


@pytest.mark.parametrize(
    ("argv", "output"),
    [(["history", "j", "-o", "csv"], "csv"), (["active", "-o", "name"], "name")],
)
def test_output_formats(argv: list[str], output: str) -> None:
    parser, _ = build_parser()
    assert parser.parse_args(argv).output == output


def test_unsupported_output_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["quota", "-o", "csv"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cancel", "--all"], "needs -y"),
        (["cancel", "-l", "team=data"], "needs -y"),
        (["cancel"], "say what to cancel"),
        (["cancel", "a", "--all", "-y"], "not both"),
        (["cancel", "a", "-A"], "-A/--all-namespaces selects with -l or --all"),
        (["cancel", "a", "-k", "pod"], 'unknown kind "pod"'),
        (["pause"], "say which ScheduledJobs"),
        (["resume", "a", "-l", "x=y"], "not both"),
        (["history", "j", "--status", "Bogus"], "--status 'Bogus'"),
        (["history", "j", "--since", "a week"], "--since 'a week'"),
        (["history", "j", "--limit", "0"], "--limit"),
    ],
)
def test_usage_errors_come_before_any_request(
    argv: list[str], message: str, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # stdin is not a terminal under pytest: nothing may prompt, -l/--all need -y.
    assert main([*argv, "--kubeconfig", kubeconfig]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "cannot reach" not in err


def test_an_unreachable_server_is_an_error_not_a_traceback(
    kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["active", "--kubeconfig", kubeconfig, "--request-timeout", "2"]) == 1
    assert "cannot reach the API server at https://127.0.0.1:9" in capsys.readouterr().err


def test_a_missing_kubeconfig_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    assert main(["active", "--kubeconfig", str(missing)]) == 1
    assert f"the kubeconfig file {missing} does not exist" in capsys.readouterr().err


def test_an_unknown_context_is_named(kubeconfig: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["active", "--kubeconfig", kubeconfig, "--context", "prod"]) == 1
    assert 'context "prod" does not exist' in capsys.readouterr().err


def test_help_starts_fast_without_the_kubernetes_client() -> None:
    probe = (
        "import sys\n"
        "from jobwarden.cli import main\n"
        "try:\n"
        "    main(['cancel', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('kubernetes', 'pydantic', 'urllib3', 'yaml') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert "HEAVY []" in result.stderr


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "kubectl-jobwarden"
    assert script.exists(), "reinstall: .venv/bin/pip install -e '.[dev]'"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.startswith("kubectl-jobwarden ")
