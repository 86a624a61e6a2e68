"""The deployment's proxy (deploy/nginx/kezek.conf, the file docker-compose.yml and the bench run)
in front of the portal: nginx runs that very file here, with this test's addresses, certificate
and a low public read limit beside it, and the portal behind it is the test server.

- public reads are kept for the few seconds the portal allows and answered from the copy,
  never for a signed-in reader (a session cookie, a token);
- the public read limit is the proxy's (PUBLIC_READ_LIMIT_AT_PROXY), refused in the portal's
  error shape and language; the portal does not count those reads again;
- the client address the portal sees is the one nginx set: a client's own X-Forwarded-For
  escapes no limit;
- plain http is redirected to https, but for /healthz.
"""

import getpass
import http.client
import json
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_CONFIG = ROOT / "deploy" / "nginx" / "kezek.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = [
    pytest.mark.skipif(not Path(NGINX).exists(), reason="needs nginx (apt-get install nginx)"),
    pytest.mark.django_db(transaction=True),
]

# Workers run as this test's own user: its temporary directory is not open to others.
MAIN_CONFIG = """
user {user};
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;
    include {shared};
}}
"""
ENVIRONMENT = {
    "http.conf": (
        "limit_req_zone $kezek_public_read_key zone=kezek_public_read:1m rate=1r/m;\n"
        "proxy_cache_path cache levels=1:2 keys_zone=kezek_cache:1m max_size=8m inactive=1m "
        "use_temp_path=off;\n"
        "access_log access.log kezek;\n"
    ),
    "upstream.conf": "server 127.0.0.1:{upstream};\n",
    "listen-http.conf": "listen 127.0.0.1:{http};\n",
    "listen-https.conf": (
        "listen 127.0.0.1:{https} ssl;\n"
        "ssl_certificate tls/fullchain.pem;\nssl_certificate_key tls/privkey.pem;\n"
    ),
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Proxy:
    def __init__(self, https_port: int, http_port: int) -> None:
        self.https_port, self.http_port = https_port, http_port
        self._tls = ssl.create_default_context()
        self._tls.check_hostname = False
        self._tls.verify_mode = ssl.CERT_NONE

    def get(self, path: str, headers: dict | None = None, method: str = "GET", tls: bool = True):
        if tls:
            connection = http.client.HTTPSConnection(
                "127.0.0.1", self.https_port, context=self._tls, timeout=10
            )
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        connection.request(method, path, headers={"Host": "127.0.0.1", **(headers or {})})
        response = connection.getresponse()
        response.body = response.read()
        connection.close()
        return response


@pytest.fixture
def proxy(live_server, tmp_path, settings):
    settings.NUM_PROXIES = 1
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.PUBLIC_READ_LIMIT_AT_PROXY = True
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    ports = {"upstream": live_server.url.rsplit(":", 1)[1], "http": _free_port()}
    ports["https"] = _free_port()
    (tmp_path / "kezek-env").mkdir()
    for name, text in ENVIRONMENT.items():
        (tmp_path / "kezek-env" / name).write_text(text.format(**ports))
    (tmp_path / "tls").mkdir()
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-keyout", str(tmp_path / "tls" / "privkey.pem"),
            "-out", str(tmp_path / "tls" / "fullchain.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    main = tmp_path / "nginx.conf"
    main.write_text(MAIN_CONFIG.format(shared=SHARED_CONFIG, user=getpass.getuser()))
    command = [NGINX, "-p", f"{tmp_path}/", "-c", str(main), "-e", "stderr"]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    server = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", ports["https"]), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield Proxy(ports["https"], ports["http"])
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_shared_config_is_valid_and_its_public_reads_are_kept_for_the_portals_max_age(proxy):
    first = proxy.get("/api/v1/countries")
    assert first.status == 200
    assert first.getheader("X-Cache-Status") == "MISS"
    assert "public" in first.getheader("Cache-Control")
    again = proxy.get("/api/v1/countries")
    assert (again.status, again.getheader("X-Cache-Status")) == (200, "HIT")
    assert again.body == first.body
    # Each answer carries its own request id, not the one of the request that filled the copy.
    assert again.getheader("X-Request-ID") != first.getheader("X-Request-ID")


def test_a_signed_in_reader_is_never_answered_from_the_shared_copy(proxy):
    proxy.get("/api/v1/countries")
    for headers in ({"Cookie": "sessionid=abc"}, {"Authorization": "Bearer kz_test"}):
        answer = proxy.get("/api/v1/countries", headers)
        assert answer.getheader("X-Cache-Status") == "BYPASS", headers


def test_the_public_read_limit_is_the_proxys_in_the_portals_shape_and_language(proxy):
    """1 a minute with a burst of 60 (kezek.conf): the 62nd read at once is refused."""
    answers = [proxy.get("/api/v1/countries", {"Accept-Language": "kk"}) for _ in range(62)]
    assert [a.status for a in answers[:61]] == [200] * 61
    refused = answers[61]
    assert refused.status == 429 and refused.getheader("Retry-After")
    body = json.loads(refused.body)
    assert body == {
        "error": {
            "code": "throttled",
            "message": "Сұраулар тым көп. Кейінірек қайталап көріңіз.",
            "fields": {},
        }
    }


def test_a_clients_own_forwarded_header_escapes_no_limit_of_the_portal(proxy, settings):
    """The portal counts sign-in attempts per client address, the one nginx set."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "sign_in": "2/min",
        },
    }
    statuses = [
        proxy.get(
            "/api/v1/auth/login",
            {"X-Forwarded-For": f"203.0.113.{n}", "Content-Type": "application/json"},
            method="POST",
        ).status
        for n in range(3)
    ]
    assert statuses[2] == 429, statuses


def test_plain_http_is_redirected_but_for_the_health_check(proxy):
    redirected = proxy.get("/api/v1/countries", tls=False)
    assert redirected.status == 301
    assert redirected.getheader("Location").startswith("https://")
    health = proxy.get("/healthz", tls=False)
    assert health.status in (200, 503)  # answered by the portal, whatever its state
    assert b'"checks"' in health.body
