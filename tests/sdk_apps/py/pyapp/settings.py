"""A minimal Django project serving an inngest-py app, as a team would add Inngest to its own project: no
database, no apps, one URL. The SDK reads its own environment (INNGEST_DEV, INNGEST_BASE_URL,
INNGEST_SIGNING_KEY, INNGEST_EVENT_KEY); APP_ID names the app (default "py-app")."""

import os

SECRET_KEY = os.environ.get("PYAPP_SECRET_KEY", "inngest-py-test-app-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["pyapp.calls.log_call_requests"]  # a log line per Call Request, for the tests (pyapp/calls.py)
ROOT_URLCONF = "pyapp.urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
# Call Requests carry the whole memo; Tributary sends up to its own request limit (2.5 MiB by default).
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
