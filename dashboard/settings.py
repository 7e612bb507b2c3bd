"""Django settings for Tributary.

Embedded mode (the default) uses a SQLite file and the in-memory channel layer; setting DATABASE_URL
(PostgreSQL) and REDIS_URL scales it out to many Daphne and worker processes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url

from dashboard.keys import resolve_keys
from runs import conf as runs_conf

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("RUNS_DATA_DIR", BASE_DIR / "var"))

DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
# Embedded mode is "no DATABASE_URL": one process on one machine, so keys can be generated under DATA_DIR.
EMBEDDED = not os.environ.get("DATABASE_URL")
_KEYS = resolve_keys(os.environ, DATA_DIR, embedded=EMBEDDED, debug=DEBUG)
SECRET_KEY = _KEYS.secret_key
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
    "dashboard.middleware.RefuseUnstorablePathIds",  # NUL in a path id: 400, not a database error
    "dashboard.replica.ReplicaReadsMiddleware",  # GET/HEAD reads on the replica, if RUNS_READ_REPLICA_ALIAS is set
]

ROOT_URLCONF = "dashboard.site_urls"  # the dashboard at the root, plus Django's admin
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
    # WAL, the busy timeout and IMMEDIATE transactions are set by the SQLite backend on every connection
    # (runs/store/backends.py), so no OPTIONS are needed here.
    test_name = os.environ.get("RUNS_SQLITE_TEST_NAME", f"{name}.test")
    return {
        # Worker threads open their own connections: the test database must be a file, never :memory:.
        "TEST": {"NAME": test_name},
    }


DATABASES = {"default": _database()}
# A read replica for the dashboard's read-only requests (dashboard/replica.py, docs/scaling.md): an alias of
# its own; tests mirror it to the default database.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = {**dj_database_url.parse(os.environ["DATABASE_REPLICA_URL"], conn_max_age=0),
                            "TEST": {"MIRROR": "default"}}
DATABASE_ROUTERS = ["dashboard.replica.ReadReplicaRouter"]  # no-op unless RUNS_READ_REPLICA_ALIAS names an alias
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Applied where users choose passwords (createsuperuser, password forms); the demo's demo/demo login is created
# directly by `manage.py demo` and is not checked.
AUTH_PASSWORD_VALIDATORS: list[dict] = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/runs/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
# Under the "tributary/" prefix, as an installed wheel ships them (dashboard/static/tributary/): templates name
# them so, and they cannot clash with a project's own css/ and js/.
STATICFILES_DIRS = [("tributary", BASE_DIR / "static")]
STATIC_ROOT = DATA_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "runs": {"handlers": ["console"], "level": os.environ.get("RUNS_LOG_LEVEL", "WARNING")},
        # Django logs a 500's traceback here; by default only with DEBUG on (or by mail to ADMINS), so a
        # production server error would leave no trace. Not propagated: DEBUG's own console would print it twice.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}

# --- Tributary settings ----------------------------------------------------------------------------------
# Every RUNS_* setting has its default and meaning in runs/conf.py (docs/settings.md); this project also takes
# each from an environment variable of the same name. Workers, leases, retries, intake limits, login throttling,
# websockets and pruning are all there.
_RUNS_SETTINGS = runs_conf.from_environ(os.environ)
globals().update(_RUNS_SETTINGS)
if "replica" in DATABASES and not os.environ.get("RUNS_READ_REPLICA_ALIAS"):
    RUNS_READ_REPLICA_ALIAS = "replica"
RUNS_EVENT_KEY = _KEYS.event_key  # DATA_DIR/keys.json in embedded mode unless the environment sets it
RUNS_KEYS_FILE = _KEYS.file  # where the embedded mode keeps its generated keys (None: all from the environment)

# --- Security: login throttling, deployment over HTTPS (all from the environment) ----------------------------
AUTHENTICATION_BACKENDS = ["dashboard.login_throttle.ThrottledModelBackend"]
# The throttle's counts: shared through Redis when several processes serve, in memory for the embedded one.
CACHES = ({"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
          if REDIS_URL else {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


# Behind a TLS-terminating proxy: DJANGO_SECURE_PROXY_SSL_HEADER=1 trusts its X-Forwarded-Proto (set it only
# when the proxy overwrites that header), DJANGO_CSRF_TRUSTED_ORIGINS=https://runs.example.com names the origin.
SECURE_SSL_REDIRECT = _env_flag("DJANGO_SECURE_SSL_REDIRECT")
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_flag("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = _env_flag("DJANGO_SECURE_HSTS_PRELOAD")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _env_flag("DJANGO_SECURE_PROXY_SSL_HEADER") else None
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _env_flag("DJANGO_SECURE_COOKIES")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

# Content-Security-Policy (django-csp): scripts and connections from this origin only. Inline style stays
# allowed: the waterfall's bars are sized by style attributes and the graph library injects its stylesheet.
MIDDLEWARE += ["csp.middleware.CSPMiddleware"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Bounded intake: request bodies, events per request, events per second per event key ------------------
# Bodies over this are refused with 413 before they are read: ASGI from Content-Length and while streaming
# (dashboard/body_limit.py), WSGI through Django's own DATA_UPLOAD_MAX_MEMORY_SIZE.
DATA_UPLOAD_MAX_MEMORY_SIZE = _RUNS_SETTINGS["RUNS_MAX_REQUEST_BODY_BYTES"]
