"""A tiny Django app served by the official inngest-py SDK (0.5.19), for the sync tests: run as
`python tests/integration/inngest_py_app.py <port>` with the SDK's own environment (INNGEST_DEV=<server url>
for dev mode; INNGEST_SIGNING_KEY + INNGEST_BASE_URL + INNGEST_DEV=0 for signed mode). INNGEST_APP_ID names
the app; PROBE_FUNCTIONS=one serves only compute-square (a re-sync then drops main-function)."""

from __future__ import annotations

import datetime
import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import django
from django.conf import settings

settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, SECRET_KEY="probe-app",
                   INSTALLED_APPS=[], MIDDLEWARE=[])
django.setup()

import inngest  # noqa: E402
import inngest.django  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

client = inngest.Inngest(app_id=os.environ.get("INNGEST_APP_ID", "sync-py"))


@client.create_function(fn_id="compute-square", trigger=inngest.TriggerEvent(event="calculate/square"), retries=2,
                        cancel=[inngest.Cancel(event="calculate/cancel", if_exp="async.data.id == event.data.id")],
                        concurrency=[inngest.Concurrency(limit=2, key="event.data.user")],
                        rate_limit=inngest.RateLimit(limit=100, period=datetime.timedelta(minutes=1)))
def compute_square(ctx: inngest.ContextSync) -> dict[str, int]:
    return {"result": ctx.event.data["number"] ** 2}  # type: ignore[operator]


@client.create_function(fn_id="main-function", trigger=inngest.TriggerEvent(event="main/event"),
                        throttle=inngest.Throttle(limit=1, period=datetime.timedelta(seconds=1)))
def main_function(ctx: inngest.ContextSync) -> str:
    square = ctx.step.invoke("compute-square-value", function=compute_square, data={"number": 4})
    return f"Square of 4 is {square['result']}."


functions = [compute_square] if os.environ.get("PROBE_FUNCTIONS") == "one" else [compute_square, main_function]
urlpatterns = [inngest.django.serve(client, functions)]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        sys.stderr.write("app: " + format % args + "\n")


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


if __name__ == "__main__":
    server = make_server("127.0.0.1", int(sys.argv[1]), get_wsgi_application(), server_class=_ThreadingServer,
                         handler_class=_Quiet)
    print("serving", flush=True)
    server.serve_forever()
