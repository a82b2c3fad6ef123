"""The metrics server answers /healthz (the chart's liveness probe) and shares its port
with another replica's (SO_REUSEPORT: host-network replicas on one node)."""

from __future__ import annotations

import asyncio
import urllib.request

from devcluster.process import free_port
from jobwarden.metrics import start_metrics_server


def test_two_replicas_share_the_port_and_answer_healthz() -> None:
    port = free_port()

    async def scenario() -> tuple[int, bytes]:
        first = await start_metrics_server(port, "127.0.0.1")
        second = await start_metrics_server(port, "127.0.0.1")  # would raise without reuse
        assert first is not None and second is not None
        try:
            loop = asyncio.get_running_loop()

            def get() -> tuple[int, bytes]:
                url = f"http://127.0.0.1:{port}/healthz"
                with urllib.request.urlopen(url, timeout=5) as response:
                    return int(response.status), bytes(response.read())

            return await loop.run_in_executor(None, get)
        finally:
            await first.cleanup()
            await second.cleanup()

    status, body = asyncio.run(scenario())
    assert status == 200 and body == b"{}"
