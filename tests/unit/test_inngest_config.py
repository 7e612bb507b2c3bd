"""runs.inngest.config maps a registered function config (both SDKs' shapes) onto the stored Function config:
the flow control the engine enforces in its native formats, everything else named in `unsupported`.

The inngest-py shapes come from the real SDK (its own `get_config`, nulls stripped as it strips them when it
registers); the inngest-js shapes are the ones captured from inngest 4.24.0 (protocol document section 3)."""

from __future__ import annotations

import datetime
from typing import Any

import inngest
import pytest

from runs.inngest.config import DEFAULT_RETRIES, IDEMPOTENCY_PERIOD_MS, ConfigError, map_function

URL = "http://127.0.0.1:9999/api/inngest"


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


def py_config(**options: Any) -> dict[str, Any]:
    """What inngest-py 0.5.19 registers for a function `fn` of app `probe` with these options."""
    client = inngest.Inngest(app_id="probe", is_production=False)
    options.setdefault("trigger", inngest.TriggerEvent(event="probe/go"))

    @client.create_function(fn_id="fn", **options)
    def fn(ctx: inngest.ContextSync) -> None:
        return None

    config = fn.get_config(URL).main.to_dict()
    assert isinstance(config, dict)
    return _strip_none(config)


def js_config(**fields: Any) -> dict[str, Any]:
    """An inngest-js 4.24.0 function config (as captured), plus `fields`."""
    return {"id": "compat-js-fn", "name": "fn", "triggers": [{"event": "probe/go"}],
            "steps": {"step": {"id": "step", "name": "step", "runtime": {
                "type": "http", "url": "http://127.0.0.1:8792/api/inngest?fnId=compat-js-fn&stepId=step"}}},
            **fields}


def test_a_plain_python_function_gets_the_default_retries_and_its_call_url() -> None:
    mapped = map_function(py_config(), app_id="probe", runtime="inngest-py")
    assert mapped.function_id == "fn"
    assert mapped.trigger == "probe/go"
    assert mapped.config == {
        "retries": DEFAULT_RETRIES, "concurrency": None, "rate_limit": None, "debounce": None, "cancel_on": [],
        "runtime": "inngest-py", "url": f"{URL}?fnId=probe-fn&stepId=step", "name": "fn",
        "triggers": [{"event": "probe/go"}], "trigger_expression": None, "unsupported": [], "inngest": py_config(),
    }


def test_retries_attempts_is_the_retry_count() -> None:
    assert map_function(py_config(retries=2), app_id="probe", runtime="inngest-py").config["retries"] == 2
    assert map_function(py_config(retries=0), app_id="probe", runtime="inngest-py").config["retries"] == 0


def test_flow_control_maps_onto_the_native_formats() -> None:
    config = map_function(py_config(
        concurrency=[inngest.Concurrency(limit=2, key="event.data.user")],
        rate_limit=inngest.RateLimit(limit=10, period=datetime.timedelta(minutes=1), key="event.data.team"),
        debounce=inngest.Debounce(period=datetime.timedelta(seconds=5), timeout=datetime.timedelta(hours=1)),
        cancel=[inngest.Cancel(event="probe/cancel", if_exp="async.data.id == event.data.id",
                               timeout=datetime.timedelta(hours=1, minutes=30))],
    ), app_id="probe", runtime="inngest-py").config
    assert config["concurrency"] == {"limit": 2, "key": "event.data.user"}
    assert config["rate_limit"] == {"limit": 10, "period_ms": 60_000, "key": "event.data.team"}
    assert config["debounce"] == {"period_ms": 5_000, "key": None, "timeout_ms": 3_600_000}
    assert config["cancel_on"] == [{"event": "probe/cancel", "match": None, "timeout_ms": 5_400_000,
                                    "expression": "async.data.id == event.data.id"}]
    assert config["unsupported"] == []


def test_js_concurrency_as_an_object_and_cancel_on() -> None:
    config = map_function(js_config(concurrency={"limit": 3}, rateLimit={"limit": 1, "period": "1h30m"},
                                    cancel=[{"event": "probe/cancel", "if": "async.data.id == event.data.id"}]),
                          app_id="compat-js", runtime="inngest-js").config
    assert config["concurrency"] == {"limit": 3, "key": None}
    assert config["rate_limit"] == {"limit": 1, "period_ms": 5_400_000, "key": None}
    assert config["cancel_on"][0]["expression"] == "async.data.id == event.data.id"
    assert config["runtime"] == "inngest-js"


@pytest.mark.parametrize(("concurrency", "enforced", "flags"), [
    (5, {"limit": 5, "key": None}, []),  # inngest-js `concurrency: 5`
    (0, None, []),  # 0: no limit of its own, as an object's limit 0
    ([3, {"limit": 1, "key": "event.data.user"}], {"limit": 3, "key": None},
     ["concurrency: only the first of 2 limits is enforced"]),
    ([{"limit": 2, "key": "event.data.user"}, 7], {"limit": 2, "key": "event.data.user"},
     ["concurrency: only the first of 2 limits is enforced"]),
])
def test_js_concurrency_may_be_a_bare_number_alone_or_in_the_list(
        concurrency: Any, enforced: dict[str, Any] | None, flags: list[str]) -> None:
    config = map_function(js_config(concurrency=concurrency), app_id="compat-js", runtime="inngest-js").config
    assert (config["concurrency"], config["unsupported"]) == (enforced, flags)


def test_only_the_first_concurrency_limit_is_enforced_and_other_scopes_are_flagged() -> None:
    config = map_function(py_config(concurrency=[inngest.Concurrency(limit=2, scope="account"),
                                                 inngest.Concurrency(limit=5, key="event.data.user")]),
                          app_id="probe", runtime="inngest-py").config
    assert config["concurrency"] == {"limit": 2, "key": None}
    assert config["unsupported"] == ["concurrency: only the first of 2 limits is enforced",
                                     "concurrency scope 'account': enforced per function only"]


def test_a_key_beyond_an_event_path_is_flagged_not_enforced_with_a_wrong_key() -> None:
    config = map_function(js_config(rateLimit={"limit": 1, "period": "1m",
                                               "key": 'event.data.a + "-" + event.data.b'}),
                          app_id="compat-js", runtime="inngest-js").config
    assert config["rate_limit"] is None
    assert config["unsupported"] == ["rateLimit with key 'event.data.a + \"-\" + event.data.b': not enforced "
                                     "(keys must be event paths like 'event.data.id')"]


def test_every_option_the_engine_does_not_enforce_is_named() -> None:
    config = map_function(py_config(
        trigger=[inngest.TriggerEvent(event="probe/go"), inngest.TriggerEvent(event="probe/other"),
                 inngest.TriggerCron(cron="0 * * * *")],
        throttle=inngest.Throttle(limit=1, period=datetime.timedelta(seconds=1)),
        batch_events=inngest.Batch(max_size=10, timeout=datetime.timedelta(seconds=5)),
        priority=inngest.Priority(run="10"),
        timeouts=inngest.Timeouts(start=datetime.timedelta(seconds=10)), singleton=inngest.Singleton(mode="skip"),
    ), app_id="probe", runtime="inngest-py").config
    assert config["unsupported"] == [
        "event trigger 'probe/other': not enforced (only the first event trigger, 'probe/go', starts runs)",
        "cron trigger '0 * * * *': not enforced",
        "throttle: not enforced", "batchEvents: not enforced", "priority: not enforced",
        "timeouts: not enforced", "singleton: not enforced",
    ]


def test_idempotency_is_a_rate_limit_of_one_per_day_per_key() -> None:
    config = map_function(py_config(idempotency="event.data.userId"), app_id="probe", runtime="inngest-py").config
    assert config["rate_limit"] == {"limit": 1, "period_ms": IDEMPOTENCY_PERIOD_MS, "key": "event.data.userId"}
    assert IDEMPOTENCY_PERIOD_MS == 24 * 3_600_000
    assert config["unsupported"] == []
    js = map_function(js_config(idempotency="event.data.order.id"), app_id="compat-js", runtime="inngest-js").config
    assert js["rate_limit"] == {"limit": 1, "period_ms": IDEMPOTENCY_PERIOD_MS, "key": "event.data.order.id"}


def test_idempotency_beyond_an_event_path_or_beside_a_rate_limit_is_flagged() -> None:
    config = map_function(js_config(idempotency='event.data.a + "-" + event.data.b'),
                          app_id="compat-js", runtime="inngest-js").config
    assert config["rate_limit"] is None
    assert config["unsupported"] == ["idempotency with key 'event.data.a + \"-\" + event.data.b': not enforced "
                                     "(keys must be event paths like 'event.data.id')"]
    # One rate limit per function: the function's own rateLimit is kept, idempotency flagged.
    both = map_function(js_config(idempotency="event.data.id", rateLimit={"limit": 5, "period": "1m"}),
                        app_id="compat-js", runtime="inngest-js").config
    assert both["rate_limit"] == {"limit": 5, "period_ms": 60_000, "key": None}
    assert both["unsupported"] == ["idempotency: not enforced (the function's rateLimit is, and Tributary enforces "
                                   "one rate limit per function)"]
    # A rateLimit that is itself not enforced (its key is not a path) leaves the one rate limit to idempotency.
    keyed = map_function(js_config(idempotency="event.data.id",
                                   rateLimit={"limit": 5, "period": "1m", "key": "event.data.a + event.data.b"}),
                         app_id="compat-js", runtime="inngest-js").config
    assert keyed["rate_limit"] == {"limit": 1, "period_ms": IDEMPOTENCY_PERIOD_MS, "key": "event.data.id"}
    assert len(keyed["unsupported"]) == 1 and keyed["unsupported"][0].startswith("rateLimit with key")


def test_a_cron_only_function_has_no_trigger_and_says_why() -> None:
    mapped = map_function(py_config(trigger=inngest.TriggerCron(cron="*/5 * * * *")),
                          app_id="probe", runtime="inngest-py")
    assert mapped.trigger == ""
    assert mapped.config["unsupported"] == ["cron trigger '*/5 * * * *': not enforced"]


def test_trigger_expressions_are_kept_for_intake_and_failure_handlers_are_flagged() -> None:
    mapped = map_function(py_config(trigger=inngest.TriggerEvent(event="probe/go", expression="event.data.x == 1")),
                          app_id="probe", runtime="inngest-py")
    assert mapped.config["unsupported"] == []
    assert mapped.config["trigger_expression"] == "event.data.x == 1"
    client = inngest.Inngest(app_id="probe", is_production=False)

    def on_failure(ctx: inngest.ContextSync) -> None:
        return None

    @client.create_function(fn_id="fn", trigger=inngest.TriggerEvent(event="probe/go"), on_failure=on_failure)
    def fn(ctx: inngest.ContextSync) -> None:
        return None

    failure = fn.get_config(URL).on_failure
    assert failure is not None
    mapped = map_function(_strip_none(failure.to_dict()), app_id="probe", runtime="inngest-py")
    assert mapped.function_id == "fn-failure"
    assert mapped.config["retries"] == 0
    assert mapped.config["unsupported"] == ["trigger 'inngest/function.failed': Tributary does not emit this "
                                            "event, so this failure handler never runs"]


def test_an_unknown_option_is_named_too() -> None:
    config = map_function(js_config(optimizeParallelism=True), app_id="compat-js", runtime="inngest-js").config
    assert config["unsupported"] == ["optimizeParallelism: not enforced (unknown option)"]


@pytest.mark.parametrize(("fields", "message"), [
    ({"rateLimit": {"limit": 1, "period": "soon"}}, "function 'compat-js-fn': rateLimit.period: 'soon' is not a duration"),
    ({"debounce": {"period": "0s"}}, "function 'compat-js-fn': debounce.period must be a positive duration"),
    ({"debounce": {}}, "function 'compat-js-fn': debounce.period is missing"),
    ({"cancel": [{"event": "x", "if": "async.data.id =="}]}, "function 'compat-js-fn': cancel[0].if: CEL expression"),
    ({"cancel": [{"event": "x", "timeout": "1 fortnight"}]}, "function 'compat-js-fn': cancel[0].timeout:"),
    ({"concurrency": [{"limit": -1}]}, "function 'compat-js-fn': concurrency[0].limit must be an integer >= 0"),
    ({"concurrency": -2}, "function 'compat-js-fn': concurrency.limit must be an integer >= 0"),
    ({"concurrency": 1.5}, "function 'compat-js-fn': concurrency.limit must be an integer >= 0"),
    ({"concurrency": [True]}, "function 'compat-js-fn': concurrency[0] must be a number or an object"),
    ({"concurrency": "5"}, "function 'compat-js-fn': concurrency must be a number or an object"),
    ({"idempotency": 7}, "function 'compat-js-fn': idempotency must be a non-empty CEL expression"),
    ({"idempotency": "event.data.("}, "function 'compat-js-fn': idempotency: CEL"),
    ({"concurrency": {"limit": 2, "key": "event.data.("}}, "function 'compat-js-fn': concurrency.key: CEL"),
    ({"triggers": [{"event": "x", "expression": "event.data.x ="}]}, "function 'compat-js-fn': triggers[0].expression"),
    ({"triggers": [{}]}, "function 'compat-js-fn': triggers[0] needs an 'event' or a 'cron'"),
    ({"steps": {}}, "function 'compat-js-fn': 'steps.step' is missing"),
    ({"steps": {"step": {"runtime": {"url": "ftp://x"}}}}, "'steps.step.runtime.url' must be an http(s) URL"),
    ({"steps": {"step": {"runtime": {"url": "http://x"}, "retries": {"attempts": 99}}}}, "retries.attempts"),
    ({"id": "other-app-fn"}, "function 'other-app-fn': 'id' must be '<app id>-<function id>'"),
    ({"id": 7}, "a function has no string 'id'"),
])
def test_invalid_config_is_an_error_naming_the_function_and_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        map_function(js_config(**fields), app_id="compat-js", runtime="inngest-js")
    assert message in str(raised.value)
