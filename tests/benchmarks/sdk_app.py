"""W1-SDK and W2-SDK: the W1 and W2 functions of workloads.py written with inngest-py 0.5, served over HTTP by
gunicorn in its own processes (`tests.benchmarks.sdk_app:application`, see tests/benchmarks/sdk_bench.py).
`manage.py bench --only W1-SDK,W2-SDK` starts it, syncs it (signed mode, in-band) and sends the events."""

from __future__ import annotations

import django
from django.conf import settings
from django.core.wsgi import get_wsgi_application

settings.configure(DEBUG=False, SECRET_KEY="bench-sdk-app", ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"],
                   MIDDLEWARE=[], LOGGING_CONFIG=None)
django.setup()

import inngest  # noqa: E402
import inngest.django  # noqa: E402

APP_ID = "bench-sdk"
CHAIN_EVENT = "bench-sdk/chain"
FANOUT_EVENT = "bench-sdk/fanout"

# Cloud mode (INNGEST_SIGNING_KEY from the environment): every Call Request signed, every answer too.
client = inngest.Inngest(app_id=APP_ID)


@client.create_function(fn_id="chain", trigger=inngest.TriggerEvent(event=CHAIN_EVENT), retries=0)
def chain(ctx: inngest.ContextSync) -> int:
    n = int(ctx.event.data["n"])
    if n == 0:
        return 0
    below = ctx.step.invoke("down", function=chain, data={"n": n - 1})
    return int(below) + 1


@client.create_function(fn_id="square-child", trigger=inngest.TriggerEvent(event="bench-sdk/square"), retries=0)
def square_child(ctx: inngest.ContextSync) -> int:
    x = int(ctx.event.data["x"])
    return ctx.step.run("square", lambda: x * x)


@client.create_function(fn_id="fanout", trigger=inngest.TriggerEvent(event=FANOUT_EVENT), retries=0)
def fanout(ctx: inngest.ContextSync) -> int:
    n = int(ctx.event.data["n"])
    calls = tuple((lambda i=i: ctx.step.invoke(f"child-{i}", function=square_child, data={"x": i}))
                  for i in range(n))
    return sum(int(r) for r in ctx.group.parallel(calls))


urlpatterns = [inngest.django.serve(client, [chain, square_child, fanout])]
application = get_wsgi_application()
