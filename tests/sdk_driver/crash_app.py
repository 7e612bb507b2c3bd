"""An inngest-py 0.5 app for the crash test (tests/sdk_driver/test_sdk_crash_safety.py), served by Django's
runserver in its own process: `python tests/sdk_driver/crash_app.py` with PORT and INNGEST_DEV in the
environment. Its steps append to the effects file the event names (tests/integration/effects.py)."""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path

import django
from django.conf import settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout, for tests.integration.effects
settings.configure(DEBUG=False, SECRET_KEY="crash-app", ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], MIDDLEWARE=[])
django.setup()

import inngest  # noqa: E402
import inngest.django  # noqa: E402

from tests.integration.effects import block_until_released, record  # noqa: E402

APP_ID = "crash-py"
client = inngest.Inngest(app_id=APP_ID, is_production=False)


@client.create_function(fn_id="crash-child", trigger=inngest.TriggerEvent(event="crash/child"), retries=0)
def crash_child(ctx: inngest.ContextSync) -> str:
    return ctx.step.run("child-step", lambda: record(ctx.event.data["path"], "child"))


@client.create_function(fn_id="crash-parent", trigger=inngest.TriggerEvent(event="crash/parent"), retries=0)
def crash_parent(ctx: inngest.ContextSync) -> list[str]:
    path = ctx.event.data["path"]
    before = ctx.step.run("before", lambda: record(path, "before"))
    child = ctx.step.invoke("child", function=crash_child, data={"path": path})
    slow = ctx.step.run("slow", lambda: block_until_released(path, "parent:slow", True))
    after = ctx.step.run("after", lambda: record(path, "after"))
    return [before, child, slow, after]


@client.create_function(fn_id="crash-slow-child", trigger=inngest.TriggerEvent(event="crash/slow-child"), retries=0)
def crash_slow_child(ctx: inngest.ContextSync) -> str:
    return ctx.step.run("slow", lambda: block_until_released(ctx.event.data["path"], "child:slow", True))


@client.create_function(fn_id="crash-invoker", trigger=inngest.TriggerEvent(event="crash/invoker"), retries=0)
def crash_invoker(ctx: inngest.ContextSync) -> list[str]:
    path = ctx.event.data["path"]
    before = ctx.step.run("before", lambda: record(path, "before"))
    child = ctx.step.invoke("slow-child", function=crash_slow_child, data={"path": path})
    after = ctx.step.run("after", lambda: record(path, "after"))
    return [before, child, after]


# The chaos test's mix (tests/sdk_driver/test_sdk_chaos.py): a fan-out of three invokes, and a chain of an
# invoke, a sleep and a step. Each step records `<root>:<what>` so re-executions can be counted per step.
@client.create_function(fn_id="chaos-leaf", trigger=inngest.TriggerEvent(event="chaos/leaf"), retries=1)
def chaos_leaf(ctx: inngest.ContextSync) -> int:
    data = ctx.event.data
    n = int(data["n"])
    return ctx.step.run("square", lambda: (record(data["path"], f"{data['root']}:leaf-{n}"), n * n)[1])


@client.create_function(fn_id="chaos-fan", trigger=inngest.TriggerEvent(event="chaos/fan"), retries=1)
def chaos_fan(ctx: inngest.ContextSync) -> int:
    data = ctx.event.data
    calls = tuple((lambda n=n: ctx.step.invoke(f"leaf-{n}", function=chaos_leaf,
                                               data={"n": n, "path": data["path"], "root": data["root"]}))
                  for n in range(1, 4))
    squares = ctx.group.parallel(calls)
    return ctx.step.run("total", lambda: (record(data["path"], f"{data['root']}:total"), sum(squares))[1])


@client.create_function(fn_id="chaos-chain", trigger=inngest.TriggerEvent(event="chaos/chain"), retries=1)
def chaos_chain(ctx: inngest.ContextSync) -> int:
    data = ctx.event.data
    square = ctx.step.invoke("leaf-5", function=chaos_leaf, data={"n": 5, "path": data["path"], "root": data["root"]})
    ctx.step.sleep("nap", datetime.timedelta(milliseconds=300))
    return ctx.step.run("plus-one", lambda: (record(data["path"], f"{data['root']}:plus-one"), square + 1)[1])


FUNCTIONS = [crash_child, crash_parent, crash_slow_child, crash_invoker, chaos_leaf, chaos_fan, chaos_chain]
urlpatterns = [inngest.django.serve(client, FUNCTIONS)]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line([sys.argv[0], "runserver", "--noreload", f"127.0.0.1:{os.environ['PORT']}"])
