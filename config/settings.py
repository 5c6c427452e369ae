"""The one settings module. Every value a deployment may change is read from the
environment here, with a default that runs on a bare machine; `.env.example`
lists them all with a line on each."""

import json
import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .dotenv import development_secret_key, dotenv_load

BASE_DIR = Path(__file__).resolve().parent.parent
# The development .env that `make run` writes (config/dotenv.py); the environment
# wins over it. ENV_FILE= (empty) reads none, as the test settings do.
ENV_FILE = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE:
    dotenv_load(Path(ENV_FILE))
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = env(name)
    try:
        return int(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from exc


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (see .env.example), "
            "or set DEBUG=true for local development."
        )
    # Random, made on the first run and kept in var/secret-key: never a public string.
    SECRET_KEY = development_secret_key(VAR_DIR)

# The key of the suppression list's hashes (subscribers/suppression.py, email_hash).
# NEVER rotate it: the list keeps only keyed hashes of addresses, so a new key makes
# every bounced, complained and erased address mailable again. It is separate from
# SECRET_KEY so that rotating SECRET_KEY (routine after a leak) keeps the list.
SUPPRESSION_HASH_KEY = env("SUPPRESSION_HASH_KEY")
if not SUPPRESSION_HASH_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SUPPRESSION_HASH_KEY is not set. Set it once and never change it (see "
            ".env.example). A deployment that already has a suppression list sets it to "
            "the SECRET_KEY the list was built with, which keeps every row valid."
        )
    # Development: a fixed key (the development SECRET_KEY's value, whatever
    # SECRET_KEY is set to), so a local database's list survives a SECRET_KEY change.
    SUPPRESSION_HASH_KEY = "insecure-development-key-only-used-with-DEBUG-on-never-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"
# The port `make run` serves on; SITE_URL follows it unless set.
PORT = env_int("PORT", 8000)
SITE_URL = env("SITE_URL", f"http://localhost:{PORT}").rstrip("/")
ADMIN_URL = env("ADMIN_URL", "admin/").strip("/") + "/"

INSTALLED_APPS = [
    # django.contrib.admin with the site that asks editors for a one-time code
    # (config/two_factor.py).
    "config.apps.DigestAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "anymail",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "newsletter",
    "subscribers",
    "config.apps.SiteConfig",
]

MIDDLEWARE = [
    # Outermost: stores public pages as the whole stack sent them (security headers
    # included) and serves them before anything else runs (newsletter/page_cache.py).
    "newsletter.page_cache.PublicPageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): signed in with a one-time code as well.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
    # Plain-text email parts and subjects (*.txt): the same templates, no HTML
    # escaping (mail/rendering.py picks it with using="text").
    {
        "NAME": "text",
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"autoescape": False},
    },
]

# --- Database: PostgreSQL in production, a SQLite file under var/ by default.
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # A process stopped inside a transaction (a frozen worker, a paused VM) keeps its
    # row locks: the sweep passes over locked rows (SKIP LOCKED), and PostgreSQL ends
    # such a session after this long, so its rows come back to the sweep.
    # JIT compilation off: PostgreSQL compiles a query whose cost estimate passes
    # jit_above_cost (100,000), which this service's reads of a large ledger do,
    # and they run in milliseconds to tenths of a second, where compiling costs
    # more than it saves: at 8.4 million deliveries the dispatcher's catch-up took
    # 229-321 ms with it and 71-80 ms without, the deliveries by carried paper's
    # count 305-320 ms against 204-212 ms (docs/benchmarks.md, "JIT off").
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = " ".join(filter(None, [
        _options.get("options", ""),
        f"-c idle_in_transaction_session_timeout={env_int('DB_IDLE_IN_TRANSACTION_SECONDS', 120) * 1000}",
        "-c jit=off",
    ]))
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # `make run`'s web server, worker threads and beat write one file at once. In
    # SQLite's default deferred mode two transactions that read and then write
    # deadlock, and one fails at once with "database is locked" (a 500 on the
    # subscribe form): IMMEDIATE takes the write lock at BEGIN, so writers wait
    # their turn (up to `timeout` seconds); WAL lets readers go on meanwhile.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, cache (rate limits) and locks. `make run` starts an embedded
# server on this port under var/ when nothing else is configured.
EMBEDDED_REDIS_PORT = env_int("EMBEDDED_REDIS_PORT", 6380)
REDIS_URL = env("REDIS_URL", f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0")
CACHES = {
    "default": {
        # Django's, reusing its redis-py client (config/cache.py).
        "BACKEND": "config.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", "digest"),
    }
}

# --- Celery (config/celery.py reads every CELERY_* name).
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# No result backend, so no results to expire: with Celery's default (a day) beat adds
# a schedule of its own at its start, "celery.backend_cleanup" at 04:00, which cleans
# nothing here and sat among the editors' periodic tasks with no description
# (newsletter/schedules.py deletes the one an earlier release's beat made).
CELERY_RESULT_EXPIRES = None
CELERY_TIMEZONE = env("TIME_ZONE", "UTC")
# A task that runs longer than this is killed; the soft limit lets it clean up.
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
# Late acknowledgement: a task is acknowledged after it ran, so a worker killed
# mid-batch leaves the message to be redelivered (the delivery ledger makes the
# rerun send nothing twice). Redis redelivers an unacknowledged message after the
# visibility timeout, which must be longer than the longest task plus its longest
# countdown, or a task still running would be handed to a second worker.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 6}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Email. Default: the local outbox (listed at /outbox/). Production: any
# anymail ESP, e.g. EMAIL_BACKEND=anymail.backends.postmark.EmailBackend with
# ANYMAIL='{"POSTMARK_SERVER_TOKEN": "..."}'.
EMAIL_BACKEND = env("EMAIL_BACKEND", "newsletter.outbox.OutboxEmailBackend")
try:
    # Unset or empty (docker-compose passes "" when .env has none) is no options.
    ANYMAIL = json.loads(env("ANYMAIL") or "{}")
except json.JSONDecodeError as exc:
    raise ImproperlyConfigured(f"ANYMAIL must be a JSON object: {exc}") from exc
if env("WEBHOOK_SECRET"):
    ANYMAIL["WEBHOOK_SECRET"] = env("WEBHOOK_SECRET")
# The ESP an anymail EMAIL_BACKEND sends through (postmark for
# anymail.backends.postmark.EmailBackend); empty for any other backend.
_ANYMAIL_BACKENDS = "anymail.backends."
EMAIL_BACKEND_ESP = (EMAIL_BACKEND.removeprefix(_ANYMAIL_BACKENDS).split(".")[0]
                     if EMAIL_BACKEND.startswith(_ANYMAIL_BACKENDS) else "")
# The ESP whose tracking webhook is routed, at /anymail/<WEBHOOK_ESP>/tracking/
# (newsletter/webhook_views.py); every other /anymail/ URL is a 404. Default: the
# sending one (config/checks.py refuses another next to an anymail EMAIL_BACKEND).
WEBHOOK_ESP = env("WEBHOOK_ESP", EMAIL_BACKEND_ESP)
# Only for EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend (docker-compose's Mailpit).
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Daily Papers Digest <digest@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The ESP's limits, shared by every worker through Redis (newsletter/esp.py).
# Postmark, the ESP this project is set up for, publishes no numeric per-second
# limit for its Email API: it answers 429 to a sender that goes too fast (and takes
# at most 500 messages per batch call). The default stays above what the default
# deployment sends (~500 digests/s with two workers, docs/benchmarks.md) so it only
# binds after a 429 halves it; set the figure your ESP account has (Amazon SES shows
# "maximum send rate", SendGrid and Mailgun publish theirs). 0 = no rate.
ESP_MAX_PER_SECOND = env_int("ESP_MAX_PER_SECOND", 600)
# Provider calls in flight at once across all workers (0 = no cap), and per worker
# process: the latency of each call (50-300 ms) is hidden by having many at once.
ESP_MAX_IN_FLIGHT = env_int("ESP_MAX_IN_FLIGHT", 128)
ESP_SEND_THREADS = env_int("ESP_SEND_THREADS", 32)
# CAN-SPAM: every newsletter email carries the sender's postal address.
POSTAL_ADDRESS = env("POSTAL_ADDRESS", "Daily Papers Digest, 1 Example Street, 00000 Example City")

# --- Hugging Face Daily Papers API.
HF_DAILY_PAPERS_URL = env("HF_DAILY_PAPERS_URL", "https://huggingface.co/api/daily_papers")
HF_TIMEOUT_SECONDS = float(env("HF_TIMEOUT_SECONDS", "20"))

# --- Internationalisation.
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Every time shown with its zone (config/formats/en/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]

# --- Static files, served by whitenoise.
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Security. Production defaults are strict; DEBUG relaxes only what a local
# http:// server cannot do.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
# Over https the cookies carry the __Host- prefix: a browser keeps them only when set
# Secure, for the whole site (Path=/) and by this host alone (no Domain), so a
# sibling subdomain cannot plant a session or CSRF cookie. A local http:// server
# cannot set Secure cookies, so development keeps Django's names.
if SESSION_COOKIE_SECURE:
    SESSION_COOKIE_NAME = "__Host-sessionid"
if CSRF_COOKIE_SECURE:
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Reverse proxies in front of the app (docker-compose.yml: Caddy, so 1). Each appends
# the address it received from to X-Forwarded-For; the client IP is the entry this
# many places from the right (subscribers/throttling.py, client_ip). 0, the default,
# trusts no header and takes only the socket's address: with nothing in front, every
# X-Forwarded-* header is written by the visitor. config/checks.py refuses settings
# that contradict each other.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
# The proxy terminates TLS and says so in X-Forwarded-Proto; trusted only when a
# proxy is configured (by default exactly when TRUSTED_PROXY_COUNT is above 0).
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", TRUSTED_PROXY_COUNT > 0)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# A signed value as the readers' links carry it (django.core.signing: base64 parts
# joined by ":", the signature 43 characters): a manage link acts as the reader.
_SIGNED_VALUE = re.compile(r"[\w.-]{20,}(?::[\w-]+)*:[\w-]{20,}", re.ASCII)


def _signed_links_hidden(record) -> bool:
    """A log record with every signed value in its message written "[signed link]"."""
    message = record.getMessage()
    hidden = _SIGNED_VALUE.sub("[signed link]", message)
    if hidden != message:
        record.msg, record.args = hidden, ()
    return True


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # Django logs every 4xx response; a flood of 429s would be a line each. The rate
    # limiter logs the first refusal per client and window instead
    # (subscribers/throttling.py, rate_limit_exceeded).
    # /health/'s 503s likewise: a probe every few seconds during an outage was an ERROR
    # line each; newsletter/health.py logs what failed, once a minute per check.
    "filters": {
        "no_429": {
            "()": "django.utils.log.CallbackFilter",
            "callback": lambda record: getattr(record, "status_code", None) != 429,
        },
        "no_health_probe": {
            "()": "django.utils.log.CallbackFilter",
            "callback": lambda record: getattr(getattr(record, "request", None), "path", "") != "/health/",
        },
        # Django logs each 4xx response's path ("Bad Request: /manage/<token>/": a
        # reader's form sent back with an error); a reader's signed link is not logged.
        "no_signed_links": {"()": "django.utils.log.CallbackFilter", "callback": _signed_links_hidden},
        # Celery's lines about the tasks beat runs every 20 s or minute, at DEBUG
        # (config/celery.py, QUIET_TASKS).
        "quiet_task_lines": {"()": "config.celery.QuietTaskLines"},
        # A request for a host not in ALLOWED_HOSTS (a load balancer probing by IP, a
        # scanner) is one line, not a traceback each.
        "no_traceback": {
            "()": "django.utils.log.CallbackFilter",
            "callback": lambda record: setattr(record, "exc_info", None) or setattr(record, "exc_text", None) or True,
        },
    },
    "loggers": {
        "django.request": {"filters": ["no_429", "no_health_probe", "no_signed_links"]},
        "django.security.DisallowedHost": {"filters": ["no_traceback"]},
        # A query of more fields, or a form post larger, than the site reads: anyone
        # could fill the log with their tracebacks (some 40 lines each); one line.
        "django.security.TooManyFieldsSent": {"filters": ["no_traceback"]},
        "django.security.TooManyFilesSent": {"filters": ["no_traceback"]},
        "django.security.RequestDataTooBig": {"filters": ["no_traceback"]},
        "celery.worker.strategy": {"filters": ["quiet_task_lines"]},
        "celery.app.trace": {"filters": ["quiet_task_lines"]},
        "celery.beat": {"filters": ["quiet_task_lines"]},
    },
}

# --- Public pages (newsletter/page_cache.py): sent with Cache-Control public, this
# max-age, to browsers and CDNs (they revalidate with the ETag after it), and kept
# rendered in the cache this long; an editor's change invalidates them at once.
PUBLIC_PAGE_MAX_AGE = env_int("PUBLIC_PAGE_MAX_AGE", 60)
PUBLIC_PAGE_CACHE_SECONDS = env_int("PUBLIC_PAGE_CACHE_SECONDS", 3600)

# --- Subscriber abuse protection (subscribers/throttling.py, subscribers/services.py).
# Counters live in the Redis cache. Submissions of the subscribe form are limited per
# client IP and per address within a fixed window; over a limit the visitor gets a
# friendly page with status 429.
SUBSCRIBE_RATE_WINDOW_SECONDS = env_int("SUBSCRIBE_RATE_WINDOW_SECONDS", 600)
SUBSCRIBE_RATE_LIMIT_PER_IP = env_int("SUBSCRIBE_RATE_LIMIT_PER_IP", 20)
SUBSCRIBE_RATE_LIMIT_PER_ADDRESS = env_int("SUBSCRIBE_RATE_LIMIT_PER_ADDRESS", 5)
SUBSCRIBE_EMAILS_PER_MAILBOX = env_int("SUBSCRIBE_EMAILS_PER_MAILBOX", 3)
# And at most this many a day: within the limits of each window, one client could
# send a mailbox three emails every ten minutes for ever (432 a day).
SUBSCRIBE_EMAILS_PER_MAILBOX_DAY = env_int("SUBSCRIBE_EMAILS_PER_MAILBOX_DAY", 10)
# Goodbye emails a reader gets in a day (their unsubscribe link, then Resubscribe,
# then unsubscribe again: an email each time, to whoever holds their link's wish).
GOODBYE_EMAILS_PER_READER_DAY = env_int("GOODBYE_EMAILS_PER_READER_DAY", 3)
# At most one confirmation / "already subscribed" email per address in this window.
SUBSCRIBE_EMAIL_WINDOW_SECONDS = env_int("SUBSCRIBE_EMAIL_WINDOW_SECONDS", 600)
# Where a paper's picture may come from (newsletter/models.py, thumbnail_url_allowed):
# Hugging Face's thumbnails. This site fetches them and serves its own copies
# (newsletter/pictures.py), kept in PICTURE_DIR: a cache that may be emptied at any
# time, shared by the processes that see the same folder (docker-compose.yml gives
# every web replica one volume).
THUMBNAIL_HOSTS = [host.lower() for host in env_list("THUMBNAIL_HOSTS", "cdn-thumbnails.huggingface.co")]
PICTURE_DIR = Path(env("PICTURE_DIR", str(VAR_DIR / "pictures")))
# Confirmation emails an editor (not a superuser) may send to new addresses a day:
# imports, readers added by hand, resends (subscribers/curation.py).
EDITOR_CONFIRMATIONS_PER_DAY = env_int("EDITOR_CONFIRMATIONS_PER_DAY", 500)

# How long what is kept (docs/data-retention.md), applied every day by beat and by
# `manage.py retention_apply` (newsletter/retention.py); 0 keeps it for ever.
# A reader who unsubscribed (or was suppressed) is erased this many days after (below 0: digest.E012).
UNSUBSCRIBED_KEPT_DAYS = env_int("UNSUBSCRIBED_KEPT_DAYS", 30)
# The delivery ledger and the ESP's events: an edition's rows this many days after
# its date (its figures stay); at least retention.ledger_kept_min_days() (digest.E011).
LEDGER_KEPT_DAYS = env_int("LEDGER_KEPT_DAYS", 60)

# --- Reliability and security: config/middleware.py, newsletter/health.py.
# Content-Security-Policy of every page (Django 5.2 has no CSP of its own). Pages load
# scripts only from this site: no inline script, eval or framing. Inline styles are
# allowed: the email previews (admin, outbox) are srcdoc frames that inherit this
# policy, and email HTML is styled inline by necessity; a style cannot run code.
# Paper pictures are this site's copies (newsletter/pictures.py): no image from
# another host.
CONTENT_SECURITY_POLICY = env(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    f"img-src 'self' data: {SITE_URL}; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "config.middleware.SecurityHeadersMiddleware")
MIDDLEWARE.append("config.middleware.AdminLoginRateLimitMiddleware")
# Nothing public takes more than a form: bigger bodies get 400. The ESP webhook reads up to
# its own WEBHOOK_BODY_MAX once the credentials are right (newsletter/webhook_views.py).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 512 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
# No page script reads the CSRF cookie (forms carry the token in a hidden field).
CSRF_COOKIE_HTTPONLY = True
# Failed admin sign-ins per (username, client IP) and per client IP within the
# window, then 429 for every attempt, right password or not, until the window ends
# (config/middleware.py); successful sign-ins are not counted. Per IP it is higher:
# one office may share an address.
# Editors sign in with a password and a one-time code (config/two_factor.py): on
# unless DEBUG, where `make run`'s printed login opens the admin alone.
ADMIN_TWO_FACTOR = env_bool("ADMIN_TWO_FACTOR", not DEBUG)
# The name authenticator apps show beside the account.
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", "Daily Papers Digest")
ADMIN_LOGIN_RATE_LIMIT = env_int("ADMIN_LOGIN_RATE_LIMIT", 10)
ADMIN_LOGIN_RATE_LIMIT_PER_IP = env_int("ADMIN_LOGIN_RATE_LIMIT_PER_IP", 30)
ADMIN_LOGIN_RATE_WINDOW_SECONDS = env_int("ADMIN_LOGIN_RATE_WINDOW_SECONDS", 15 * 60)
# Only editors and administrators have sessions (readers act by signed links), and
# their accounts read every reader's address: a sign-in lasts a working day, not
# Django's two weeks. Counted from the sign-in (SESSION_SAVE_EVERY_REQUEST off).
SESSION_COOKIE_AGE = env_int("SESSION_HOURS", 12) * 3600
# /health/ fails when beat has not run the dispatcher (every 15 minutes) for this long.
HEALTH_BEAT_MAX_AGE_SECONDS = env_int("HEALTH_BEAT_MAX_AGE_SECONDS", 45 * 60)
# How long each process keeps /health/'s answer (newsletter/health.py).
HEALTH_ANSWER_SECONDS = env_int("HEALTH_ANSWER_SECONDS", 2)
# A load balancer may probe /health/ over plain HTTP. A mail client's one-click
# unsubscribe (RFC 8058) is a POST that follows no redirect: it is answered wherever
# it lands, so a misconfigured http link still unsubscribes (config/checks.py refuses
# an http SITE_URL in production anyway).
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^unsubscribe/[^/]+/$"]
