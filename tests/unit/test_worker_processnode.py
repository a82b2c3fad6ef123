"""Pure pieces of the process node (the kubelet stand-in the end-to-end tests use)."""

from __future__ import annotations

import ipaddress

import pytest

from devcluster.processnode import PLACEMENT, TAINT, expand, host_address


@pytest.mark.parametrize(
    ("text", "want"),
    [
        pytest.param("$(A)/x", "1/x", id="defined"),
        pytest.param("$(MISSING)", "$(MISSING)", id="undefined stays"),
        pytest.param("$$(A)", "$(A)", id="escaped"),
        pytest.param("$$", "$", id="dollar"),
        pytest.param("a$(A)$(B)b", "a12b", id="several"),
        pytest.param("$A", "$A", id="shell syntax is not expanded"),
    ],
)
def test_kubernetes_variable_expansion(text: str, want: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}) == want


def test_only_pods_that_select_and_tolerate_run_there() -> None:
    assert PLACEMENT["nodeSelector"] == {"jobwarden.dev/node-kind": "process"}
    (toleration,) = PLACEMENT["tolerations"]
    assert (toleration["key"], toleration["value"]) == (TAINT["key"], TAINT["value"])
    assert TAINT["effect"] == "NoSchedule"


def test_the_pod_address_is_a_real_one_of_this_machine() -> None:
    """EndpointSlices refuse loopback and link-local addresses: never report those."""
    address = host_address()
    if address is not None:
        parsed = ipaddress.IPv4Address(address)
        assert not (parsed.is_loopback or parsed.is_link_local or parsed.is_unspecified)
