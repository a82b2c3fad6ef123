"""The local cluster tooling fails loudly and clearly: it names the component, the
command and the log to read, and never hangs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

import devcluster.cluster as cluster_module
from devcluster.binaries import DEVCLUSTER_DIR, Binaries, ClusterError
from devcluster.cluster import LocalCluster
from devcluster.process import Component, wait_for


def test_component_that_dies_at_start_is_named_with_command_and_log(tmp_path: Path) -> None:
    log = tmp_path / "broken.log"
    component = Component(
        name="broken-component",
        argv=["sh", "-c", "echo 'fatal: cannot bind' >&2; exit 3"],
        log_path=log,
    )
    component.start(die_with_parent=True)
    with pytest.raises(ClusterError) as caught:
        wait_for("never", lambda: False, [component], timeout=10, blame=component)
    message = str(caught.value)
    assert "broken-component exited with code 3" in message
    assert "command: sh -c" in message
    assert f"log: {log}" in message
    assert "fatal: cannot bind" in message


def test_readiness_timeout_blames_the_component(tmp_path: Path) -> None:
    component = Component(name="sleepy", argv=["sleep", "30"], log_path=tmp_path / "s.log")
    component.start(die_with_parent=True)
    try:
        with pytest.raises(ClusterError) as caught:
            wait_for("its /healthz", lambda: False, [component], timeout=0.5, blame=component)
        assert "sleepy did not become ready within" in str(caught.value)
        assert "(its /healthz)" in str(caught.value)
    finally:
        assert component.process is not None
        component.process.kill()
        component.process.wait()


def test_missing_binary_explains_how_to_build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JOBWARDEN_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ClusterError) as caught:
        Binaries.locate()
    assert "control-plane binaries are missing" in str(caught.value)
    assert "build.sh" in str(caught.value)


def test_unstartable_program_is_reported(tmp_path: Path) -> None:
    component = Component(
        name="ghost", argv=[str(tmp_path / "no-such-binary")], log_path=tmp_path / "g.log"
    )
    with pytest.raises(ClusterError) as caught:
        component.start(die_with_parent=True)
    assert "ghost could not be started" in str(caught.value)


def test_build_without_go_toolchain_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin", "JOBWARDEN_CACHE": str(tmp_path)}
    if shutil.which("go", path=env["PATH"]):
        pytest.fail("this test needs a PATH without go; /usr/bin has one on this machine")
    result = subprocess.run(
        ["bash", str(DEVCLUSTER_DIR / "build.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "no Go toolchain on PATH" in result.stderr


@pytest.mark.cluster
def test_etcd_on_a_port_in_use_fails_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real etcd started on a port something else holds: the launcher says which
    component died, how it was started and where its log is, within seconds."""
    binaries = Binaries.locate()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        cluster = LocalCluster(tmp_path / "c", binaries)
        monkeypatch.setattr(cluster_module, "free_port", lambda: port)
        with pytest.raises(ClusterError) as caught:
            cluster.start(timeout=30)
    message = str(caught.value)
    assert message.startswith("etcd ")
    assert "command: " in message and "--listen-client-urls" in message
    assert "log: " in message and "etcd.log" in message
    assert not any(c.process and c.process.poll() is None for c in cluster.components)
