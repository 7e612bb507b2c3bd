"""An inngest-py 0.5 app for the tests of tests/sdk_driver, served by Django's runserver in its own process:
`python tests/sdk_driver/crash_app.py` with PORT and INNGEST_DEV in the environment (a URL: dev mode; `0` and
INNGEST_SIGNING_KEY: cloud mode, every request checked and every answer signed). The crash test's steps append
to the effects file the event names (tests/integration/effects.py); the edge functions misbehave on purpose."""

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
client = inngest.Inngest(app_id=APP_ID)  # the mode from INNGEST_DEV


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


@client.create_function(fn_id="big-numbers", trigger=inngest.TriggerEvent(event="edge/big-numbers"), retries=0)
def big_numbers(ctx: inngest.ContextSync) -> dict[str, int]:
    n = ctx.event.data["n"]
    doubled = ctx.step.run("double", lambda: n * 2)  # memoised, so the next Call Request carries it
    return {"event": n, "step": doubled}


@client.create_function(fn_id="refuse", trigger=inngest.TriggerEvent(event="edge/refuse"), retries=3)
def refuse(ctx: inngest.ContextSync) -> None:
    raise inngest.NonRetriableError("nope")  # py: 500 + X-Inngest-No-Retry: true


BIG_TEXT = "x" * (4 * 1024 * 1024 + 512 * 1024)  # over the 4 MiB output limit, within an answer's


@client.create_function(fn_id="big-step", trigger=inngest.TriggerEvent(event="edge/big-step"), retries=0)
def big_step(ctx: inngest.ContextSync) -> str:
    return ctx.step.run("big", lambda: BIG_TEXT)


@client.create_function(fn_id="big-invoke", trigger=inngest.TriggerEvent(event="edge/big-invoke"), retries=0)
def big_invoke(ctx: inngest.ContextSync) -> str:
    return ctx.step.invoke("child", function=crash_child, data={"path": "/dev/null", "big": BIG_TEXT})


FUNCTIONS = [crash_child, crash_parent, crash_slow_child, crash_invoker, chaos_leaf, chaos_fan, chaos_chain,
             big_numbers, refuse, big_step, big_invoke]
urlpatterns = [inngest.django.serve(client, FUNCTIONS)]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line([sys.argv[0], "runserver", "--noreload", f"127.0.0.1:{os.environ['PORT']}"])
