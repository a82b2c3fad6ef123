"""Fixtures of the dashboard's browser tests: one headless Chromium per test module,
a fresh tab per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.support.dashboard import chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    """Chromium with a fresh profile; CSP bypassed only so axe-core can be injected."""
    with chromium() as context:
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A new tab, closed after the test."""
    tab = browser.new_page()
    yield tab
    tab.close()
