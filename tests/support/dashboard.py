"""The dashboard in a real browser, for the integration tests: `python -m
jobwarden.dashboard` (what `kubectl jobwarden dashboard` runs) as one identity, and
Debian's Chromium, headless, driven by Playwright (nothing downloaded), with axe-core
from npm (tests/browser) for the accessibility checks. Screenshots go to docs/images/.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from jobwarden.api.paths import resource_path
from tests.support.cluster import TestCluster
from tests.support.kube import JSON
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("JOBWARDEN_CHROMIUM", "/usr/bin/chromium"))
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "images"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RBAC = "rbac.authorization.k8s.io/v1"
GROUP = "jobwarden.dev"
UI_TIMEOUT_MS = 15_000


class Dashboard:
    """`python -m jobwarden.dashboard` as one identity; its URL ends with `/`."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url

    def page_url(self, path: str = "") -> str:
        return self.url + path.lstrip("/")


def start_dashboard(cluster: TestCluster, identity: str, namespace: str) -> Dashboard:
    """Start the dashboard as `identity` on `namespace`; wait for its URL."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jobwarden.dashboard",
            "--kubeconfig",
            str(cluster.kubeconfig(identity)),
            "-n",
            namespace,
            "--no-browser",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    assert process.stdout is not None
    stdout = process.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        first = lines.get(timeout=60)
    except queue.Empty:
        process.kill()
        raise AssertionError("the dashboard printed no URL within 60 s") from None
    url = next((word for word in first.split() if word.startswith("http://")), "")
    assert url.startswith("http://127.0.0.1:"), first
    return Dashboard(process, url)


def stop_dashboard(dashboard: Dashboard) -> None:
    """Stop it (SIGTERM, then SIGKILL after 10 s)."""
    dashboard.process.terminate()
    try:
        dashboard.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        dashboard.process.kill()
        dashboard.process.wait(timeout=10)


@contextmanager
def chromium() -> Iterator[BrowserContext]:
    """Chromium with a fresh profile; CSP bypassed only so axe-core can be injected."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    assert AXE.exists(), f"{AXE} is missing: run `npm ci` in tests/browser"
    with (
        tempfile.TemporaryDirectory(prefix="jobwarden-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 800},
            accept_downloads=True,
            bypass_csp=True,
        )
        context.set_default_timeout(UI_TIMEOUT_MS)
        yield context
        context.close()


def open_live(page: Page, url: str) -> None:
    """Go to `url` and wait until its live updates are connected."""
    page.goto(url)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")


def axe(page: Page, label: str) -> None:
    """axe-core's WCAG 2.1 A/AA rules: no serious or critical violation."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text())
    result: dict[str, Any] = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}
        })"""
    )
    bad = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert not bad, f"axe-core on {label}: {json.dumps(bad, indent=1)}"


def shot(page: Page, name: str) -> None:
    """Save docs/images/dashboard-NAME.png (the whole page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}.png"), full_page=True)


def grant(cluster: TestCluster, namespace: str, role: str, rules: list[JSON], *users: str) -> None:
    """A Role with `rules` in `namespace`, bound to `users`."""
    admin = cluster.kube()
    admin.create(
        resource_path(RBAC, "roles", namespace), {"metadata": {"name": role}, "rules": rules}
    )
    admin.create(
        resource_path(RBAC, "rolebindings", namespace),
        {
            "metadata": {"name": role},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [
                {"kind": "User", "name": u, "apiGroup": "rbac.authorization.k8s.io"} for u in users
            ],
        },
    )


def wait_can(
    cluster: TestCluster, namespace: str, user: str, verb: str, resource: str, want: bool = True
) -> None:
    """Wait until RBAC answers `want` to `user` doing `verb` on `resource`."""
    wait_until(
        lambda: (
            cluster.kubectl(
                "auth", "can-i", verb, resource, "-n", namespace, identity=user, check=False
            ).stdout.strip()
            == ("yes" if want else "no")
        ),
        timeout=15,
        message=f"{user} may{'' if want else ' not'} {verb} {resource} in {namespace}",
    )


def new_namespace(cluster: TestCluster, prefix: str, suffix: str) -> str:
    """A namespace `prefix-suffix` whose default ServiceAccount exists (pods can be
    created in it)."""
    admin = cluster.kube()
    namespace = f"{prefix}-{suffix}"
    admin.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
    wait_until(
        lambda: admin.exists(f"/api/v1/namespaces/{namespace}/serviceaccounts/default"),
        timeout=30,
        message=f"the default ServiceAccount in {namespace}",
    )
    return namespace


def texts(page: Page, selector: str) -> Sequence[str]:
    """The text of every element matching `selector`."""
    found: list[str] = page.locator(selector).all_inner_texts()
    return found
