"""Browser tests: Debian's Chromium driven by Playwright against the live test server.

Screenshots of each step go to test-artifacts/<test name>/ (kept by CI as artifacts and looked
at by people before a journey is called done).
"""

import os
import re
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium():
    # Playwright's sync API runs an event loop; Django refuses ORM calls from inside one unless
    # told this is fine (the tests call the ORM only between browser steps, never concurrently).
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, request, live_server):
    context = chromium.new_context(
        base_url=live_server.url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    shots = iter(range(1, 1000))

    def snap(step: str) -> None:
        page.screenshot(path=str(folder / f"{next(shots):02d}-{step}.png"), full_page=True)

    page.snap = snap
    yield page
    context.close()
