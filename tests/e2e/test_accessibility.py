"""Accessibility of the main pages, checked by axe-core (WCAG 2 A and AA rules) in Chromium:
no serious or critical violation on any of them — labels, landmarks, titles, contrast, names.

axe-core comes from npm (package.json; `make test` runs `npm ci`). It is added to each page as a
script, which the Content-Security-Policy forbids: these browser contexts bypass the policy, the
others keep it.
"""

import json
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from auth2fa.roles import CHECKPOINT_STAFF
from checkpoints.models import StaffAssignment
from tests.e2e.conftest import ARTIFACTS

AXE = ARTIFACTS.parent / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not AXE.exists(),
        reason="axe-core is not installed: run `npm ci --no-audit --no-fund` (make test does)",
    ),
]

BLOCKING = ("serious", "critical")
# WCAG 2.0 A and AA, the 2.1 and 2.2 additions, and axe's best practices (landmarks, headings).
RULE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
RUN_AXE = """async (tags) => {
  const results = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary})),
  }));
}"""


PHONE_VIEWPORT = {"width": 390, "height": 844}


def phone_page(chromium, live_server, language: str):
    """A page on a phone-sized screen in `language` (kk, ru, en), ready for axe-core."""
    context = chromium.new_context(
        base_url=live_server.url,
        locale=f"{language}-KZ",
        viewport=PHONE_VIEWPORT,
        is_mobile=True,
        bypass_csp=AXE.exists(),
    )
    context.set_default_timeout(15_000)
    context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    return context.new_page()


def axe_violations(page, where: str) -> list[str]:
    """The serious and critical violations on the page as it is now, one readable line each."""
    page.add_script_tag(path=str(AXE))
    found = []
    for violation in page.evaluate(RUN_AXE, RULE_TAGS):
        if violation["impact"] not in BLOCKING:
            continue
        for node in violation["nodes"][:5]:
            summary = re.sub(r"\s+", " ", node["summary"] or "")
            found.append(
                f"{where}: [{violation['impact']}] {violation['id']} — {violation['help']}\n"
                f"    at {node['target']}\n    {summary}\n    ({violation['url']})"
            )
    return found


def check_title_and_landmarks(page, where: str) -> list[str]:
    """Every page has its own title and the main landmark (axe's rules allow either missing)."""
    problems = []
    if not page.title().strip() or page.title().strip() == "— Kezek":
        problems.append(f"{where}: the page has no title of its own ({page.title()!r})")
    if page.locator("main").count() != 1:
        problems.append(f"{where}: the page needs exactly one <main>")
    return problems


@pytest.fixture
def axe_page(chromium, live_server, signed_in_page):
    """`axe_page(user=None)`: a page whose context bypasses the CSP so axe can be added."""
    contexts = []

    def open_page(user=None, name="axe"):
        if user is not None:
            return signed_in_page(user, name, bypass_csp=True)
        context = chromium.new_context(base_url=live_server.url, locale="en-US", bypass_csp=True)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def test_the_main_pages_have_no_serious_accessibility_violations(
    axe_page, carrier_with_history, request
):
    history = carrier_with_history
    booking, receipt = history.booking, history.receipt
    problems: list[str] = []

    def check(page, path: str | None, where: str) -> None:
        if path is not None:
            page.goto(path)
        problems.extend(check_title_and_landmarks(page, where))
        problems.extend(axe_violations(page, where))

    public = axe_page()
    # A form sent empty: its errors must be tied to the fields.
    public.goto("/register/")
    public.get_by_role("button", name="Register").click()
    public.locator(".field-error, .errorlist").first.wait_for()
    check(public, None, "/register/ with errors")
    for path in (
        "/",
        "/faq/",
        "/fees/",
        "/register/",
        "/signin/",
        "/receipts/verify/",
        f"/receipts/verify/{receipt.verification_code}/",
        "/board/KORDAI/",
        # The public planning and transparency pages (W4–W6), on a desktop screen in English;
        # their own tests check them on a phone in Kazakh and Russian.
        "/checkpoints/KORDAI/",
        "/checkpoints/KORDAI/calendar/?direction=entry",
        "/statistics/?checkpoint=KORDAI&direction=exit",
        "/transparency/",
        "/transparency/check/",
    ):
        check(public, path, path)

    owner = axe_page(history.world.member.user, "owner")
    for path in (
        "/cabinet/",
        "/cabinet/vehicles/",
        "/cabinet/drivers/",
        "/cabinet/bookings/",
        f"/cabinet/bookings/{booking.pk}/",
        f"/cabinet/bookings/{booking.pk}/cancel/",
        "/cabinet/account/",
        "/cabinet/receipts/",
        "/account/security/",
    ):
        check(owner, path, path)

    # The booking wizard, step by step, as far as the hour grid and the fleet step.
    owner.goto("/cabinet/bookings/new/")
    step = owner.locator("li[aria-current='step']")
    for heading, choice in (
        ("Country", re.compile("^Kyrgyzstan")),
        ("Checkpoint", re.compile("^Kordai")),
        ("Direction", re.compile("^Exit from Kazakhstan")),
        ("Service", re.compile("^Regular queue")),
    ):
        step.get_by_role("heading", name=heading).wait_for()
        check(owner, None, f"wizard: {heading}")
        step.get_by_role("button", name=choice).click()
    step.get_by_role("heading", name="Date").wait_for()
    check(owner, None, "wizard: Date")
    step.locator("button[name='date']").nth(2).click()
    step.get_by_role("heading", name="Hour").wait_for()
    check(owner, None, "wizard: Hour")
    step.get_by_role("button", name=re.compile(r"^10:00")).click()
    step.get_by_role("heading", name="Vehicle and drivers").wait_for()
    check(owner, None, "wizard: Vehicle and drivers")

    officer = get_user_model().objects.create_user(
        "officer@kordai.kz", "a long staff passphrase", full_name="Nurlan Officer", is_staff=True
    )
    officer.groups.add(Group.objects.get(name=CHECKPOINT_STAFF))
    StaffAssignment.objects.create(user=officer, checkpoint=booking.checkpoint)
    staff = axe_page(officer, "staff")
    check(staff, "/staff/checkpoints/", "/staff/checkpoints/")
    check(staff, "/staff/checkpoints/KORDAI/", "/staff/checkpoints/KORDAI/")

    report = Path(ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name) / "axe.json")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(problems, ensure_ascii=False, indent=2))
    assert not problems, "Accessibility problems:\n" + "\n".join(problems)


FOCUS = """() => {
  const el = document.activeElement;
  const box = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  return {
    tag: el.tagName.toLowerCase(), id: el.id, name: el.getAttribute("name"),
    text: (el.innerText || "").trim(), inMain: !!el.closest("main"),
    visible: box.width > 0 && box.height > 0 && box.left >= 0 && box.top >= 0,
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
  };
}"""


def test_keyboard_only_skip_link_visible_focus_and_sign_in(page, carrier_with_history):
    """Tab shows the skip link first; Enter on it lands in the main content, where Tab goes on
    with a visible focus ring. The sign-in form starts in its first field, and the fields and
    Enter are enough to sign in."""
    person = carrier_with_history.world.member.user
    page.goto("/")
    page.keyboard.press("Tab")
    focus = page.evaluate(FOCUS)
    assert (focus["text"], focus["visible"], focus["outline"]) == ("Skip to content", True, True)
    page.snap("skip-link")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    focus = page.evaluate(FOCUS)
    assert focus["inMain"] and focus["visible"] and focus["outline"], focus
    page.snap("first-link-in-main")

    page.goto("/signin/")
    focus = page.evaluate(FOCUS)
    assert (focus["tag"], focus["name"], focus["outline"]) == ("input", "username", True), focus
    page.keyboard.type(person.email)
    page.keyboard.press("Tab")
    focus = page.evaluate(FOCUS)
    assert (focus["name"], focus["outline"]) == ("password", True), focus
    page.keyboard.type("correct horse battery")
    page.snap("password-focused")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Send me a code").wait_for()
    page.snap("second-factor")
