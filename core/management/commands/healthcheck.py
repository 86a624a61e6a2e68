"""The containers' health checks (docker-compose.yml): the same checks as GET /healthz.

    manage.py healthcheck                 all checks, in this process
    manage.py healthcheck worker          only the worker's heartbeat (the worker container)
    manage.py healthcheck --http URL      GET URL (the web container: gunicorn answers too)

Exits 0 when healthy, 1 when not, and prints the checks as JSON.
"""

import json
import sys
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core import healthz

CHECKS = {
    "database": healthz.check_database,
    "redis": healthz.check_redis,
    "worker": healthz.check_worker,
}
HTTP_TIMEOUT_SECONDS = 5


class Command(BaseCommand):
    help = "Check the database, Redis and the worker's heartbeat; exit 1 when one is unwell."
    # Runs every 30 s in each container: the system checks ran when the server started.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("checks", nargs="*", help=f"any of: {', '.join(CHECKS)} (all)")
        parser.add_argument("--http", metavar="URL", help="ask the running server instead")

    def handle(self, *args, **options):
        if options["http"]:
            healthy, body = self._over_http(options["http"])
        else:
            names = options["checks"] or list(CHECKS)
            unknown = sorted(set(names) - set(CHECKS))
            if unknown:
                raise CommandError(f"no such check: {', '.join(unknown)}")
            results = {name: CHECKS[name]() for name in names}
            healthy = all(check.ok for check in results.values())
            body = {name: check.as_dict() for name, check in results.items()}
        self.stdout.write(json.dumps(body, sort_keys=True))
        if not healthy:
            sys.exit(1)

    @staticmethod
    def _over_http(url: str) -> tuple[bool, dict]:
        if not url.startswith(("http://", "https://")):
            raise CommandError("--http takes an http:// or https:// URL")
        # Django answers 400 to a Host outside ALLOWED_HOSTS, and the probe comes from inside
        # the container: present the portal's own host name, as the proxy would.
        hosts = [host for host in settings.ALLOWED_HOSTS if host and "*" not in host]
        headers = {"Host": hosts[0].lstrip(".")} if hosts else {}
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
                return response.status == 200, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            try:
                return False, json.loads(error.read() or b"{}")
            except ValueError:
                return False, {"status": error.code}
        except (urllib.error.URLError, OSError, ValueError) as error:
            return False, {"error": type(error).__name__}
