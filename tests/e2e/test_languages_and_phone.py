"""The journeys' key pages in Kazakh and Russian, chosen with the language switcher as a person
does, and on a phone 390 pixels wide: each page speaks the language chosen, and no page is wider
than the phone's screen. Screenshots are named after the language and the width.
"""

import datetime as dt

import pytest
from django.utils import translation

from core import clock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


# The innermost elements that stick out to the right of the screen, to say what to fix.
WIDER_THAN_THE_SCREEN = """() => {
  const edge = document.documentElement.clientWidth;
  const scrolls = (el) => el.parentElement?.closest(".table-wrap");
  const out = [...document.querySelectorAll("body *")].filter(
    (el) => el.getBoundingClientRect().right > edge + 0.5 && !scrolls(el));
  return out.filter((el) => !out.some((other) => other !== el && el.contains(other)))
    .slice(0, 5).map((el) => el.outerHTML.slice(0, 100));
}"""


# Text that sticks out of its own box (a long word or number running into the next column).
SPILLING_TEXT = """() => [...document.querySelectorAll("main *")].filter((el) => {
  const style = getComputedStyle(el);
  return style.display !== "inline" && style.overflowX === "visible" && el.clientWidth > 0
    && el.scrollWidth > el.clientWidth + 1 && !el.closest(".table-wrap, .visually-hidden");
}).slice(0, 5).map((el) => el.outerHTML.slice(0, 100))"""


def switch_language(page, code: str) -> None:
    """Press the language switcher's button, as a person does."""
    page.locator(f"form.lang button[value='{code}']").click()
    page.wait_for_function(f"document.documentElement.lang === '{code}'")


def look_at(page, path: str, step: str, *, language: str, expect: str) -> None:
    """Open `path`; it must be in `language`, show `expect` (already translated) and fit the
    viewport's width. Snap it as `<step>-<language>-<width>px`."""
    page.goto(path)
    assert page.evaluate("document.documentElement.lang") == language
    page.get_by_text(expect, exact=False).first.wait_for()
    fits_the_screen(page, path, f"{step}-{language}-{page.viewport_size['width']}px")


def fits_the_screen(page, where: str, shot: str) -> None:
    """Snap the page; nothing on it may be wider than the screen or spill out of its box."""
    width = page.viewport_size["width"]
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    page.snap(shot)
    spilling = page.evaluate(SPILLING_TEXT)
    assert not spilling, f"{where}: text runs out of its box at {width} px: {spilling}"
    if overflow > 0:
        wide = page.evaluate(WIDER_THAN_THE_SCREEN)
        raise AssertionError(f"{where} is {overflow} px wider than the {width} px screen: {wide}")


@pytest.mark.parametrize(
    ("language", "viewport"),
    [("kk", DESKTOP), ("ru", DESKTOP), ("kk", PHONE), ("ru", PHONE), ("en", PHONE)],
    ids=["kk-desktop", "ru-desktop", "kk-390px", "ru-390px", "en-390px"],
)
def test_key_pages_in_the_language_chosen_and_on_a_phone(
    page, signed_in_page, carrier_with_history, language, viewport
):
    history = carrier_with_history
    booking, receipt = history.booking, history.receipt
    width = viewport["width"]
    with translation.override(language):
        from django.utils.translation import gettext as _

        texts = {
            key: _(text)
            for key, text in {
                "home": "Checkpoints",
                "faq": "Questions and answers",
                "register": "Register",
                "signin": "Sign in",
                "verify": "The receipt is genuine",
                "cabinet": "Book a passage",
                "vehicles": "Add the vehicle",
                "drivers": "Add the driver",
                "wizard": "Country",
                "bookings": "Active bookings",
                "booking": "Add drivers",
                "account": "How to top up",
                "receipts": "Receipts",
                "security": "Where you are signed in",
                "board": "Free places to book in the next hours",
            }.items()
        }

    # Someone not signed in: the public pages, registration and sign-in.
    page.set_viewport_size(viewport)
    page.goto("/")
    switch_language(page, language)
    for path, key in (
        ("/", "home"),
        ("/faq/", "faq"),
        ("/register/", "register"),
        ("/signin/", "signin"),
        (f"/receipts/verify/{receipt.verification_code}/", "verify"),
        ("/board/KORDAI/", "board"),
    ):
        look_at(page, path, key, language=language, expect=texts[key])

    # The carrier's owner, signed in: the cabinet pages of the journeys.
    owner = signed_in_page(history.world.member.user, "carrier", viewport=viewport)
    owner.goto("/cabinet/")
    switch_language(owner, language)
    for path, key in (
        ("/cabinet/", "cabinet"),
        ("/cabinet/vehicles/", "vehicles"),
        ("/cabinet/drivers/", "drivers"),
        ("/cabinet/bookings/new/", "wizard"),
        ("/cabinet/bookings/", "bookings"),
        (f"/cabinet/bookings/{booking.pk}/", "booking"),
        ("/cabinet/account/", "account"),
        ("/cabinet/receipts/", "receipts"),
        ("/account/security/", "security"),
    ):
        look_at(owner, path, key, language=language, expect=texts[key])

    # The wizard as far as its summary: the hour grid and the fleet step are the densest.
    owner.goto("/cabinet/bookings/new/")
    step = owner.locator("li[aria-current='step']")
    day = clock.local_today() + dt.timedelta(days=3)
    for name, value in (
        ("country", "KG"),
        ("checkpoint", "KORDAI"),
        ("direction", "exit"),
        ("service", "regular"),
        ("date", day.isoformat()),
    ):
        step.locator(f"button[name='{name}'][value='{value}']").click()
    ten = step.locator("button[name='hour'][value='10']")
    ten.wait_for()
    fits_the_screen(owner, "wizard hour grid", f"wizard-hours-{language}-{width}px")
    ten.click()
    step.locator("select[name='vehicle']").select_option(str(history.world.tractor.pk))
    step.locator("input[name='drivers']").first.check()
    fits_the_screen(owner, "wizard fleet step", f"wizard-fleet-{language}-{width}px")
    step.locator("button[type='submit']").last.click()
    step.locator("button[name='action'][value='confirm']").wait_for()
    fits_the_screen(owner, "wizard summary", f"wizard-summary-{language}-{width}px")
