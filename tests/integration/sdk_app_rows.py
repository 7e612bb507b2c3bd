"""Rows of two Inngest SDK apps (as a sync stores them: SdkApp rows, Function rows with `runtime`, `url`,
`unsupported`, ...), a native function, and an SDK run tree whose steps carry hashed ids and display names.
Shared by the dashboard's page tests and its end-to-end test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from runs.inngest.ids import step_hash
from runs.models import Function, Run, SdkApp, Step
from runs.remote import RUNTIME_INNGEST_JS, RUNTIME_INNGEST_PY
from runs.status import RunStatus, StepKind, StepStatus
from tests.benchmarks.trees import run_row

PY_APP, JS_APP, NATIVE_APP = "py-shop", "js-mail", "native-tools"
SYNC_ERROR = "<b>connection refused</b> by 127.0.0.1:3999"  # markup in it must stay text
INVOKE_STEP, FAILED_STEP, FETCH_STEP = "send-receipt", "render-template", "load-cart"
LEAF_MESSAGE = "template 'receipt' not found"


@dataclass(frozen=True)
class SdkRows:
    parent_run_id: str
    child_run_id: str
    invoke_hash: str
    failed_hash: str
    fetch_hash: str


def sdk_config(runtime: str, url: str, name: str, *, triggers: list[dict[str, str]], unsupported: list[str],
               **flow: object) -> dict[str, object]:
    return {"retries": 4, "concurrency": None, "rate_limit": None, "debounce": None, "cancel_on": [], **flow,
            "runtime": runtime, "url": url, "name": name, "triggers": triggers, "unsupported": unsupported,
            "inngest": {"name": name, "triggers": triggers}}


def create_sdk_rows() -> SdkRows:
    now = timezone.now()
    SdkApp.objects.create(app_id=PY_APP, url="http://127.0.0.1:8123/api/inngest", runtime=RUNTIME_INNGEST_PY,
                          sdk="py:v0.5.19", framework="django", last_sync_at=now - timedelta(minutes=3),
                          last_sync_ok=True, last_sync_kind="in_band")
    SdkApp.objects.create(app_id=JS_APP, url="http://127.0.0.1:3999/api/inngest", runtime=RUNTIME_INNGEST_JS,
                          sdk="js:v3.54.2", framework="express", last_sync_at=now - timedelta(hours=2),
                          last_sync_ok=False, last_sync_kind="out_of_band", last_sync_error=SYNC_ERROR)
    py_url = "http://127.0.0.1:8123/api/inngest?fnId=py-shop-checkout&stepId=step"
    Function.objects.create(app_id=PY_APP, function_id="checkout", trigger="shop/checkout", config=sdk_config(
        RUNTIME_INNGEST_PY, py_url, "Checkout",
        triggers=[{"event": "shop/checkout"}, {"event": "shop/retry-checkout"}, {"cron": "0 * * * *"}],
        unsupported=["throttle: not enforced", "event trigger 'shop/retry-checkout': not enforced",
                     "cron trigger '0 * * * *': not enforced"],
        concurrency={"limit": 2, "key": "event.data.user"}, retries=2))
    js_url = "http://127.0.0.1:3999/api/inngest?fnId=js-mail-send-receipt&stepId=step"
    Function.objects.create(app_id=JS_APP, function_id="send-receipt", trigger="", config=sdk_config(
        RUNTIME_INNGEST_JS, js_url, "Send receipt", triggers=[], unsupported=["batchEvents"],
        rate_limit={"limit": 10, "period_ms": 60_000, "key": None}))
    Function.objects.create(app_id=NATIVE_APP, function_id="resize", trigger="img/uploaded",
                            config={"retries": 3, "concurrency": None, "rate_limit": None, "debounce": None,
                                    "cancel_on": []})

    invoke_hash, failed_hash, fetch_hash = step_hash(INVOKE_STEP), step_hash(FAILED_STEP), step_hash(FETCH_STEP)
    error = {"name": "TemplateError", "message": LEAF_MESSAGE, "stack": "at render (mail.js:1)"}
    parent, child = "sdkparent0000000000000000000001", "sdkchild00000000000000000000001"
    Run.objects.bulk_create([
        run_row(parent, app_id=PY_APP, function_id="checkout", status=RunStatus.FAILED, created_at=now,
                error={"name": "InvokeError", "message": "send-receipt failed"}, failure_cause_run_id=child,
                failed_step_id=invoke_hash),
        run_row(child, app_id=JS_APP, function_id="send-receipt", status=RunStatus.FAILED, root_run_id=parent,
                parent_run_id=parent, parent_step_id=invoke_hash, depth=1, created_at=now, error=None,
                failed_step_id=failed_hash),
    ])
    Step.objects.bulk_create([
        Step(run_id=parent, step_id=fetch_hash, display_name=FETCH_STEP, kind=StepKind.RUN,
             status=StepStatus.COMPLETED, output={"items": 2}, attempts=1, position=0, started_at=now, ended_at=now),
        Step(run_id=parent, step_id=invoke_hash, display_name=INVOKE_STEP, kind=StepKind.INVOKE,
             status=StepStatus.FAILED, error=error, attempts=1, position=1, child_run_id=child, started_at=now,
             ended_at=now),
        Step(run_id=child, step_id=failed_hash, display_name=FAILED_STEP, kind=StepKind.RUN,
             status=StepStatus.FAILED, error=error, attempts=5, position=0, started_at=now, ended_at=now),
    ])
    return SdkRows(parent_run_id=parent, child_run_id=child, invoke_hash=invoke_hash, failed_hash=failed_hash,
                   fetch_hash=fetch_hash)
