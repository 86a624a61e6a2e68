"""In a real browser, under the enforced policy: the key pages, the API docs (Swagger UI) and
the admin run without a single Content-Security-Policy violation."""

import os

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
def browser_page(live_server):
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(base_url=live_server.url, locale="en-US")
        context.set_default_timeout(15_000)
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
        console: list[str] = []
        page.on(
            "console",
            lambda message: (
                console.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.console_csp = console
        yield page
        browser.close()


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations") + page.console_csp


@pytest.mark.parametrize("path", ["/", "/signin/", "/signin/eds/", "/register/", "/faq/"])
def test_pages_run_without_policy_violations(browser_page, path):
    response = browser_page.goto(path)
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    browser_page.wait_for_load_state("networkidle")
    assert violations(browser_page) == []


def test_the_api_docs_render_under_the_policy(browser_page):
    browser_page.goto("/api/v1/docs/")
    # Swagger UI built the page from the schema: its script ran and fetched the schema.
    browser_page.locator(".swagger-ui .opblock").first.wait_for()
    assert browser_page.locator(".swagger-ui .opblock").count() > 10
    assert violations(browser_page) == []


def test_the_admin_sign_in_page_runs_without_violations(browser_page):
    response = browser_page.goto("/admin/")
    assert response.status == 200  # the sign-in page, after the redirect
    browser_page.wait_for_load_state("networkidle")
    assert violations(browser_page) == []


def test_an_inline_script_would_be_blocked_and_reported(browser_page):
    """The checks above are only worth something if a violation is really seen."""
    browser_page.goto("/faq/")
    browser_page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__ranInline = true;";
          document.body.appendChild(script);
        }"""
    )
    browser_page.wait_for_function("window.__cspViolations.length > 0")
    assert browser_page.evaluate("window.__ranInline === undefined")
    assert any(v.startswith("script-src") for v in violations(browser_page))
