"""`runserver` (the web process of `make run`) with a listen backlog for bursts.

Django's development server listens with a backlog of 10: a burst of clients (thirty bookings
sent at once through the API) overflows it and some connections stall or are reset before they
reach Django. 128 is what the test suite's live server uses for its slot-rush tests too.
"""

from django.core.servers.basehttp import WSGIServer
from whitenoise.runserver_nostatic.management.commands.runserver import (
    Command as WhiteNoiseRunserver,
)

LISTEN_BACKLOG = 128


class BurstReadyWSGIServer(WSGIServer):
    request_queue_size = LISTEN_BACKLOG


class Command(WhiteNoiseRunserver):
    server_cls = BurstReadyWSGIServer
