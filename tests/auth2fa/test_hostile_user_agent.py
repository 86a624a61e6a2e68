"""A browser's User-Agent is whatever the client sends: a NUL byte in it (which PostgreSQL
refuses to store) or other control characters never fail a sign-in."""

import pytest

from auth2fa.services import web_session_start
from tests.auth2fa.factories import registered_person

pytestmark = pytest.mark.django_db


def test_a2_a_user_agent_with_control_characters_is_stored_without_them(fake_twilio):
    person = registered_person(fake_twilio)
    session = web_session_start(
        user=person, session_key="k" * 32, ip="127.0.0.1", user_agent="Mozilla\x00/5.0\r\n(X11)"
    )
    session.refresh_from_db()
    assert session.user_agent == "Mozilla/5.0(X11)"


def test_a2_a_long_user_agent_is_kept_short(fake_twilio):
    person = registered_person(fake_twilio)
    session = web_session_start(
        user=person, session_key="k" * 32, ip="127.0.0.1", user_agent="A" * 10_000
    )
    assert session.user_agent == "A" * 300
