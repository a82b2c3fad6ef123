"""Pure pieces of the real node and the image build: placement, the host-network
admission policy's shape, the sandbox image archive, and the image's content key."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from devcluster import image
from devcluster.realnode import (
    NODE_NAME,
    PLACEMENT,
    TAINT,
    policy_documents,
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


def test_policy_matches_pods_selecting_the_real_node_and_patches_host_network() -> None:
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
    assert "'/spec/hostNetwork', value: true" in patch
    assert "'KUBERNETES_SERVICE_HOST', 'value': '127.0.0.1'" in patch
    assert "'KUBERNETES_SERVICE_PORT', 'value': '6443'" in patch
    assert "'/ports'" in patch and "initContainers" in patch


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
