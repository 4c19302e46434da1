"""Orion settings: everything is read here, from the environment, with embedded defaults.

With no variables set, Orion runs on SQLite, the in-memory channel layer, an in-process
cache and in-process tasks. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL,
channels-redis, the Redis cache and real Celery workers. See ``.env.example``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF
from django.core.exceptions import ImproperlyConfigured

from project.env import (
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    # Local runs only: never used once DEBUG is off (checked above).
    SECRET_KEY = "django-insecure-local-development-only-key-change-me-0123456789"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# HTTPS: on behind a TLS-terminating proxy in production (see README, "Running for real").
SECURE = env_bool("DJANGO_SECURE", False)
if SECURE:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts, styles, images and connections (the
# page's own WebSocket included: 'self' covers ws: and wss: on the same host) from this
# site only; no inline script or style, no eval, no framing, forms post here only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [CSP_SELF],
        "script-src": [CSP_SELF],
        "style-src": [CSP_SELF],
        "img-src": [CSP_SELF, "data:"],
        "connect-src": [CSP_SELF],
        "font-src": [CSP_SELF],
        "object-src": [CSP_NONE],
        "base-uri": [CSP_NONE],
        "form-action": [CSP_SELF],
        "frame-ancestors": [CSP_NONE],
    }
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "django_ratelimit",
    "axes",
    "csp",
    "chat",
    "agents",
    "analytics",
    "project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "project.middleware.PrivatePagesMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"
WSGI_APPLICATION = None

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
                "chat.context_processors.orion",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
# WAL lets readers run while a reply is being written; IMMEDIATE avoids "database is
# locked" upgrades when two threads write at once (each waits its turn, up to the timeout).
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
if DATABASE_URL:
    _db = database_from_url(DATABASE_URL)
    if _db["ENGINE"] == "django.db.backends.sqlite3":
        _db["CONN_MAX_AGE"] = None
        _db["OPTIONS"] = SQLITE_OPTIONS
    if _db["ENGINE"] == "django.db.backends.postgresql":
        _db["OPTIONS"] = {
            "pool": {
                "min_size": env_int("ORION_DB_POOL_MIN", 2, minimum=1),
                "max_size": env_int("ORION_DB_POOL_MAX", 20, minimum=1),
                # While PostgreSQL is away a request waits this long for it, then fails
                # with "send it again" (the default, 30 s, is long to look at a spinner).
                # Sockets reach the database from one thread; HTTP views each from a
                # thread of their own, so more than max_size at once wait for a turn.
                "timeout": 5,
            }
        }
        _db["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not as well
        # A pooled connection from before a PostgreSQL restart is found broken when it is
        # taken (one round trip: psycopg_pool's check_connection), not by the request.
        _db["CONN_HEALTH_CHECKS"] = True
    DATABASES = {"default": _db}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("ORION_SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # Keep connections: opening one (and its PRAGMAs) costs more than most queries.
            "CONN_MAX_AGE": None,
            "OPTIONS": SQLITE_OPTIONS,
            # A file, not memory, so the test suite's server and worker processes share it
            # (they are handed its path); one per test run, so runs never collide.
            "TEST": {"NAME": str(BASE_DIR / f"test-db-{os.getpid()}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, Celery ---------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("ORION_CACHE_PREFIX", "orion"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "project.layers.RedisChannelLayer",
            "CONFIG": {
                # redis-py's default pool of 100 connections per process refused the
                # 101st concurrent group operation ("Too many connections") under a burst.
                # (No retry of a command that fails on a connection from before a Redis
                # restart: a failing wait is how project.layers notices the restart.)
                "hosts": [{"address": REDIS_URL, "max_connections": 1000}],
                "prefix": env_str("ORION_CHANNEL_PREFIX", "orion:asgi"),
                "capacity": 1000,
            },
        }
    }
else:
    # The in-process cache holds sessions and the HTTP views' rate counters. At its
    # default 300 entries it drops a third of them whenever it is full, which from about
    # 100 people chatting at once would sign visitors out.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Replies are announced to pages served by other server processes only when the channel
# layer reaches them; the in-memory layer lives inside one process.
ORION_SHARED_STREAMS = bool(REDIS_URL)

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without a broker, tasks run in-process (see project.tasks).
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("ORION_CELERY_QUEUE", "orion")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# django-ratelimit's checks know only memcached and django-redis: W001 ("not officially
# supported") also fires for Django's own Redis cache, which is shared and increments
# atomically. E003 ("not a shared cache") fires for the in-process cache, which is right
# for one process (the embedded local run, the benchmark's one-process run). It is an
# error, so it would stop `migrate`; production without REDIS_URL is reported instead by
# the deploy check project.W001 (project/checks.py), with the consequences spelled out.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
if not REDIS_URL:
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")
RATELIMIT_VIEW = "chat.views.rate_limited"
# Behind a proxy (`manage.py serve --proxy-headers`) the client address is taken from
# X-Forwarded-For, on connections from these addresses only (project/serving.py).
ORION_TRUSTED_PROXIES = env_list("ORION_TRUSTED_PROXIES", ["127.0.0.1", "::1"])

# --- Auth, sessions -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses sign-ins while locked out
    "django.contrib.auth.backends.ModelBackend",
]
# The brake on guessed passwords (project/auth.py): per account and per address.
AXES_FAILURE_LIMIT = env_int("ORION_LOGIN_FAILURES", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ORION_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "project.auth.locked_out"
AXES_CLIENT_IP_CALLABLE = "project.auth.client_ip"
AXES_VERBOSE = False
# Where the admin lives: a path of its own keeps it off the scanners' usual list.
ORION_ADMIN_PATH = env_str("ORION_ADMIN_PATH", "admin/").strip("/") + "/"
if ORION_ADMIN_PATH == "/":
    raise ImproperlyConfigured("ORION_ADMIN_PATH must name a path, such as 'admin/'.")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "chat:index"
SESSION_COOKIE_AGE = env_int("ORION_SESSION_DAYS", 30, minimum=1) * 86_400
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- I18n, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("ORION_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Local runs serve static files straight from the app folders; production serves the
# collected, compressed, hashed copies (run `manage.py collectstatic`).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("ORION_LOG_LEVEL", "INFO")},
    "loggers": {
        "uvicorn": {"level": "WARNING"},  # (one INFO line per socket opened and closed)
        "httpx2": {"level": "WARNING"},
    },
}

# --- Orion ------------------------------------------------------------------------------------
ORION_MAX_MESSAGE_CHARS = env_int("ORION_MAX_MESSAGE_CHARS", 8000, minimum=1)
ORION_RATE_LIMIT = env_rate("ORION_RATE_LIMIT", "20/m")
ORION_STREAM_COALESCE_MS = env_int("ORION_STREAM_COALESCE_MS", 40, minimum=0)
ORION_CHECKPOINT_SECONDS = env_float("ORION_CHECKPOINT_SECONDS", 2.0, minimum=0.1)
ORION_GENERATION_LEASE_SECONDS = env_int("ORION_GENERATION_LEASE_SECONDS", 15, minimum=3)
# Every server process looks this often for replies whose process died mid-answer.
ORION_SWEEP_SECONDS = env_float("ORION_SWEEP_SECONDS", 5.0, minimum=0.5)
# On SIGTERM, replies in progress get this long to finish before they are interrupted.
ORION_SHUTDOWN_GRACE_SECONDS = env_float("ORION_SHUTDOWN_GRACE_SECONDS", 20.0, minimum=0.0)
ORION_HISTORY_MESSAGES = env_int("ORION_HISTORY_MESSAGES", 20, minimum=1)
# Of those, the newest go verbatim while they fit this many tokens; older turns are
# replaced by a summary a background task keeps on the conversation (agents.pipeline.memory).
ORION_HISTORY_TOKENS = env_int("ORION_HISTORY_TOKENS", 3000, minimum=100)
ORION_MAX_REPLY_TOKENS = env_int("ORION_MAX_REPLY_TOKENS", 1024, minimum=1)
# A reply longer than this is cut there (the output check) and its model request closed.
ORION_MAX_REPLY_CHARS = env_int("ORION_MAX_REPLY_CHARS", 20000, minimum=100)
# The answer cache (agents.pipeline.cache): how long an answer is served, and how many
# answers each process keeps in memory.
ORION_CACHE_TTL_SECONDS = env_int("ORION_CACHE_TTL_SECONDS", 86_400, minimum=1)
ORION_CACHE_L1_SIZE = env_int("ORION_CACHE_L1_SIZE", 2000, minimum=1)

# The answering model: any OpenAI-compatible endpoint. Empty base URL = offline mode.
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
ORION_MODEL = env_str("ORION_MODEL", "orion-sim-1")
# Embeddings for the knowledge base's search, from the first provider's /v1/embeddings;
# empty: keyword search only.
ORION_EMBEDDINGS_MODEL = env_str("ORION_EMBEDDINGS_MODEL")
# The name prompts give the assistant (the `{assistant_name}` placeholder).
# Knowledge-base passages given to the model with each question, and their total length.
ORION_RETRIEVAL_PASSAGES = env_int("ORION_RETRIEVAL_PASSAGES", 4, minimum=0)
ORION_RETRIEVAL_MAX_CHARS = env_int("ORION_RETRIEVAL_MAX_CHARS", 4000, minimum=200)
# A knowledge base of at most this many passages is ranked by words in each process's
# memory (agents/knowledge/memory.py); 0: always by the database's full-text search.
ORION_KNOWLEDGE_MEMORY_MAX = env_int("ORION_KNOWLEDGE_MEMORY_MAX", 2000, minimum=0)
# Tool calls: rounds of calls per reply, and the reply's cost (in the providers' prices)
# after which the model must answer without more tools (0: no cap).
ORION_TOOL_ROUNDS = env_int("ORION_TOOL_ROUNDS", 3, minimum=0)
ORION_TOOL_COST_CAP = env_float("ORION_TOOL_COST_CAP", 0.05, minimum=0.0)
ORION_ASSISTANT_NAME = env_str("ORION_ASSISTANT_NAME", "Orion")
ORION_PROVIDER_NAME = env_str("ORION_PROVIDER_NAME", "openai-compatible")
ORION_MODEL_TIMEOUT = env_float("ORION_MODEL_TIMEOUT", 60.0, minimum=1.0)
ORION_MODEL_CONNECT_TIMEOUT = env_float("ORION_MODEL_CONNECT_TIMEOUT", 5.0, minimum=0.1)
ORION_PRICE_INPUT_PER_1K = env_float("ORION_PRICE_INPUT_PER_1K", 0.0, minimum=0.0)
ORION_PRICE_OUTPUT_PER_1K = env_float("ORION_PRICE_OUTPUT_PER_1K", 0.0, minimum=0.0)
ORION_MODEL_RETRIES = env_int("ORION_MODEL_RETRIES", 1, minimum=0)
# Circuit breaker per provider (agents.providers.breaker): open after this many failures in
# a row (within the window), skip the provider for the cool-down, then try one call.
ORION_BREAKER_FAILURES = env_int("ORION_BREAKER_FAILURES", 5, minimum=1)
ORION_BREAKER_WINDOW_SECONDS = env_int("ORION_BREAKER_WINDOW_SECONDS", 60, minimum=1)
ORION_BREAKER_COOLDOWN_SECONDS = env_int("ORION_BREAKER_COOLDOWN_SECONDS", 30, minimum=1)
