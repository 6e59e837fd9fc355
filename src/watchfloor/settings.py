"""Watchfloor settings: one module, configured only by the environment.

Every variable is listed, with its default, in the README's configuration table.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
import xstatic.pkg.leaflet
from django.core.exceptions import ImproperlyConfigured


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _load_or_create_secret_key(home: Path) -> str:
    """Keep a generated key in the home folder so sessions survive restarts."""
    path = home / "secret_key"
    if path.exists():
        return path.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


WATCHFLOOR_HOME = Path(os.environ.get("WATCHFLOOR_HOME", "").strip() or "var").resolve()
DEBUG = env_bool("WATCHFLOOR_DEBUG")
DEMO = env_bool("WATCHFLOOR_DEMO")
SECRET_KEY = os.environ.get("WATCHFLOOR_SECRET_KEY") or _load_or_create_secret_key(WATCHFLOOR_HOME)

ALLOWED_HOSTS = env_list("WATCHFLOOR_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("WATCHFLOOR_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "watchfloor.platform.admin_site.PlatformAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "drf_spectacular_sidecar",  # Swagger UI's files for the API docs page (no CDN)
    "channels",
    "axes",  # sign-in throttling (dashboard/signin_throttle.py)
    "watchfloor.tenancy",
    "watchfloor.access",
    "watchfloor.audit",
    "watchfloor.maintenance",
    "watchfloor.alerts",
    "watchfloor.oncall",
    "watchfloor.incidents",
    "watchfloor.operations",
    "watchfloor.jobs",
    "watchfloor.snapshots",
    "watchfloor.realtime",
    "watchfloor.platform",
    "watchfloor.reports",
    "watchfloor.demo",
    "watchfloor.dashboard",
    "watchfloor.api",
]

MIDDLEWARE = [
    "watchfloor.platform.metrics_middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "watchfloor.api.middleware.ApiErrorShapeMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "axes.middleware.AxesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "watchfloor.dashboard.middleware.PersonTimeZoneMiddleware",
    "watchfloor.audit.context.AuditContextMiddleware",
    # innermost, so a view's OperationalError reaches it: the database down is a 503, not a 500
    "watchfloor.platform.unavailable.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "watchfloor.urls"
ASGI_APPLICATION = "watchfloor.asgi.application"
WSGI_APPLICATION = "watchfloor.wsgi.application"
AUTH_USER_MODEL = "tenancy.User"
# --- sign-in throttling (django-axes; dashboard/signin_throttle.py, docs/operations.md) -----
# Failed sign-ins within the cool-off that lock an account (from any address) and an address
# (for any account), and the minutes a lock lasts after the last counted failure.
LOGIN_FAILURE_LIMIT = max(1, int(os.environ.get("WATCHFLOOR_LOGIN_FAILURE_LIMIT", "10")))
LOGIN_COOLOFF_MINUTES = max(1, int(os.environ.get("WATCHFLOOR_LOGIN_COOLOFF", "15")))
AUTHENTICATION_BACKENDS = [
    "watchfloor.dashboard.signin_throttle.SignInThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own: account OR address
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # a lock ends when the page said
AXES_DISABLE_ACCESS_LOG = True  # sign-ins are in the audit log already
AXES_LOCKOUT_CALLABLE = "watchfloor.dashboard.signin_throttle.lockout_response"
AXES_CLIENT_STR_CALLABLE = "watchfloor.dashboard.signin_throttle.client_str"
AXES_VERBOSE = False
AXES_HTTP_RESPONSE_CODE = 429

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "watchfloor.dashboard.context_processors.top_bar",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
_default_db_url = f"sqlite:///{WATCHFLOOR_HOME / 'watchfloor.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL") or _default_db_url)}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so two
    # writers queue on busy_timeout instead of failing with "database is locked" mid-transaction.
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
        "PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    _db.setdefault("TEST", {})["NAME"] = None  # in-memory test database
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # psycopg's pool instead of persistent connections: under ASGI, persistent connections
    # exhausted PostgreSQL's max_connections (DESIGN.md, performance facts).
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "pool": {
            "min_size": int(os.environ.get("WATCHFLOOR_DB_POOL_MIN", "1")),
            "max_size": int(os.environ.get("WATCHFLOOR_DB_POOL_MAX", "10")),
            # the longest a request waits for a connection: with the database down, requests
            # answer 503 after this (watchfloor.platform.unavailable), never hang
            "timeout": float(os.environ.get("WATCHFLOOR_DB_POOL_TIMEOUT", "10")),
        },
        # each connection attempt to a database that does not answer gives up after this
        "connect_timeout": int(os.environ.get("WATCHFLOOR_DB_CONNECT_TIMEOUT", "3")),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache and channel layer ----------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "watchfloor.platform.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "watchfloor",
            # a Redis that hangs instead of refusing holds a request at most this long; callers
            # on a request path degrade (watchfloor.degrade) and retry it every few seconds
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Each process follows the authorization generation (roles, permissions, tokens changed) by a
# Redis subscription instead of one cache read per request (access.authz_watch); "off" reads it
# per request (a Redis proxy without pub/sub).
AUTHZ_PUSH = os.environ.get("WATCHFLOOR_AUTHZ_PUSH", "on").lower() != "off"
# No Channels layer: live events reach WebSockets through realtime.hub (one Redis subscription
# per process), measured faster than a Channels group per tenant (docs/decisions.md).
CHANNEL_LAYERS: dict = {}

# --- alerts -------------------------------------------------------------------------------
# Where services send real-time events after commit (a dotted path to a Publisher class):
# Redis pub/sub when Redis is configured (every web node receives), else this process only.
WATCHFLOOR_PUBLISHER = os.environ.get("WATCHFLOOR_PUBLISHER") or (
    "watchfloor.realtime.hub.RedisPublisher"
    if REDIS_URL
    else "watchfloor.realtime.hub.LocalPublisher"
)
# Connections the real-time publisher may hold per process (it waits, never fails, past it).
REALTIME_REDIS_POOL = int(os.environ.get("WATCHFLOOR_REALTIME_REDIS_POOL", "20"))
# Live updates to one WebSocket are sent at most this often (ms), coalesced per alert.
REALTIME_FLUSH_MS = int(os.environ.get("WATCHFLOOR_REALTIME_FLUSH_MS", "250"))
# At most this many alerts per update; past it the page is told to resync what it shows.
REALTIME_MAX_ALERTS_PER_UPDATE = int(os.environ.get("WATCHFLOOR_REALTIME_MAX_ALERTS", "50"))
# permessage-deflate on WebSockets: it compresses each message once per connection (measured
# 1.4 ms for a 150 kB update: 1.4 s of CPU to send one to 1,000 browsers), so it is off unless
# the browsers sit behind a slow link.
WS_PER_MESSAGE_DEFLATE = env_bool("WATCHFLOOR_WS_DEFLATE")
# Messages a WebSocket client may send per minute before it is told so and disconnected.
REALTIME_RATE_LIMIT = int(os.environ.get("WATCHFLOOR_REALTIME_RATE_LIMIT", "100"))
# New alerts at one site within this many seconds of an open alert there share its group.
ALERT_CORRELATION_WINDOW = int(os.environ.get("WATCHFLOOR_CORRELATION_WINDOW", "600"))
# One alert type at this many sites of one client within the window is a storm: one group.
ALERT_STORM_SITES = int(os.environ.get("WATCHFLOOR_STORM_SITES", "3"))
# Called with an `alerts.hooks.AlertChanges` after every committed alert write (the apps above
# alerts react to them: incidents' rules); dotted paths, imported when called.
# what a one-click acknowledge link in a page about an incident calls (oncall cannot import
# incidents): (incident id, *, actor) -> False when it was no longer NEW
ACK_LINK_INCIDENT_HANDLER = "watchfloor.incidents.services.acknowledge_incident_from_link"
# an Exists() over an alert row (OuterRef("pk")): true when something else pages for the alert,
# so the escalation sweep opens no chain of its own for it (an open incident holds it)
ESCALATION_HOLDER = "watchfloor.incidents.paging.held_by_open_incident"
ALERT_CHANGE_HOOKS = env_list(
    "WATCHFLOOR_ALERT_CHANGE_HOOKS", "watchfloor.incidents.rules.on_alert_changes"
)
# A fold worker hands its folds' committed changes to those hooks merged: when it goes idle, or
# once the oldest is this old, or this many alert ids have collected (alerts.hooks.coalescing).
# 0 (the default) hands them over after every fold: measured faster on 2 cores (a storm's first
# pass with the rules on 0.80x of off at 0, 0.75x at 0.5 s; docs/decisions.md).
HOOK_COALESCE_SECONDS = float(os.environ.get("WATCHFLOOR_HOOK_COALESCE_SECONDS", "0"))
HOOK_COALESCE_IDS = int(os.environ.get("WATCHFLOOR_HOOK_COALESCE_IDS", "20000"))
# The incident rules' sweep (every 30 s) looks again at open alerts first seen within this many
# seconds that no incident holds (what a failed rules call left), at most this many a run.
INCIDENT_RULES_LOOKBACK = int(os.environ.get("WATCHFLOOR_INCIDENT_RULES_LOOKBACK", "3600"))
INCIDENT_RULES_SWEEP_BATCH = int(os.environ.get("WATCHFLOOR_INCIDENT_RULES_SWEEP_BATCH", "5000"))
# Past this many NEW alerts in a tenant, new INFO alerts are stored as SUPPRESSED.
ALERT_BACKPRESSURE_THRESHOLD = int(os.environ.get("WATCHFLOOR_BACKPRESSURE_THRESHOLD", "1000"))
# Seconds a tenant found at the threshold is taken as still there without counting again.
ALERT_BACKPRESSURE_RECHECK = float(os.environ.get("WATCHFLOOR_BACKPRESSURE_RECHECK", "1.0"))
# The longest a maintenance window may last, in days.
MAINTENANCE_MAX_DAYS = int(os.environ.get("WATCHFLOOR_MAINTENANCE_MAX_DAYS", "30"))
# Requests per minute per integration key and per API token (0: no limit); past it, 429 with
# Retry-After. The key's default is twice the 1,000 single alerts/s ingestion target, so an
# Alertmanager burst or a bench is never refused; a token's suits a program reading the API.
RATE_LIMITS = {
    "integration_key": int(os.environ.get("WATCHFLOOR_RATE_LIMIT_KEY", "120000")),
    "api_token": int(os.environ.get("WATCHFLOOR_RATE_LIMIT_TOKEN", "60000")),
    # client status pages (/status/<token>/), per client IP address
    "status_page": int(os.environ.get("WATCHFLOOR_RATE_LIMIT_STATUS_PAGE", "60")),
}
# At most this many events in one ingestion request.
ALERT_MAX_BATCH = int(os.environ.get("WATCHFLOOR_MAX_BATCH", "1000"))
# At most this many records in one operations feed request (tickets, devices, …).
OPERATIONS_MAX_BATCH = int(os.environ.get("WATCHFLOOR_OPERATIONS_MAX_BATCH", "1000"))
# Called as `hook(kind, tenant_id, ids)` after every committed feed upsert that created or changed
# records (kind: "ticket", "work_order", "device", "attendance", "geofence_event"), so the
# feed rules react at once instead of at their next sweep; dotted paths, imported when called.
OPERATIONS_CHANGE_HOOKS = env_list(
    "WATCHFLOOR_OPERATIONS_CHANGE_HOOKS", "watchfloor.operations.rules.on_records_changed"
)
# The feed rules' job judges only what can have changed since its last run; every this many hours
# (per tenant) it judges everything again instead (records deleted under an alert); 0: never.
OPERATIONS_RULES_FULL_PASS_HOURS = float(
    os.environ.get("WATCHFLOOR_OPERATIONS_RULES_FULL_PASS_HOURS", "24")
)
# Staging (alerts.staging): an ingestion request is answered once its batch is durable in the
# staging table; fold workers drain it. Past either bound ingestion answers 503 + Retry-After.
ALERT_STAGING_MAX_LAG = float(os.environ.get("WATCHFLOOR_STAGING_MAX_LAG", "30"))
ALERT_STAGING_MAX_EVENTS = int(os.environ.get("WATCHFLOOR_STAGING_MAX_EVENTS", "200000"))
# Flow control below those bounds: while the fold is more than HOLD_LAG seconds behind, an
# ingestion request waits (at most HOLD_SECONDS, then 503) before it is read and staged.
ALERT_STAGING_HOLD_LAG = float(os.environ.get("WATCHFLOOR_STAGING_HOLD_LAG", "0.25"))
ALERT_STAGING_HOLD_SECONDS = float(os.environ.get("WATCHFLOOR_STAGING_HOLD_SECONDS", "5"))
# A fold looks at the oldest this many pending batches (every tenant's) and takes one tenant's among
# them, at most ALERT_FOLD_MAX_EVENTS events (group commit's upper bound).
ALERT_FOLD_MAX_BATCHES = int(os.environ.get("WATCHFLOOR_FOLD_MAX_BATCHES", "500"))
ALERT_FOLD_MAX_EVENTS = int(os.environ.get("WATCHFLOOR_FOLD_MAX_EVENTS", "5000"))
# A fold worker sleeps at most this long when nothing woke it (batches staged by another process
# on SQLite; a lost NOTIFY on PostgreSQL).
ALERT_FOLD_POLL = float(os.environ.get("WATCHFLOOR_FOLD_POLL", "0.1"))
# After a fold of fewer than GATHER_BELOW events that took everything pending, a fold worker
# waits GATHER seconds before its next fold, so a stream of small batches is folded in fewer,
# larger folds (alerts.staging.gathers_after; 0 turns it off).
ALERT_FOLD_GATHER = float(os.environ.get("WATCHFLOOR_FOLD_GATHER", "0.02"))
ALERT_FOLD_GATHER_BELOW = int(os.environ.get("WATCHFLOOR_FOLD_GATHER_BELOW", "100"))
# A web process starts its own fold worker on its first staged batch.
ALERT_FOLD_IN_PROCESS = env_bool("WATCHFLOOR_FOLD_IN_PROCESS", True)
# The split server (`serve` with Redis) folds in a process of its own (`watchfloor pipeline`,
# started and watched by `serve`) instead of in its WebSocket process; off: the WebSocket
# process folds (docs/decisions.md, 2026-12-07).
ALERT_FOLD_PROCESS = env_bool("WATCHFLOOR_FOLD_PROCESS", True)
# The split server's other processes keep their fold workers on standby: they fold only while the
# oldest pending batch is older than this (the process that folds is gone or behind).
ALERT_FOLD_STANDBY_LAG = float(os.environ.get("WATCHFLOOR_FOLD_STANDBY_LAG", "0.5"))
# Concurrent ingestion requests of one process stage their batches in one multi-row INSERT and
# one commit (alerts.staging.GroupWriter); each is answered after that commit.
ALERT_STAGE_GROUP_COMMIT = env_bool("WATCHFLOOR_STAGE_GROUP_COMMIT", True)


def parse_escalation_delays(text: str) -> dict[str, int]:
    """ "CRITICAL=15,HIGH=30" → {"CRITICAL": 15, "HIGH": 30} (minutes); a severity left out never
    escalates. A typo stops the start-up with a message naming the variable."""
    severities = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO")
    delays: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, minutes = item.partition("=")
        name = name.strip().upper()
        if not sep or name not in severities or not minutes.strip().isdigit():
            raise ImproperlyConfigured(
                f"WATCHFLOOR_ESCALATION_DELAYS: {item!r} is not SEVERITY=MINUTES "
                f"(severities: {', '.join(severities)})"
            )
        delays[name] = int(minutes)
    return delays


# Minutes an alert may stay unacknowledged (status NEW) before it escalates, per severity.
ALERT_ESCALATION_DELAYS = parse_escalation_delays(
    os.environ.get("WATCHFLOOR_ESCALATION_DELAYS", "CRITICAL=15,HIGH=30,MEDIUM=60,LOW=120")
)
# The overview's answers (tiles, map, feed) are shared by the users of one scope and filters for
# at most this many seconds (0: computed for every request); anything created, acknowledged,
# assigned, escalated or resolved in the tenant renews them at once. Keep it below the page's
# 1.5 s re-read after a change.
OVERVIEW_CACHE_SECONDS = float(os.environ.get("WATCHFLOOR_OVERVIEW_CACHE_SECONDS", "1"))
# The overview's per-tenant summary of active alerts (alerts.overview_queries.tenant_summary)
# is renewed at once by the watermark, else after this many seconds (at least
# OVERVIEW_CACHE_SECONDS): what only it catches late is an escalation delay passing (the overdue
# tile) and a status change the watermark does not see (a suppressed alert reopening).
OVERVIEW_SUMMARY_SECONDS = float(os.environ.get("WATCHFLOOR_OVERVIEW_SUMMARY_SECONDS", "5"))

# --- celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TIMEZONE = "UTC"

# --- jobs (watchfloor.jobs) -------------------------------------------------------------------
# Where background tasks run: "celery" (workers and beat over Redis: `watchfloor worker`,
# `watchfloor beat`) or "embedded" (a scheduler thread inside `watchfloor serve` / `demo`).
JOBS_BACKEND = (os.environ.get("WATCHFLOOR_JOBS_BACKEND", "").strip().lower()) or (
    "celery" if REDIS_URL else "embedded"
)
if JOBS_BACKEND not in {"celery", "embedded"}:
    raise ImproperlyConfigured("WATCHFLOOR_JOBS_BACKEND: must be `celery` or `embedded`")
if JOBS_BACKEND == "celery" and not REDIS_URL:
    raise ImproperlyConfigured("WATCHFLOOR_JOBS_BACKEND=celery needs REDIS_URL (the broker)")
# Job runs (the jobs page's history) older than this many days are deleted daily.
JOBS_RUN_RETENTION_DAYS = int(os.environ.get("WATCHFLOOR_JOBS_RUN_RETENTION_DAYS", "14"))
# Retention of the platform's own rows (a tenant's rows follow its policy: snapshots app):
# audit entries without a tenant (sign-ins of platform operators, platform configuration) and
# the sign-in throttling records of django-axes.
AUDIT_PLATFORM_RETENTION_DAYS = int(
    os.environ.get("WATCHFLOOR_AUDIT_PLATFORM_RETENTION_DAYS", "730")
)
SIGNIN_RECORD_RETENTION_DAYS = int(os.environ.get("WATCHFLOOR_SIGNIN_RECORD_RETENTION_DAYS", "30"))
# How hard the daily retention job pushes (snapshots/retention.py): the share of its wall time
# spent deleting (0 < duty <= 1; after a batch that took t seconds it pauses t*(1-duty)/duty),
# and on PostgreSQL each batch's lock and statement timeouts in ms (a batch that would wait
# longer gives up; the next run retries it).
RETENTION_DUTY = float(os.environ.get("WATCHFLOOR_RETENTION_DUTY", "0.2"))
if not 0 < RETENTION_DUTY <= 1:
    raise ImproperlyConfigured("WATCHFLOOR_RETENTION_DUTY: a share of time, 0 < duty <= 1")
RETENTION_LOCK_TIMEOUT_MS = int(os.environ.get("WATCHFLOOR_RETENTION_LOCK_TIMEOUT_MS", "500"))
RETENTION_STATEMENT_TIMEOUT_MS = int(
    os.environ.get("WATCHFLOOR_RETENTION_STATEMENT_TIMEOUT_MS", "10000")
)
# The table of periodic jobs (a dotted path to a sequence of jobs.schedule.PeriodicJob); tests
# swap in their own.
JOBS_SCHEDULE = (
    os.environ.get("WATCHFLOOR_JOBS_SCHEDULE", "").strip() or "watchfloor.jobs.schedule.SCHEDULE"
)
# The Celery queue of this installation (two installations may share one Redis database).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("WATCHFLOOR_CELERY_QUEUE", "").strip() or "watchfloor"

# --- security -------------------------------------------------------------------------------
SECURE_COOKIES = env_bool("WATCHFLOOR_SECURE_COOKIES", default=not (DEBUG or DEMO))
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if SECURE_COOKIES:
    SECURE_HSTS_SECONDS = int(os.environ.get("WATCHFLOOR_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("WATCHFLOOR_HSTS_PRELOAD")
# Usually the TLS proxy redirects http to https; this makes Django do it. The health check stays
# reachable over plain http for load balancers that probe the node directly.
SECURE_SSL_REDIRECT = env_bool("WATCHFLOOR_SSL_REDIRECT")
SECURE_REDIRECT_EXEMPT = [r"^api/health/(live|ready)?$", r"^metrics$"]

# WATCHFLOOR_METRICS=off: no request metrics middleware, no multiprocess metric files, /metrics
# answers 404 (the switch bench/ingest.py uses to measure what metrics cost; on by default)
METRICS_ENABLED = os.environ.get("WATCHFLOOR_METRICS", "on").strip().lower() not in {
    "off",
    "0",
    "false",
    "no",
}
if not METRICS_ENABLED:
    MIDDLEWARE.remove("watchfloor.platform.metrics_middleware.RequestMetricsMiddleware")

# /metrics (Prometheus): the scraper's address must be in the allow-list (CIDRs, comma-separated),
# and it must send `Authorization: Bearer <token>` when a token is set (docs/operations.md).
METRICS_TOKEN = os.environ.get("WATCHFLOOR_METRICS_TOKEN", "").strip()
METRICS_ALLOW = [
    part.strip()
    for part in os.environ.get("WATCHFLOOR_METRICS_ALLOW", "127.0.0.1/32,::1/128").split(",")
    if part.strip()
]
for _entry in METRICS_ALLOW:
    try:
        ipaddress.ip_network(_entry, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            f"WATCHFLOOR_METRICS_ALLOW: {_entry!r} is not an address or CIDR network"
        ) from _exc
# HSTS preload is an opt-in a site owner makes (WATCHFLOOR_HSTS_PRELOAD): not a warning.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
if env_bool("WATCHFLOOR_BEHIND_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
DATA_UPLOAD_MAX_MEMORY_SIZE = int(
    os.environ.get("WATCHFLOOR_MAX_BODY_BYTES", str(10 * 1024 * 1024))
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- i18n, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = WATCHFLOOR_HOME / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing
# Serve straight from the installed packages: `pip install` is the whole install.
STATICFILES_DIRS = [("leaflet", xstatic.pkg.leaflet.BASE_DIR)]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- logging: no secrets or PII; request bodies are never logged ------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("WATCHFLOOR_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Watchfloor -----------------------------------------------------------------------------
# Map tiles of the overview ({z}/{x}/{y} URL template); empty: sites on a plain background.
# Without a reachable tile server the map still shows every site.
MAP_TILE_URL = os.environ.get(
    "WATCHFLOOR_MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
).strip()
MAP_TILE_ATTRIBUTION = os.environ.get(
    "WATCHFLOOR_MAP_TILE_ATTRIBUTION", "© OpenStreetMap contributors"
)
API_PAGE_SIZE = 50
API_MAX_PAGE_SIZE = 500

# --- notifications (oncall: contact methods, deliveries, acknowledge links) ------------------
# The address people reach Watchfloor at: links in notifications (alert, acknowledge) use it.
PUBLIC_URL = os.environ.get("WATCHFLOOR_PUBLIC_URL", "http://127.0.0.1:8000").strip().rstrip("/")
# The one SMTP relay email goes through: smtp://host:25, smtp+starttls://user:pass@host:587 or
# smtps://user:pass@host:465 (empty: email contact methods cannot be reached).
SMTP_URL = os.environ.get("WATCHFLOOR_SMTP_URL", "").strip()
EMAIL_FROM = os.environ.get("WATCHFLOOR_EMAIL_FROM", "watchfloor@localhost").strip()
# Seconds any one send (SMTP, webhook, chat service) may take before it counts as failed.
NOTIFY_TIMEOUT = float(os.environ.get("WATCHFLOOR_NOTIFY_TIMEOUT", "10"))
# Attempts per delivery before it is FAILED (retried after 30 s, 1, 2, 5, 10 min, then 10 min).
NOTIFY_MAX_ATTEMPTS = int(os.environ.get("WATCHFLOOR_NOTIFY_MAX_ATTEMPTS", "5"))
# Circuit breakers (watchfloor.circuit): consecutive failures that open a circuit (per
# notification destination, broadcasting, aggregation), and the seconds it stays open before
# one trial call may go through.
CIRCUIT_FAILURES = max(1, int(os.environ.get("WATCHFLOOR_CIRCUIT_FAILURES", "5")))
CIRCUIT_COOLDOWN = max(1.0, float(os.environ.get("WATCHFLOOR_CIRCUIT_COOLDOWN", "60")))
# Hours a one-click acknowledge link stays valid.
ACK_LINK_HOURS = int(os.environ.get("WATCHFLOOR_ACK_LINK_HOURS", "24"))
