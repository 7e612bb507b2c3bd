"""An inngest-py 0.5 app for the crash test (tests/sdk_driver/test_sdk_crash_safety.py), served by Django's
runserver in its own process: `python tests/sdk_driver/crash_app.py` with PORT and INNGEST_DEV in the
environment. Its steps append to the effects file the event names (tests/integration/effects.py)."""

from __future__ import annotations

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


FUNCTIONS = [crash_child, crash_parent]
urlpatterns = [inngest.django.serve(client, FUNCTIONS)]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line([sys.argv[0], "runserver", "--noreload", f"127.0.0.1:{os.environ['PORT']}"])
