"""O2: the offline staff screen is an installable web app served by the portal: its page (for
the checkpoint's staff only, A5), its web app manifest and its service worker, with nothing
from another site."""

import json

import pytest
from django.test import Client

from checkpoints.models import Checkpoint
from tests.worlds import officer_at

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

APP = "/staff/checkpoints/KORDAI/app/"


def test_o2_the_screen_is_for_the_checkpoints_staff(world, officer_client, sign_in_browser):
    page = officer_client.get(APP)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'rel="manifest" href="/staff/checkpoints/KORDAI/app.webmanifest"' in html
    assert 'data-manifest-url="/api/v1/checkpoints/KORDAI/manifest"' in html
    assert "/static/js/offline-app.js" in html and "https://" not in html.split("<body")[1]
    other = officer_at(Checkpoint.objects.get(code="KARASU"), email="officer@karasu.kz")
    assert sign_in_browser(Client(), other).get(APP).status_code == 403
    assert Client().get(APP).status_code == 302  # to the sign-in


def test_o2_the_web_app_manifest_and_the_service_worker(world):
    answer = Client().get("/staff/checkpoints/KORDAI/app.webmanifest")
    assert answer["Content-Type"] == "application/manifest+json"
    document = json.loads(answer.content)
    assert document["start_url"] == APP and document["scope"] == "/staff/checkpoints/"
    assert document["display"] == "standalone"
    assert {icon["sizes"] for icon in document["icons"]} == {"192x192", "512x512"}
    worker = Client().get("/staff/checkpoints/sw.js")
    assert worker.status_code == 200
    assert worker["Content-Type"].startswith("text/javascript")
    assert worker["Cache-Control"] == "no-cache"
    assert b'addEventListener("fetch"' in worker.content
