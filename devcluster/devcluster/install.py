"""Install jobwarden into a cluster for local use and tests, and run its operator
as a local process (the way `make up` and the test fixtures do)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from devcluster.binaries import REPO_ROOT, ClusterError
from devcluster.cluster import STATE_FILE
from devcluster.process import free_port, kill_with_parent, log_tail

OPERATOR_NAMESPACE = "jobwarden-system"
CRDS_DIR = REPO_ROOT / "crds"
RBAC_FILES = (
    REPO_ROOT / "charts" / "jobwarden" / "rbac" / "operator.yaml",
    REPO_ROOT / "charts" / "jobwarden" / "rbac" / "operator-bindings-dev.yaml",
    REPO_ROOT / "charts" / "jobwarden" / "rbac" / "user-roles.yaml",
    REPO_ROOT / "charts" / "jobwarden" / "rbac" / "user-bindings-dev.yaml",
)
READY_LINE = "engine started"  # the leader's engine runs
STANDBY_LINE = "campaigning for the lease"  # a replica is up (leader or standby)
WEBHOOK_READY_LINE = "admission webhooks ready"  # the API server calls this replica
WEBHOOK_PORT_FILE = "jobwarden-webhook-port"


def webhook_port(kubeconfig: Path) -> int:
    """The port every local operator of one cluster serves its webhooks on.

    Kept in a file beside the kubeconfig, so replicas (and restarts) share it: they
    all listen on it with SO_REUSEPORT, as pods behind one Service would, and the
    webhook configurations stay valid when one of them dies. The file names the API
    server it is for (a new cluster listens on a new random port), so a port from an
    earlier cluster, possibly taken by another program since, is never reused.
    """
    path = kubeconfig.parent / WEBHOOK_PORT_FILE
    server = _server_of(kubeconfig)
    try:
        stored_port, stored_server = path.read_text().split()
        port = int(stored_port) if stored_server == server else 0
    except (OSError, ValueError):
        port = 0
    if port and _can_share(port):
        return port
    port = free_port()
    path.write_text(f"{port} {server}\n")
    return port


def _server_of(kubeconfig: Path) -> str:
    """The API server URL of the kubeconfig's first cluster ("-" if unreadable)."""
    try:
        document = yaml.safe_load(kubeconfig.read_text()) or {}
        return str(document["clusters"][0]["cluster"]["server"]).replace(" ", "")
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
        return "-"


def _can_share(port: int) -> bool:
    """Free, or held by our own operators (which listen with SO_REUSEPORT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _kubectl(kubectl: str, kubeconfig: Path, *args: str, stdin: str | None = None) -> None:
    result = subprocess.run(
        [kubectl, f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} failed:\n{result.stderr}{result.stdout}")


def install(kubectl: str, kubeconfig: Path) -> None:
    """Apply the CRDs (and wait until served), the operator namespace and its RBAC."""
    _kubectl(
        kubectl, kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(CRDS_DIR)
    )
    _kubectl(
        kubectl,
        kubeconfig,
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "-f",
        str(CRDS_DIR),
    )
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE}}
    _kubectl(kubectl, kubeconfig, "apply", "-f", "-", stdin=json.dumps(namespace))
    for path in RBAC_FILES:
        _kubectl(
            kubectl, kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(path)
        )


class OperatorProcess:
    """The jobwarden operator as a local process acting as the `operator` identity."""

    def __init__(
        self,
        kubeconfig: Path,
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        die_with_parent: bool = True,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.env = env or {}
        self.die_with_parent = die_with_parent
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def argv(self) -> list[str]:
        """The command line."""
        return [sys.executable, "-m", "jobwarden", "--standalone"]

    def start(self, timeout: float = 60, *, ready_line: str = READY_LINE) -> None:
        """Start and wait until its log shows `ready_line` (default: the engine runs)
        and the admission webhooks are served (so no write slips past them)."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "JOBWARDEN_NAMESPACE": OPERATOR_NAMESPACE,
            "PYTHONUNBUFFERED": "1",
            # The local kube-apiserver calls the webhooks on 127.0.0.1.
            "JOBWARDEN_WEBHOOK_ADDRESS": os.environ.get("JOBWARDEN_WEBHOOK_ADDRESS", "127.0.0.1"),
            "JOBWARDEN_WEBHOOK_PORT": os.environ.get("JOBWARDEN_WEBHOOK_PORT")
            or str(webhook_port(self.kubeconfig)),
            # Several local operators (replicas, restarts) must not collide on 8080.
            "JOBWARDEN_METRICS_ADDRESS": os.environ.get("JOBWARDEN_METRICS_ADDRESS", "127.0.0.1"),
            "JOBWARDEN_METRICS_PORT": os.environ.get("JOBWARDEN_METRICS_PORT") or str(free_port()),
            **self.env,
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                # Only prctl runs between fork and exec: safe despite threads.
                preexec_fn=kill_with_parent if self.die_with_parent else None,  # noqa: PLW1509
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ClusterError(
                    f"the jobwarden operator exited with code {self.process.returncode} at start\n"
                    f"  command: {' '.join(self.argv)}\n  log: {self.log_path}\n"
                    + log_tail(self.log_path)
                )
            with self.log_path.open("rb") as log:
                log.seek(offset)
                logged = log.read()
                if all(line.encode() in logged for line in (ready_line, WEBHOOK_READY_LINE)):
                    return
            time.sleep(0.1)
        self.kill()
        raise ClusterError(
            f"the jobwarden operator did not log {ready_line!r} and {WEBHOOK_READY_LINE!r} "
            f"within {timeout:.0f} s\n"
            f"  log: {self.log_path}\n{log_tail(self.log_path)}"
        )

    def stop(self, timeout: float = 20) -> None:
        """Stop gracefully (SIGTERM), then kill."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def wait_log(self, line: str, timeout: float = 60, *, after: int = 0) -> None:
        """Wait until the log (from byte `after`) contains `line`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.log_path.open("rb") as log:
                log.seek(after)
                if line.encode() in log.read():
                    return
            time.sleep(0.1)
        raise ClusterError(f"{line!r} not logged within {timeout:.0f} s\n{log_tail(self.log_path)}")

    def log_size(self) -> int:
        """Current size of the log, to wait for lines written after now."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def kill(self) -> None:
        """SIGKILL: the crash the operator must survive."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def record_in(self, workdir: Path) -> None:
        """Add this process to the cluster's state file so `down` stops it too."""
        assert self.process is not None
        state_path = workdir / STATE_FILE
        state = json.loads(state_path.read_text())
        state["pids"]["jobwarden-operator"] = [self.process.pid, "jobwarden"]
        state_path.write_text(json.dumps(state, indent=2))
