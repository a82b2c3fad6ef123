"""Pure pieces of the real node and the image build: placement, the admission
policy's shape, the runc wrapper and CNI plugin (the host's network without
`hostNetwork`), the sandbox image archive, and the image's content key."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from devcluster import image
from devcluster.realnode import (
    NODE_NAME,
    PLACEMENT,
    TAINT,
    cni_plugin,
    policy_documents,
    runc_wrapper,
    write_single_binary_image,
)


def test_only_pods_that_select_and_tolerate_run_there() -> None:
    assert NODE_NAME == "localhost"  # resolved from /etc/hosts: no DNS server is asked
    assert PLACEMENT["nodeSelector"] == {"jobwarden.dev/node-kind": "real"}
    (toleration,) = PLACEMENT["tolerations"]
    assert (toleration["key"], toleration["value"], toleration["effect"]) == (
        TAINT["key"],
        TAINT["value"],
        TAINT["effect"],
    )


def test_policy_matches_pods_selecting_the_real_node_and_points_them_at_the_api() -> None:
    policy, binding = policy_documents(6443)
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rules == [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
    ]
    conditions = " ".join(c["expression"] for c in policy["spec"]["matchConditions"])
    assert "'jobwarden.dev/node-kind'" in conditions and "'real'" in conditions
    (mutation,) = policy["spec"]["mutations"]
    patch = mutation["jsonPatch"]["expression"]
    # The pod spec keeps hostNetwork unset (Pod Security judges it as written) and its
    # containerPorts (not host ports without hostNetwork).
    assert "hostNetwork" not in patch and "'/ports'" not in patch
    assert "'KUBERNETES_SERVICE_HOST', 'value': '127.0.0.1'" in patch
    assert "'KUBERNETES_SERVICE_PORT', 'value': '6443'" in patch
    assert "initContainers" in patch


def _run(program: Path, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> str:
    result = subprocess.run(
        [str(program), *args], input=stdin, capture_output=True, text=True, env=env,
        check=False, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def test_runc_wrapper_drops_only_the_network_namespace_then_runs_runc(tmp_path: Path) -> None:
    fake_runc = tmp_path / "runc"
    fake_runc.write_text('#!/bin/sh\necho runc "$@"\n')
    fake_runc.chmod(0o755)
    wrapper = tmp_path / "wrapper"
    wrapper.write_text(runc_wrapper(sys.executable, fake_runc))
    wrapper.chmod(0o755)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    spec = {"linux": {"namespaces": [*namespaces, {"type": "network", "path": "/x/netns"}],
                      "sysctl": {"net.ipv4.ip_forward": "1"}}}  # fmt: skip
    (bundle / "config.json").write_text(json.dumps(spec))
    shown = _run(wrapper, "--root", "r", "create", "--bundle", str(bundle), "id1")
    assert shown.strip() == f"runc --root r create --bundle {bundle} id1"
    written = json.loads((bundle / "config.json").read_text())
    assert written["linux"]["namespaces"] == namespaces
    assert written["linux"]["sysctl"] == spec["linux"]["sysctl"]  # runc judges those
    assert _run(wrapper, "--root", "r", "kill", "id1", "9").strip() == "runc --root r kill id1 9"


def test_cni_plugin_gives_each_pod_the_node_address_on_eth0(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin"
    node_ip = tmp_path / "node-ip"
    plugin.write_text(cni_plugin(sys.executable, node_ip))
    plugin.chmod(0o755)
    config = json.dumps({"cniVersion": "1.0.0", "name": "n", "type": "devcluster-host-network"})
    env = {"CNI_COMMAND": "ADD", "CNI_IFNAME": "eth0", "CNI_NETNS": "/x/netns"}
    refused = subprocess.run(
        [str(plugin)], input=config, capture_output=True, text=True, env=env, check=False
    )
    assert refused.returncode != 0 and "not known yet" in refused.stdout
    node_ip.write_text("192.0.2.7\n")
    result = json.loads(_run(plugin, env=env, stdin=config))
    assert result["interfaces"] == [{"name": "eth0", "sandbox": "/x/netns"}]
    assert result["ips"] == [{"address": "192.0.2.7/32", "interface": 0}]
    assert _run(plugin, env={**env, "CNI_COMMAND": "DEL"}, stdin=config) == ""
    version = json.loads(_run(plugin, env={"CNI_COMMAND": "VERSION"}, stdin=config))
    assert "1.0.0" in version["supportedVersions"]


def test_sandbox_image_is_a_one_layer_docker_archive(tmp_path: Path) -> None:
    program = tmp_path / "pause"
    program.write_bytes(b"\x7fELF fake")
    archive = tmp_path / "pause.tar"
    write_single_binary_image(program, "localhost/devcluster-pause:abc", archive)
    with tarfile.open(archive) as outer:
        manifest = json.loads(outer.extractfile("manifest.json").read())  # type: ignore[union-attr]
        (entry,) = manifest
        assert entry["RepoTags"] == ["localhost/devcluster-pause:abc"]
        config = json.loads(outer.extractfile(entry["Config"]).read())  # type: ignore[union-attr]
        assert config["config"]["Entrypoint"] == ["/pause"]
        layer = outer.extractfile(entry["Layers"][0])
        assert layer is not None
        with tarfile.open(fileobj=layer) as inner:
            member = inner.getmember("pause")
            assert member.mode == 0o755
            assert inner.extractfile(member).read() == b"\x7fELF fake"  # type: ignore[union-attr]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text("ARG PYTHON_IMAGE=python:3.11-slim-bookworm\nFROM x\n")
    (tmp_path / ".dockerignore").write_text("*\n!pyproject.toml\n!operator/\n**/__pycache__\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "operator" / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "operator" / "pkg" / "a.py").write_text("A = 1\n")
    (tmp_path / "operator" / "pkg" / "__pycache__" / "a.pyc").write_bytes(b"x")
    (tmp_path / "devcluster").mkdir()
    (tmp_path / "devcluster" / "launcher.py").write_text("")
    return tmp_path


def test_build_context_is_what_dockerignore_admits(tree: Path) -> None:
    files = {p.relative_to(tree).as_posix() for p in image.context_files(tree)}
    assert files == {"pyproject.toml", "operator/pkg/a.py"}  # no test launcher, no caches


def test_content_key_changes_with_an_admitted_file_only(tree: Path) -> None:
    key = image.content_key(tree)
    assert image.content_key(tree) == key
    (tree / "devcluster" / "launcher.py").write_text("changed")
    (tree / "operator" / "pkg" / "__pycache__" / "a.pyc").write_bytes(b"changed")
    assert image.content_key(tree) == key
    (tree / "operator" / "pkg" / "a.py").write_text("A = 2\n")
    assert image.content_key(tree) != key
    assert image.upstream_base(tree) == "python:3.11-slim-bookworm"
