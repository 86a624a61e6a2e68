"""Booking tests read in English (the shared world and its fixtures: tests/worlds.py,
tests/conftest.py)."""

import pytest


@pytest.fixture(autouse=True)
def _english(english):
    yield


@pytest.fixture
def signed_in(sign_in_browser):
    """A fresh browser signed in with both factors. Sign in again after moving the clock far:
    a session ends after 30 idle minutes (and 12 hours at most)."""
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    def sign_in(user):
        device = TOTPDevice.objects.filter(user=user).first()
        return sign_in_browser(Client(HTTP_ACCEPT_LANGUAGE="en"), user, device=device)

    return sign_in
