"""The operator's in-cluster login: the kubelet's KUBERNETES_SERVICE_HOST/PORT, and the
ServiceAccount files where the node's path map puts them."""

from __future__ import annotations

import json
from pathlib import Path

import kopf

from jobwarden.incluster import login_with_service_account
from jobwarden.worker.client import PATH_MAP_ENV, SERVICE_ACCOUNT_DIR


def _mounted(tmp_path: Path, *, ca: bool = True) -> dict[str, str]:
    account = tmp_path / "kube-api-access"
    account.mkdir()
    (account / "token").write_text("secret-token\n")
    (account / "namespace").write_text("jobwarden-system")
    if ca:
        (account / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    return {PATH_MAP_ENV: json.dumps({SERVICE_ACCOUNT_DIR: str(account)})}


def test_the_kubelets_address_and_the_mapped_files(tmp_path: Path) -> None:
    env = {
        **_mounted(tmp_path),
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
    }
    info = login_with_service_account(kopf.OperatorSettings(), env)
    assert info is not None
    assert info.server == "https://10.96.0.1:443"
    assert info.token == "secret-token"
    assert info.ca_path == str(tmp_path / "kube-api-access" / "ca.crt")
    assert info.default_namespace == "jobwarden-system"


def test_ipv6_and_no_ca(tmp_path: Path) -> None:
    env = {**_mounted(tmp_path, ca=False), "KUBERNETES_SERVICE_HOST": "fd00::1"}
    env["KUBERNETES_SERVICE_PORT"] = "6443"
    info = login_with_service_account(kopf.OperatorSettings(), env)
    assert info is not None
    assert info.server == "https://[fd00::1]:6443"
    assert info.ca_path is None


def test_outside_a_pod_there_is_nothing(tmp_path: Path) -> None:
    settings = kopf.OperatorSettings()
    assert login_with_service_account(settings, _mounted(tmp_path)) is None  # no address
    no_token = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    no_token[PATH_MAP_ENV] = json.dumps({SERVICE_ACCOUNT_DIR: str(tmp_path / "missing")})
    assert login_with_service_account(settings, no_token) is None
