"""Content-Security-Policy (django-csp): a strict policy on every page, and nothing in the
templates or the static scripts that the policy would block (inline scripts, event handler
attributes, style attributes, javascript: URLs), so none can creep back."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent.parent
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
# Rendered by WeasyPrint into PDF files, never served to a browser as HTML.
PDF_TEMPLATES = {"receipts/receipt_pdf.html", "bookings/confirmation_pdf.html"}
# Script types a browser does not run (data blocks such as Django's json_script).
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


class InlineCode(HTMLParser):
    """Collects what a strict CSP blocks: inline <script>, on*= handlers, style= attributes,
    javascript: URLs and <style> blocks."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag, attrs):
        names = {name.lower(): value or "" for name, value in attrs}
        runs = names.get("type", "").lower() not in DATA_SCRIPT_TYPES
        if tag == "script" and "src" not in names and runs:
            self.problems.append(f"inline <script> at line {self.getpos()[0]}")
        if tag == "style":
            self.problems.append(f"<style> block at line {self.getpos()[0]}")
        for name, value in names.items():
            if re.fullmatch(r"on[a-z]+", name):
                self.problems.append(f"{name}= handler on <{tag}> at line {self.getpos()[0]}")
            if name == "style":
                self.problems.append(f"style= attribute on <{tag}> at line {self.getpos()[0]}")
            if value.strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL on <{tag}> at line {self.getpos()[0]}")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.problems


def template_name(path: Path) -> str:
    """The name Django loads it by: the part of the path after its templates/ folder."""
    parts = path.parts
    return "/".join(parts[len(parts) - 1 - parts[::-1].index("templates") + 1 :])


def project_templates() -> list[Path]:
    folders = [ROOT / "templates", *ROOT.glob("*/templates")]
    return sorted(
        path for folder in folders if ".venv" not in folder.parts for path in folder.rglob("*.html")
    )


# --- The header -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/", "/faq/", "/signin/", "/signin/eds/", "/register/", "/receipts/verify/"]
)
def test_pages_carry_a_strict_content_security_policy(client, url):
    response = client.get(url, **EN)
    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    # NCALayer, the EDS signer on the person's computer (static/js/eds-ncalayer.js).
    assert "wss://127.0.0.1:13579" in policy["connect-src"]
    for words in policy.values():
        assert "'unsafe-inline'" not in words and "'unsafe-eval'" not in words


@pytest.mark.django_db
def test_the_api_docs_run_their_script_from_a_file_not_inline(client):
    page = client.get("/api/v1/docs/", **EN)
    assert page.status_code == 200
    policy = directives(page["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    # Swagger UI's own <style> block and rendered styles: allowed on this page only.
    assert "'unsafe-inline'" in policy["style-src"]
    scripts = re.findall(r"<script\b[^>]*>", page.content.decode())
    assert scripts and all("src=" in tag for tag in scripts)
    init = re.search(r'<script src="([^"]*script[^"]*)"', page.content.decode()).group(1)
    script = client.get(init.replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_the_policy_lists_no_inline_allowance_in_settings():
    policy = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    for directive in ("script-src", "style-src", "default-src"):
        assert "'unsafe-inline'" not in policy[directive]


# --- Nothing inline creeps back ------------------------------------------------------------------


def test_the_checker_finds_each_kind_of_inline_code():
    """The scans below are only worth something if the checker really catches these."""
    html = (
        '<script>alert(1)</script><button onclick="go()">x</button>'
        '<div style="color:red"></div><a href="javascript:go()">x</a><style>p{}</style>'
        '<script src="/static/js/a.js" defer></script>'
        '<script type="application/json" id="data">{}</script>'
    )
    problems = inline_code(html)
    assert len(problems) == 5, problems


def test_templates_have_no_inline_scripts_handlers_or_styles():
    templates = project_templates()
    assert len(templates) > 20
    found = {}
    for path in templates:
        problems = inline_code(path.read_text(encoding="utf-8"))
        if template_name(path) in PDF_TEMPLATES:
            # PDF layouts carry their own <style>; they never reach a browser as a page.
            problems = [problem for problem in problems if not problem.startswith("<style>")]
        if problems:
            found[str(path.relative_to(ROOT))] = problems
    assert found == {}


def test_the_pdf_templates_exempted_above_still_exist():
    names = {template_name(path) for path in project_templates()}
    assert names >= PDF_TEMPLATES


def test_static_scripts_write_no_inline_code_into_pages():
    scripts = sorted((ROOT / "static" / "js").rglob("*.js"))
    assert scripts
    forbidden = [
        (re.compile(r"<script(?![^>]*\bsrc=)", re.I), "an inline <script> in markup"),
        (re.compile(r"""\son[a-z]+\s*=\s*["']""", re.I), "an on*= handler in markup"),
        (re.compile(r"""setAttribute\(\s*["']on[a-z]+""", re.I), "an on*= handler attribute"),
        (re.compile(r"""setAttribute\(\s*["']style["']""", re.I), "a style attribute"),
        (re.compile(r"\beval\s*\(|\bnew\s+Function\s*\("), "eval"),
        (re.compile(r"document\.write"), "document.write"),
        (re.compile(r"javascript:", re.I), "a javascript: URL"),
    ]
    found = [
        f"{path.relative_to(ROOT)}: {what}"
        for path in scripts
        for pattern, what in forbidden
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert found == []


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/signin/", "/signin/eds/", "/register/", "/faq/"])
def test_rendered_pages_have_no_inline_code(client, url):
    """Rendered, so template tags of other packages are checked too."""
    response = client.get(url, **EN)
    assert inline_code(response.content.decode()) == []


@pytest.mark.django_db
def test_the_admin_runs_under_the_same_policy_with_no_inline_code(
    client, django_user_model, sign_in_browser
):
    """Django's admin loads its scripts from files and passes data in data- attributes and JSON
    blocks, so it needs no relaxation: its pages carry the strict policy and nothing inline."""
    from checkpoints.services import reference_checkpoints_load

    reference_checkpoints_load()
    operator = django_user_model.objects.create_superuser(
        "operator@example.kz", "a-long-passphrase", full_name="Operator"
    )
    sign_in_browser(client, operator)
    urls = [
        "/admin/",
        "/admin/checkpoints/checkpoint/",
        "/admin/checkpoints/checkpoint/add/",
        "/admin/deposits/statementimport/upload/",
    ]
    for url in urls:
        response = client.get(url, **EN)
        assert response.status_code == 200, url
        assert directives(response["Content-Security-Policy"])["script-src"] == ["'self'"]
        assert inline_code(response.content.decode()) == [], url


# --- The policy built once per process (core.csp) ---------------------------------------------


def _headers_of(middleware_class, prepare=lambda request, response: None, path="/"):
    """The CSP headers a middleware writes on a plain response to GET `path`."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    def view(request):
        response = HttpResponse("ok")
        prepare(request, response)
        return response

    middleware = middleware_class(view)
    request = RequestFactory().get(path)
    response = middleware(request)
    return {
        name: response.headers.get(name)
        for name in ("Content-Security-Policy", "Content-Security-Policy-Report-Only")
    }, request


def _use_nonce(request, response):
    request.nonce_seen = str(request.csp_nonce)


@pytest.mark.parametrize(
    "prepare",
    [
        pytest.param(lambda request, response: None, id="settings policy"),
        pytest.param(_use_nonce, id="nonce used"),
        pytest.param(
            lambda request, response: setattr(response, "_csp_update", {"style-src": ["x.kz"]}),
            id="csp_update",
        ),
        pytest.param(
            lambda request, response: setattr(response, "_csp_replace", {"img-src": None}),
            id="csp_replace",
        ),
        pytest.param(lambda request, response: setattr(response, "_csp_exempt", True), id="exempt"),
    ],
)
def test_cached_policy_headers_are_django_csps_own(prepare, monkeypatch):
    from csp.middleware import CSPMiddleware

    from core.csp import CachedPolicyCSPMiddleware

    # The same nonce for both, so that a policy with a nonce can be compared.
    monkeypatch.setattr("csp.middleware.os.urandom", lambda size: b"n" * size)
    ours, _ = _headers_of(CachedPolicyCSPMiddleware, prepare)
    again, _ = _headers_of(CachedPolicyCSPMiddleware, prepare)  # from memory this time
    theirs, _ = _headers_of(CSPMiddleware, prepare)
    assert ours == again == theirs


def test_cached_policy_follows_changed_settings(settings):
    from csp.middleware import CSPMiddleware

    from core.csp import CachedPolicyCSPMiddleware

    before, _ = _headers_of(CachedPolicyCSPMiddleware)
    assert "frame-ancestors 'none'" in before["Content-Security-Policy"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'self'", "cdn.kz"]}}
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"img-src": ["'self'"]}}
    after, _ = _headers_of(CachedPolicyCSPMiddleware)
    assert after["Content-Security-Policy"] == "default-src 'self' cdn.kz"
    assert "img-src 'self'" in after["Content-Security-Policy-Report-Only"]
    assert after == _headers_of(CSPMiddleware)[0]
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {"default-src": ["'self'"]},
        "EXCLUDE_URL_PREFIXES": ["/excluded"],
    }
    excluded, _ = _headers_of(CachedPolicyCSPMiddleware, path="/excluded/page")
    assert excluded["Content-Security-Policy"] is None


def test_cached_policy_refuses_a_nonce_asked_for_after_the_header():
    from csp.exceptions import CSPNonceError

    from core.csp import CachedPolicyCSPMiddleware

    _, request = _headers_of(CachedPolicyCSPMiddleware)
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)


def test_the_portal_uses_the_cached_policy_middleware():
    assert "core.csp.CachedPolicyCSPMiddleware" in settings.MIDDLEWARE
    assert "csp.middleware.CSPMiddleware" not in settings.MIDDLEWARE
