"""A real headless Chromium (Debian's package) driven by Playwright, for the web pages' tests.

Without Chromium the browser tests skip, unless CROCEVIA_REQUIRE_BROWSER=1 (set by
`./run test` where it can install the package): then a missing browser fails them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).parent / "web" / "screenshots"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
]  # fmt: skip


@pytest.fixture
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CROCEVIA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium is required for the browser tests and is not at {CHROMIUM}")
        pytest.skip("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser: object, url: str, email: str, password: str, *,
              width: int = 1280, height: int = 800, locale: str | None = None) -> Any:  # fmt: skip
    """A new page of one of our agent pages (console, lead, marketing, settings) at
    `width`×`height`, logged in as `email`."""
    options: dict[str, Any] = {"viewport": {"width": width, "height": height}}
    if locale:
        options["locale"] = locale
    page = browser.new_context(**options).new_page()  # type: ignore[attr-defined]
    page.goto(url)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    return page
