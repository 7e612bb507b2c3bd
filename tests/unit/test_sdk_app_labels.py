"""How the dashboard words SDK apps and functions (dashboard/sdk_apps.py): SDK versions, runtimes, flow control,
triggers and the options not enforced."""

from __future__ import annotations

from dashboard import sdk_apps


def test_sdk_versions_read_as_sdk_name_and_version() -> None:
    assert sdk_apps.sdk_label("py:v0.5.19") == "inngest-py 0.5.19"
    assert sdk_apps.sdk_label("js:v3.54.2") == "inngest-js 3.54.2"
    assert sdk_apps.sdk_label("js:4.24.0") == "inngest-js 4.24.0"
    assert sdk_apps.sdk_label("go:v0.7.0") == "go:v0.7.0"  # unknown: as reported
    assert sdk_apps.sdk_label("") == ""


def test_runtime_comes_from_the_config_and_defaults_to_native() -> None:
    assert sdk_apps.runtime_of({"runtime": "inngest-js"}) == "inngest-js"
    assert sdk_apps.runtime_of({"retries": 1}) == "python"
    assert sdk_apps.runtime_of(None) == "python" and sdk_apps.runtime_of(["odd"]) == "python"
    assert sdk_apps.runtime_label("python") == "Python native"
    assert sdk_apps.runtime_label("inngest-py") == "inngest-py"


def test_flow_control_in_a_few_words() -> None:
    config = {"retries": 4, "concurrency": {"limit": 2, "key": "event.data.user"},
              "rate_limit": {"limit": 10, "period_ms": 60_000, "key": None},
              "debounce": {"period_ms": 5_000, "key": None, "timeout_ms": 60_000},
              "cancel_on": [{"event": "order/cancelled", "match": "data.id", "timeout_ms": None, "expression": None},
                            {"event": "user/deleted", "match": None, "expression": "event.data.id == async.data.id"}]}
    assert sdk_apps.flow_summary(config) == [
        "retries 4", "concurrency 2 per event.data.user", "rate limit 10 / 1.0 min", "debounce 5.0 s (at most 1.0 min)",
        "cancel on order/cancelled if match data.id", "cancel on user/deleted if event.data.id == async.data.id"]
    assert sdk_apps.flow_summary(config, retries=False)[0] == "concurrency 2 per event.data.user"
    assert sdk_apps.flow_summary({}) == [] and sdk_apps.flow_summary("junk") == []


def test_triggers_and_unsupported_options() -> None:
    config = {"triggers": [{"event": "a/b"}, {"event": "c/d", "expression": "event.data.x > 1"}, {"cron": "0 * * * *"}],
              "unsupported": ["throttle: not enforced", "batchEvents", "concurrency: only the first of 2 limits is enforced"]}
    assert sdk_apps.trigger_labels("a/b", config) == ["a/b", "c/d if event.data.x > 1", "cron 0 * * * *"]
    assert sdk_apps.trigger_labels("a/b", {}) == ["a/b"] and sdk_apps.trigger_labels("", None) == []
    assert sdk_apps.unsupported(config) == ["throttle: not enforced", "batchEvents: not enforced",
                                            "concurrency: only the first of 2 limits is enforced"]
    assert sdk_apps.unsupported({}) == [] and sdk_apps.unsupported({"unsupported": "x"}) == ["x: not enforced"]
