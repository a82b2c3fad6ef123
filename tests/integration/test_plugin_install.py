"""The kubectl plugin installed on its own, as a platform user installs it
(`pip install jobwarden` / `pipx install jobwarden`): a fresh virtualenv gets the built
wheel without the `operator` extra, and `kubectl jobwarden active` and
`kubectl jobwarden dashboard --no-browser` run from it against the cluster.

Each plugin process runs with PYTHONPROFILEIMPORTTIME=1, so its stderr lists every
module it imported; none may be the operator's (kopf, aiohttp, pydantic, psycopg,
jobwarden.engine, …) nor the kubernetes client's. Those distributions are not even
installed, so an import of one would also fail the command outright; the audit catches
what a `try: import` would hide and jobwarden's own operator layers, which are in the
wheel.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import queue
import signal
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import jobwarden
from devcluster.install import OperatorProcess
from jobwarden.client.kubeconfig import from_files
from jobwarden.core.scheduling import parse_schedule
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.dist import (
    OPERATOR_ONLY_DISTRIBUTIONS,
    Dists,
    imported_modules,
    new_venv,
    noise,
    operator_only,
    pip,
    quiet_env,
)
from tests.support.runs import jobrun, sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster


@dataclass(frozen=True)
class PluginVenv:
    """A virtualenv holding the plugin alone, and what installing it printed."""

    bin_dir: Path
    install_output: str

    def env(self, kubeconfig: Path) -> dict[str, str]:
        """The environment of a user with only this venv's scripts on PATH (besides
        kubectl) and the import audit on."""
        env = quiet_env()
        env["PATH"] = os.pathsep.join([str(self.bin_dir), env.get("PATH", "")])
        env["KUBECONFIG"] = str(kubeconfig)
        env["PYTHONPROFILEIMPORTTIME"] = "1"
        return env


@pytest.fixture(scope="module")
def plugin(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    bin_dir = new_venv(tmp_path_factory.mktemp("plugin") / "venv")
    output = pip(bin_dir, "install", str(dists.wheel))
    return PluginVenv(bin_dir, output)


@pytest.fixture
def running(cluster: TestCluster, operator: OperatorProcess, namespace: str) -> Iterator[str]:
    """A JobRun that keeps Running while the test looks at it."""
    admin = cluster.kube()
    runs.create(admin, namespace, jobrun("nightly-report", sim(run_seconds=600)))
    runs.wait_phase(admin, namespace, "nightly-report", "Running")
    yield "nightly-report"
    runs.cancel(admin, namespace, "nightly-report")


def kubectl_jobwarden(
    cluster: TestCluster, plugin: PluginVenv, *args: str, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`kubectl jobwarden ARGS`: kubectl finds the plugin on PATH, as for a user."""
    return subprocess.run(
        [cluster.kubectl_path, "jobwarden", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=plugin.env(kubeconfig or cluster.kubeconfig()),
        cwd=plugin.bin_dir.parent,
        stdin=subprocess.DEVNULL,
    )


def test_the_install_brings_none_of_the_operator(plugin: PluginVenv) -> None:
    assert noise(plugin.install_output) == [], "\n".join(noise(plugin.install_output))
    listed = json.loads(pip(plugin.bin_dir, "list", "--format", "json"))
    installed = {item["name"].lower().replace("_", "-") for item in listed}
    assert {"jobwarden", "pyyaml", "urllib3"} <= installed
    assert installed.isdisjoint(OPERATOR_ONLY_DISTRIBUTIONS), sorted(
        installed & OPERATOR_ONLY_DISTRIBUTIONS
    )
    assert (plugin.bin_dir / "kubectl-jobwarden").exists()


def test_kubectl_jobwarden_version_is_the_package_version(
    cluster: TestCluster, plugin: PluginVenv
) -> None:
    result = kubectl_jobwarden(cluster, plugin, "--version")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"kubectl-jobwarden {jobwarden.__version__}"


def test_active_runs_without_the_operators_modules(
    cluster: TestCluster, plugin: PluginVenv, namespace: str, running: str
) -> None:
    result = kubectl_jobwarden(cluster, plugin, "active", "-n", namespace)
    assert result.returncode == 0, result.stderr[-3000:]
    assert running in result.stdout and "Running" in result.stdout, result.stdout
    modules = imported_modules(result.stderr)
    # The audit saw the plugin at work (the command and the API client)…
    assert {"jobwarden.cli.commands", "jobwarden.client.kubeconfig", "urllib3"} <= modules
    # …and nothing of the operator.
    assert operator_only(modules) == []


def test_the_dashboard_runs_without_the_operators_modules(
    cluster: TestCluster, plugin: PluginVenv, namespace: str, running: str
) -> None:
    process = subprocess.Popen(
        [cluster.kubectl_path, "jobwarden", "dashboard", "--no-browser", "-n", namespace],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=plugin.env(cluster.kubeconfig()),
        cwd=plugin.bin_dir.parent,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stdout or []:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        first = wait_until(lambda: lines.get(timeout=1), timeout=60, message="the dashboard URL")
        url = first.split(" at ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:"), first

        def page(path: str) -> str:
            with urllib.request.urlopen(url + path, timeout=10) as response:
                return str(response.read().decode())

        wait_until(lambda: running in page("runs"), timeout=30, message="the run on the dashboard")
        assert "function" in page("static/dashboard.js")  # package data came with the wheel
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr[-3000:]
    modules = imported_modules(stderr)
    assert {"jobwarden.dashboard.server", "jobwarden.dashboard.store", "urllib3"} <= modules
    assert operator_only(modules) == []


def test_next_shows_the_operators_fires_without_the_operators_modules(
    cluster: TestCluster, plugin: PluginVenv, operator: OperatorProcess, namespace: str
) -> None:
    """`kubectl jobwarden next` needs the cron reading (jobwarden.core.scheduling with
    croniter and tzdata, base dependencies), and nothing else of the operator."""
    admin = cluster.kube()
    runs.create(
        admin,
        namespace,
        runs.scheduledjob("nightly", schedule="30 2 * * *", timeZone="Europe/Berlin"),
    )
    result = kubectl_jobwarden(cluster, plugin, "next", "nightly", "-n", namespace, "-o", "json")
    assert result.returncode == 0, result.stderr[-3000:]
    fires = json.loads(result.stdout)
    assert len(fires) == 10
    schedule = parse_schedule("30 2 * * *", "Europe/Berlin")
    assert [f["scheduledTime"] for f in fires[:3]] == [
        f.strftime("%Y-%m-%dT%H:%M:%SZ")
        for f in schedule.fires_between(
            datetime.datetime.now(datetime.UTC),
            datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=5),
            3,
        )
    ]
    modules = imported_modules(result.stderr)
    assert {"jobwarden.core.scheduling", "jobwarden.core.preview", "croniter"} <= modules
    assert operator_only(modules) == []


def exec_kubeconfig(cluster: TestCluster, plugin: PluginVenv, directory: Path, **user: Any) -> Path:
    """A kubeconfig whose user is an exec credential plugin handing out the admin's
    credential (its client certificate, or its token), plus `user`'s extra keys."""
    admin = from_files([cluster.kubeconfig()])
    status: dict[str, str] = {}
    if admin.client_cert_pem:
        status = {"clientCertificateData": admin.client_cert_pem[0]}
        status["clientKeyData"] = admin.client_cert_pem[1]
    elif admin.token:
        status = {"token": admin.token}
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": status,
    }
    script = directory / "credential-plugin"
    script.write_text(
        f"#!{plugin.bin_dir / 'python'}\nprint({json.dumps(json.dumps(credential))})\n"
    )
    script.chmod(0o700)
    cluster_entry: dict[str, Any] = {"server": admin.server}
    if admin.ca_pem:
        cluster_entry["certificate-authority-data"] = base64.b64encode(
            admin.ca_pem.encode()
        ).decode()
    if admin.insecure:
        cluster_entry["insecure-skip-tls-verify"] = True
    exec_spec = {"apiVersion": "client.authentication.k8s.io/v1", "command": str(script)}
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster_entry}],
        "users": [{"name": "u", "user": {"exec": exec_spec, **user}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = directory / f"kubeconfig-{len(user)}"
    path.write_text(yaml.safe_dump(document))
    return path


def test_exec_credential_plugins_and_impersonation_reach_the_api_server(
    cluster: TestCluster,
    plugin: PluginVenv,
    namespace: str,
    running: str,
    tmp_path: Path,
) -> None:
    """Not kubeconfig's common case (client certificates, which the other tests use):
    an exec plugin's credential, then an impersonated user the server names."""
    kubeconfig = exec_kubeconfig(cluster, plugin, tmp_path)
    result = kubectl_jobwarden(cluster, plugin, "active", "-n", namespace, kubeconfig=kubeconfig)
    assert result.returncode == 0, result.stderr[-3000:]
    assert running in result.stdout
    nobody = exec_kubeconfig(cluster, plugin, tmp_path, **{"as": "jobwarden-nobody"})
    result = kubectl_jobwarden(cluster, plugin, "active", "-n", namespace, kubeconfig=nobody)
    assert result.returncode == 1
    assert 'User "jobwarden-nobody" cannot list' in result.stderr, result.stderr[-3000:]


def test_the_audit_sees_an_operator_module_when_one_is_imported(plugin: PluginVenv) -> None:
    """The audit can fail: a process of the same venv that imports one of jobwarden's
    operator layers (importable without its dependencies) is caught."""
    result = subprocess.run(
        [str(plugin.bin_dir / "python"), "-c", "import jobwarden.core.reasons"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**quiet_env(), "PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert operator_only(imported_modules(result.stderr)) == ["jobwarden.core.reasons"]


def test_the_operator_says_it_needs_its_extra(plugin: PluginVenv) -> None:
    result = subprocess.run(
        [str(plugin.bin_dir / "python"), "-m", "jobwarden", "--standalone"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=quiet_env(),
    )
    assert result.returncode == 2
    assert "pip install 'jobwarden[operator]'" in result.stderr, result.stderr
