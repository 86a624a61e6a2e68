"""Fixtures of working through an outage (O1-O4): the manifest signing key in a folder of the
test's own, a checkpoint device key, an officer's verified browser session."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from auth2fa.roles import OPERATORS
from checkpoint_queue import manifest_keys
from checkpoints.services import device_key_issue


@pytest.fixture(autouse=True)
def manifest_key_dir(tmp_path, settings):
    """Each test signs with keys of its own, in a temporary folder (never var/)."""
    settings.MANIFEST_KEY_DIR = str(tmp_path / "manifest_keys")
    manifest_keys.rotate()
    yield tmp_path / "manifest_keys"
    manifest_keys._cache.clear()


@pytest.fixture
def operator(world):
    """A registrar operator (A5)."""
    person = get_user_model().objects.create_user(
        "operator@registrar.kz", "x", full_name="Registrar Operator", is_staff=True
    )
    person.groups.add(Group.objects.get(name=OPERATORS))
    return person


@pytest.fixture
def device(world, operator):
    """A device key of KORDAI (a handheld scanner at the gate)."""
    return device_key_issue(checkpoint=world.checkpoint, name="KORDAI gate tablet", actor=operator)


@pytest.fixture
def device_client(device):
    client = Client(HTTP_AUTHORIZATION=f"Device {device.secret}", HTTP_ACCEPT_LANGUAGE="en")
    return client


@pytest.fixture
def officer_client(staff, sign_in_browser):
    """KORDAI's officer in a browser signed in with both factors (A2, A5)."""
    return sign_in_browser(Client(HTTP_ACCEPT_LANGUAGE="en"), staff)


@pytest.fixture
def world(world):
    """tests.worlds' carrier, with money for many bookings."""
    world.top_up("100000000.00")
    return world
