"""In a real browser, under the enforced policy: the key pages, the API docs (Swagger UI) and
the admin run without a single Content-Security-Policy violation."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
# Records each violation the page reports (the event fires for blocked scripts, styles and
# connections alike); installed before any of the page's own scripts run.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
});
"""


@pytest.fixture
def in_browser(live_server) -> Callable[[Callable[[Any], Any]], Any]:
    """Runs `steps(page)` in Chromium, in a thread of its own: Playwright's sync API refuses to
    start inside another running Playwright (the browser tests' session-wide one)."""

    def run(steps):
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
            )
            try:
                context = browser.new_context(base_url=live_server.url, locale="en-US")
                context.set_default_timeout(15_000)
                context.add_init_script(RECORD_VIOLATIONS)
                page = context.new_page()
                page.console_csp = []
                page.on(
                    "console",
                    lambda message: (
                        page.console_csp.append(message.text)
                        if "Content Security Policy" in message.text
                        else None
                    ),
                )
                return steps(page)
            finally:
                browser.close()

    def in_browser(steps):
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(run, steps).result()

    return in_browser


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations") + page.console_csp


@pytest.mark.parametrize("path", ["/", "/signin/", "/signin/eds/", "/register/", "/faq/"])
def test_pages_run_without_policy_violations(in_browser, path):
    def steps(page):
        response = page.goto(path)
        assert response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        assert violations(page) == []

    in_browser(steps)


def test_the_api_docs_render_under_the_policy(in_browser):
    def steps(page):
        page.goto("/api/v1/docs/")
        # Swagger UI built the page from the schema: its script ran and fetched the schema.
        page.locator(".swagger-ui .opblock").first.wait_for()
        assert page.locator(".swagger-ui .opblock").count() > 10
        assert violations(page) == []

    in_browser(steps)


def test_the_admin_sign_in_page_runs_without_violations(in_browser):
    def steps(page):
        response = page.goto("/admin/")
        assert response.status == 200  # the sign-in page, after the redirect
        page.wait_for_load_state("networkidle")
        assert violations(page) == []

    in_browser(steps)


def test_an_inline_script_would_be_blocked_and_reported(in_browser):
    """The checks above are only worth something if a violation is really seen."""

    def steps(page):
        page.goto("/faq/")
        page.evaluate(
            """() => {
              const script = document.createElement("script");
              script.textContent = "window.__ranInline = true;";
              document.body.appendChild(script);
            }"""
        )
        page.wait_for_function("window.__cspViolations.length > 0")
        assert page.evaluate("window.__ranInline === undefined")
        assert any(v.startswith("script-src") for v in violations(page))

    in_browser(steps)
