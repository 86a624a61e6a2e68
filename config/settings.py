"""Kezek settings: one module, driven by environment variables (django-environ).

Every setting has a safe default for `make run` on a bare machine: SQLite and the file-based cache
and Celery transport under `var/`. Production sets DATABASE_URL, REDIS_URL and SECRET_KEY.
A variable already set in the environment always wins.
"""

import ipaddress
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

from core.log import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("KEZEK_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)


def _generated_secret_key() -> str:
    """A development key kept under var/, made once; production must set SECRET_KEY."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="")
# config.wsgi and config.celery refuse to start with DEBUG off and this key (ARCHITECTURE.md).
SECRET_KEY_IS_GENERATED = not SECRET_KEY
if SECRET_KEY_IS_GENERATED:
    SECRET_KEY = _generated_secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "core.apps_admin.KezekAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Above WhiteNoise's runserver: core's own (core/management/commands/runserver.py) wraps it.
    "core",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "pgtrigger",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp_webauthn",
    "csp",
    "auth2fa",
    "carriers",
    "vehicles",
    "checkpoints",
    "bookings",
    "checkpoint_queue",
    "fees",
    "deposits",
    "receipts",
    "notify",
    "release",
    "open_data",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.RequestContextMiddleware",
    "core.csp.CachedPolicyCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "auth2fa.middleware.SessionGuardMiddleware",
    "core.throttles.PublicPageThrottleMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.visits.VisitCounterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "auth2fa.User"
# The e-mail (the username) is unique among confirmed people only, so that registering tells
# nobody who is registered (A8); UserManager.get_by_natural_key looks among them alone.
SILENCED_SYSTEM_CHECKS = ["auth.E003"]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "core.context_processors.site",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'kezek.sqlite3'}"),
}
DB_VENDOR_IS_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
# A lock wait longer than this fails the request with 503 `busy` instead of hanging (ARCHITECTURE).
DB_LOCK_TIMEOUT_MS = env.int("DB_LOCK_TIMEOUT_MS", default=5000)
if DB_VENDOR_IS_SQLITE:
    # WAL lets readers go on while one process writes; IMMEDIATE takes the write lock at BEGIN so
    # two writers queue (busy timeout) instead of failing on a lock upgrade mid-transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": DB_LOCK_TIMEOUT_MS / 1000,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        f"-c lock_timeout={DB_LOCK_TIMEOUT_MS}"
    )
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery -----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis backend, counting rate limits atomically in Redis (config/cache.py).
            "BACKEND": "config.cache.RateLimitingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="kezek"),
        }
    }
    CELERY_BROKER_URL = REDIS_URL
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    # The filesystem transport ignores the host; naming one keeps kombu from warning on every send.
    CELERY_BROKER_URL = "filesystem://localhost/"
    _broker_dir = VAR_DIR / "celery" / "broker"
    (_broker_dir / "out").mkdir(parents=True, exist_ok=True)
    for _folder in ("processed", "control"):
        (VAR_DIR / "celery" / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }

CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "Asia/Almaty"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# The beat schedule (ARCHITECTURE.md, "Jobs"); django-celery-beat stores it so operators can see
# and pause jobs in the admin. Each job is also a management command with --as-of.
CELERY_BEAT_SCHEDULE = {
    "seal-audit": {"task": "core.tasks.seal_audit", "schedule": 5.0},
    "seal-audit-sweep": {"task": "core.tasks.seal_audit_sweep", "schedule": crontab(minute=17)},
    "publish-audit-head": {
        "task": "core.tasks.publish_audit_head",
        "schedule": crontab(hour=0, minute=5),
    },
    "flush-visit-counters": {"task": "core.tasks.flush_visit_counters", "schedule": 60.0},
    "expire-holds": {"task": "bookings.tasks.expire_holds", "schedule": 60.0},
    "lapse-unconfirmed-registrations": {
        "task": "carriers.tasks.lapse_unconfirmed_registrations",
        "schedule": 600.0,
    },
    "sweep-no-shows": {"task": "bookings.tasks.sweep_no_shows", "schedule": 300.0},
    "close-not-crossed": {
        "task": "checkpoint_queue.tasks.close_not_crossed",
        "schedule": crontab(minute=41),
    },
    "issue-missing-receipts": {
        "task": "receipts.tasks.issue_missing_receipts",
        "schedule": crontab(hour=18, minute=30),
    },
    "transfer-to-budget": {
        "task": "fees.tasks.transfer_to_budget_daily",
        "schedule": crontab(hour=18, minute=0),
    },
    "verify-capacity": {
        "task": "checkpoints.tasks.verify_capacity",
        "schedule": crontab(hour=2, minute=15),
    },
    "verify-ledger": {
        "task": "deposits.tasks.verify_ledger",
        "schedule": crontab(hour=2, minute=30),
    },
    "purge-idempotency-keys": {
        "task": "core.tasks.purge_idempotency_keys",
        "schedule": crontab(minute=20),
    },
    "deliver-outbox": {"task": "notify.tasks.deliver_outbox", "schedule": 60.0},
    # /healthz reports the worker stale when this has not run for HEALTHZ_WORKER_STALE_SECONDS.
    "worker-heartbeat": {"task": "core.tasks.worker_heartbeat", "schedule": 30.0},
    "send-reminders": {"task": "notify.tasks.send_reminders", "schedule": 300.0},
    # Fair release (F1, F4): windows published ahead with their commitments; draws at the close.
    "schedule-release-windows": {
        "task": "release.tasks.schedule_release_windows",
        "schedule": crontab(minute=7),
    },
    "run-draws": {"task": "release.tasks.run_draws", "schedule": 30.0},
    # F7: places kept for a waitlist whose task was lost on the way.
    "serve-waitlists": {"task": "release.tasks.serve_waitlists", "schedule": 60.0},
    # Statistics and open data (W5): the days before, computed again once they have settled.
    "aggregate-statistics": {
        "task": "open_data.tasks.aggregate_statistics",
        "schedule": crontab(hour=0, minute=35),
    },
    # What operators must act on (core.notices: e.g. next year's MRP from 1 December) to the log.
    "log-operator-notices": {
        "task": "core.tasks.log_operator_notices",
        "schedule": crontab(hour=9, minute=0),
    },
}

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_LOGIN = env.bool("PASSWORD_LOGIN", default=True)
OTP_TOTP_ISSUER = "Kezek"
# Sessions (issue: sign-in): 30 minutes idle, 12 hours at most from sign-in (auth2fa middleware).
SESSION_COOKIE_AGE = 30 * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_ABSOLUTE_SECONDS = 12 * 3600
API_SIGN_IN_TOKEN_HOURS = 12
# A personal API token works this long unless its owner chooses less when making it (A4).
API_PERSONAL_TOKEN_DAYS = env.int("API_PERSONAL_TOKEN_DAYS", default=365)
LOGIN_URL = "admin:login"

# --- Internationalisation (W1) --------------------------------------------------------------
LANGUAGE_CODE = "ru"
LANGUAGES = [("kk", _("Kazakh")), ("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Almaty"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "core.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "auth2fa.authentication.BearerTokenAuthentication",
        "auth2fa.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.LimitOffsetWithCeiling",
    "PAGE_SIZE": 50,
    # Rate limits key on the client's address: REMOTE_ADDR with no proxy in front (make run),
    # or the address the reverse proxy appended to X-Forwarded-For (set NUM_PROXIES=1 there).
    # Never the whole header, which a client could vary to escape the limits.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "DEFAULT_THROTTLE_RATES": {
        "public_read": env.str("THROTTLE_PUBLIC_READ", default="600/min"),
        "registration": env.str("THROTTLE_REGISTRATION", default="10/hour"),
        "booking_writes": env.str("THROTTLE_BOOKING_WRITES", default="120/min"),
        # Public checks of receipt codes (P5), per IP: stricter than other public reads.
        "receipt_verify": env.str("THROTTLE_RECEIPT_VERIFY", default="30/min"),
        # Public checks of uploaded audit proofs (W6), per IP: each hashes up to 10 MB.
        "proof_check": env.str("THROTTLE_PROOF_CHECK", default="20/min"),
        # Sign-in per IP (password, EDS and EDS challenges), web and API: A3's per-account lock
        # stops guessing one account, this stops trying many accounts from one address.
        "sign_in": env.str("THROTTLE_SIGN_IN", default="20/min"),
        # Second factors per IP (code sends and checks, passkey sign-in), web and API.
        "otp": env.str("THROTTLE_OTP", default="30/min"),
    },
}
# Behind the deployment's proxy (deploy/nginx) the proxy limits the public reads per address, in
# front of its cache; the portal then counts only the other scopes. Without a proxy (make run)
# the portal counts public reads too.
PUBLIC_READ_LIMIT_AT_PROXY = env.bool("PUBLIC_READ_LIMIT_AT_PROXY", default=False)
# How long a browser or the proxy may reuse a public read (slots, board, fees) without asking
# again, and how long after that it may still answer with it while it asks (core.http_cache).
PUBLIC_READ_MAX_AGE = env.int("PUBLIC_READ_MAX_AGE", default=2)
PUBLIC_READ_STALE_SECONDS = env.int("PUBLIC_READ_STALE_SECONDS", default=5)
SPECTACULAR_SETTINGS = {
    "TITLE": "Kezek API",
    "DESCRIPTION": "The electronic queue of freight vehicles at Kazakhstan's road border "
    "checkpoints. Times are ISO 8601 with offset; money is a string with 2 decimals, tenge.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several bodies have a field "kind" or "direction"; each set of values gets a stable name.
    "ENUM_NAME_OVERRIDES": {
        "VehicleKindEnum": "core.openapi.vehicle_kinds",
        "DirectionEnum": "core.openapi.directions",
    },
}

# --- Domain settings --------------------------------------------------------------------------
BOOKING_WINDOW_DAYS = env.int("BOOKING_WINDOW_DAYS", default=30)

# --- Working through an outage (O1-O4, docs/offline.md) -----------------------------------------
# The Ed25519 keys that sign the checkpoints' manifests live in files here, never in the database
# (nothing in the admin or a database dump can sign a manifest). `rotate_manifest_key` makes and
# rotates them; `make run` makes the first. Every web process must read the same directory.
MANIFEST_KEY_DIR = env.str("MANIFEST_KEY_DIR", default=str(VAR_DIR / "manifest_keys"))
# The portal's public address, for links sent by SMS or Telegram.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
REGISTRAR_IBAN = env.str("REGISTRAR_IBAN", default="KZ86125KZT5004100100")
REGISTRAR_NAME = env.str("REGISTRAR_NAME", default='JSC "Information and Accounting Center"')
# Seconds an audit event may stay unsealed before verify_audit_chain reports it (A6).
AUDIT_UNSEALED_GRACE_SECONDS = env.int("AUDIT_UNSEALED_GRACE_SECONDS", default=60)
AUDIT_SEAL_BATCH_SIZE = env.int("AUDIT_SEAL_BATCH_SIZE", default=1000)
# The sealer every 5 s looks for unsealed events only this many ids below the newest sealed one
# (events whose transaction commits late); the hourly sweep looks through the events of this many
# hours (a transaction open longer than a day is not something the portal does); `seal_audit` and
# `verify_audit_chain --full` look through all of them.
AUDIT_SEAL_LOOKBACK_IDS = env.int("AUDIT_SEAL_LOOKBACK_IDS", default=2_000)
AUDIT_SWEEP_LOOKBACK_HOURS = env.int("AUDIT_SWEEP_LOOKBACK_HOURS", default=24)

# --- Passkeys (A2: a WebAuthn second factor, django-otp-webauthn) -------------------------------
# The relying party id is the portal's host name: a passkey works on that domain (and its
# subdomains) only, so changing it later orphans every passkey made before. WebAuthn takes a
# domain, never an IP address, and a secure origin (https://, or http://localhost): with the
# default SITE_URL (http://127.0.0.1:8000) passkeys work at http://localhost:8000.
_site = urlsplit(SITE_URL)


def _webauthn_host(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return "localhost"


_site_host = _webauthn_host(_site.hostname or "localhost")
_site_origin = f"{_site.scheme}://{_site_host}" + (f":{_site.port}" if _site.port else "")
WEBAUTHN_RP_ID = env.str("WEBAUTHN_RP_ID", default=_site_host)
WEBAUTHN_RP_NAME = env.str("WEBAUTHN_RP_NAME", default="Kezek")
# The origins the browser may run a ceremony on (clientDataJSON.origin must be one of them).
WEBAUTHN_ALLOWED_ORIGINS = env.list("WEBAUTHN_ALLOWED_ORIGINS", default=[_site_origin])
# django-otp-webauthn's own names (its system checks read them); auth2fa.services reads the
# WEBAUTHN_* settings above at each ceremony. A passkey is a second factor only: sign-in always
# starts with EDS or a password, and the package's own views (passkey alone) are not routed.
OTP_WEBAUTHN_RP_ID = WEBAUTHN_RP_ID
OTP_WEBAUTHN_RP_NAME = WEBAUTHN_RP_NAME
OTP_WEBAUTHN_ALLOWED_ORIGINS = WEBAUTHN_ALLOWED_ORIGINS
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_HELPER_CLASS = "auth2fa.services.PasskeyHelper"

# --- Outside services (later issues use them; defaults keep `make run` offline) ----------------
SMS_BACKEND = env.str("SMS_BACKEND", default="console")
# The console backend writes codes to the log; with DEBUG off it is refused at start-up unless
# this says the deployment is not a real one (the bench).
SMS_CONSOLE_ALLOWED = env.bool("SMS_CONSOLE_ALLOWED", default=False)
# A8: SMS that a person's typing sends to someone else's phone (invitations) go only to these
# calling codes: Kazakhstan and Russia (7), Kyrgyzstan (996), Uzbekistan (998), China (86) and
# Turkmenistan (993), the countries across our checkpoints (data/checkpoints.json).
SMS_ALLOWED_COUNTRY_CODES = env.list(
    "SMS_ALLOWED_COUNTRY_CODES", default=["7", "996", "998", "86", "993"]
)
# A8: invitation SMS in any 24 hours, counted from the invitations made: to one phone (whoever
# invites) and from one carrier.
INVITATION_SMS_PER_PHONE_PER_DAY = env.int("INVITATION_SMS_PER_PHONE_PER_DAY", default=3)
INVITATION_SMS_PER_CARRIER_PER_DAY = env.int("INVITATION_SMS_PER_CARRIER_PER_DAY", default=20)
# A3/A8: SMS to one phone, whatever sends them (codes, invitations, notices), in any hour and day.
SMS_PER_PHONE_PER_HOUR = env.int("SMS_PER_PHONE_PER_HOUR", default=5)
SMS_PER_PHONE_PER_DAY = env.int("SMS_PER_PHONE_PER_DAY", default=20)
# A8: driver-link SMS (Q5) one carrier may send in any 24 hours, all its bookings together.
DRIVER_LINK_SMS_PER_CARRIER_PER_DAY = env.int("DRIVER_LINK_SMS_PER_CARRIER_PER_DAY", default=300)
# A8: one SMS notice of a factor change per person and kind of change in this many minutes.
FACTOR_NOTICE_SMS_EVERY_MINUTES = env.int("FACTOR_NOTICE_SMS_EVERY_MINUTES", default=10)
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM = env.str("TWILIO_FROM", default="")
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="https://api.twilio.com")
TELEGRAM_BOT_TOKEN = env.str("TELEGRAM_BOT_TOKEN", default="")
TELEGRAM_API_BASE = env.str("TELEGRAM_API_BASE", default="https://api.telegram.org")
TELEGRAM_BOT_USERNAME = env.str("TELEGRAM_BOT_USERNAME", default="KezekBot")
# The webhook is POST /telegram/webhook/<secret>; register it with the same value as
# `secret_token` so Telegram also sends it in X-Telegram-Bot-Api-Secret-Token. Empty: webhook off.
TELEGRAM_WEBHOOK_SECRET = env.str("TELEGRAM_WEBHOOK_SECRET", default="")
EDS_TRUSTED_CA_FILE = env.str("EDS_TRUSTED_CA_FILE", default="")
# A7: a carrier is confirmed by an EDS carrying its BIN (IIN) before it can book; where no EDS is
# configured (make run, tests) registrations are confirmed at once.
CARRIERS_CONFIRMED_AT_ONCE = env.bool("CARRIERS_CONFIRMED_AT_ONCE", default=not EDS_TRUSTED_CA_FILE)

# --- Security -----------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # The preload directive only allows submitting the domain to the browsers' preload list;
    # set SECURE_HSTS_PRELOAD=0 for a domain that must never be on it.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    # The TLS proxy in front says https in X-Forwarded-Proto; plain http is redirected here too
    # unless the proxy already does it (SECURE_SSL_REDIRECT=0). /healthz answers on plain http
    # for the container's own health check.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content-Security-Policy (django-csp): scripts and styles from the portal's own origin only, no
# inline script or style, no plugins, no framing. tests/core/test_csp.py keeps inline scripts and
# handlers out of the templates and static JS. QR codes are SVG data: URIs (img-src data:);
# NCALayer, the EDS signer, listens on wss://127.0.0.1:13579 (static/js/eds-ncalayer.js).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'", "wss://127.0.0.1:13579"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Upload limits ------------------------------------------------------------------------------
# A bank statement file larger than this is refused before it is read (deposits.forms); the
# statement reader never takes more than 20 MiB whatever this says.
STATEMENT_MAX_BYTES = env.int("STATEMENT_MAX_BYTES", default=10 * 1024 * 1024)
# Request bodies other than files (forms, JSON) beyond this are refused with 400; uploaded files
# above FILE_UPLOAD_MAX_MEMORY_SIZE go to a temporary file instead of memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2621440)
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=2621440)

# --- Health -------------------------------------------------------------------------------------
# /healthz calls the worker stale when its heartbeat (a beat job every 30 s) is older than this.
HEALTHZ_WORKER_STALE_SECONDS = env.int("HEALTHZ_WORKER_STALE_SECONDS", default=180)

# --- Logs ---------------------------------------------------------------------------------------
# One JSON object a line in production (with request and task ids); plain text with DEBUG on
# (`make run`). core.log builds the configuration.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
