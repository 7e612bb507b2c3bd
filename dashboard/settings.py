"""Django settings for Tributary.

Embedded mode (the default) uses a SQLite file and the in-memory channel layer; setting DATABASE_URL
(PostgreSQL) and REDIS_URL scales it out to many Daphne and worker processes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("RUNS_DATA_DIR", BASE_DIR / "var"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me-in-production")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "runs",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
ASGI_APPLICATION = "dashboard.asgi.application"

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
]


def _database() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL")
    if url:
        db: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=0))
        if db["ENGINE"] == "django.db.backends.sqlite3":
            db.update(_sqlite_options(db["NAME"]))
        return db
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    name = str(DATA_DIR / "tributary.sqlite3")
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": name, **_sqlite_options(name)}


def _sqlite_options(name: str) -> dict[str, Any]:
    # A file database shared by the web thread and the worker threads: WAL so readers never block the writer,
    # a busy timeout instead of "database is locked", and IMMEDIATE transactions so a read is never upgraded
    # to a write lock mid-transaction (the worker's compare-and-set claims rely on that).
    test_name = os.environ.get("RUNS_SQLITE_TEST_NAME", f"{name}.test")
    return {
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        # Worker threads open their own connections: the test database must be a file, never :memory:.
        "TEST": {"NAME": test_name},
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS: list[dict] = []
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/runs/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"runs": {"handlers": ["console"], "level": os.environ.get("RUNS_LOG_LEVEL", "WARNING")}},
}

# --- Tributary engine settings -------------------------------------------------------------------------
RUNS_EVENT_KEY = os.environ.get("RUNS_EVENT_KEY", "dev-event-key")
RUNS_FUNCTION_MODULES: list[str] = []
RUNS_RETRY_BASE_SECONDS = float(os.environ.get("RUNS_RETRY_BASE_SECONDS", "1.0"))
RUNS_MAX_INVOKE_DEPTH = int(os.environ.get("RUNS_MAX_INVOKE_DEPTH", "100"))
RUNS_LEASE_SECONDS = float(os.environ.get("RUNS_LEASE_SECONDS", "30"))
RUNS_WORKER_THREADS = int(os.environ.get("RUNS_WORKER_THREADS", "4"))
RUNS_CLAIM_BATCH = int(os.environ.get("RUNS_CLAIM_BATCH", "4"))

# --- Data retention (runs/store/prune.py) ------------------------------------------------------------------
# Workers delete finished run trees whose last run ended longer ago than this ("30d", "12h", "90m"), at most
# once an hour per database; unset (None) keeps everything. `manage.py prune --older-than 30d` does it by hand.
RUNS_PRUNE_OLDER_THAN: str | None = os.environ.get("RUNS_PRUNE_OLDER_THAN") or None
