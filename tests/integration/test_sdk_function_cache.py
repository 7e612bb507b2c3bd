"""An SDK app syncs again through another process (the one serving `/fn/register`), which cannot clear a
worker's memory of function configurations: a worker must look SDK functions up again after a short while, so a
changed flow control applies to the children it invokes and a vanished function is refused (issue 10, item 7).
Native functions change only with a restart of the worker and stay remembered."""

from __future__ import annotations

import pytest

from runs.models import Function
from runs.remote import RUNTIME_INNGEST_PY
from runs.store import passes
from tests.integration.sdk_app_rows import sdk_config

pytestmark = pytest.mark.django_db

SDK_KEY = ("py-shop", "checkout")
NATIVE_KEY = ("native-tools", "resize")


@pytest.fixture(autouse=True)
def empty_memory():
    passes.forget_function_configs()
    yield
    passes.forget_function_configs()


def register_both() -> None:
    Function.objects.create(app_id=SDK_KEY[0], function_id=SDK_KEY[1], trigger="shop/checkout", config=sdk_config(
        RUNTIME_INNGEST_PY, "http://127.0.0.1:8123/api/inngest?fnId=py-shop-checkout&stepId=step", "Checkout",
        triggers=[{"event": "shop/checkout"}], unsupported=[], concurrency={"limit": 2, "key": None}))
    Function.objects.create(app_id=NATIVE_KEY[0], function_id=NATIVE_KEY[1], trigger="img/uploaded",
                            config={"retries": 3, "concurrency": {"limit": 1, "key": None}})


def resync_elsewhere() -> None:
    """What another process's sync writes: the SDK function's limit changed, then it vanished; the native
    function's row changed too (as a deploy would, before its workers restart)."""
    Function.objects.filter(app_id=SDK_KEY[0]).update(config={"runtime": RUNTIME_INNGEST_PY, "concurrency": {
        "limit": 7, "key": None}})
    Function.objects.filter(app_id=NATIVE_KEY[0]).update(config={"retries": 3, "concurrency": {"limit": 9,
                                                                                              "key": None}})


def test_an_sdk_functions_config_is_read_again_after_the_ttl() -> None:
    register_both()
    assert passes._registered({SDK_KEY, NATIVE_KEY}) == {SDK_KEY, NATIVE_KEY}
    resync_elsewhere()
    # Within the TTL the remembered configuration is used without a query.
    assert passes._config_of(SDK_KEY)["concurrency"]["limit"] == 2

    passes._function_configs[SDK_KEY] = (0.0, passes._function_configs[SDK_KEY][1])  # as if the TTL had passed
    assert passes._registered({SDK_KEY, NATIVE_KEY}) == {SDK_KEY, NATIVE_KEY}
    assert passes._config_of(SDK_KEY)["concurrency"]["limit"] == 7
    assert passes._config_of(NATIVE_KEY)["concurrency"]["limit"] == 1  # native: until the worker restarts


def test_an_sdk_function_that_vanished_elsewhere_is_no_longer_registered() -> None:
    register_both()
    assert passes._registered({SDK_KEY}) == {SDK_KEY}
    Function.objects.filter(app_id=SDK_KEY[0]).delete()
    passes._function_configs[SDK_KEY] = (0.0, passes._function_configs[SDK_KEY][1])  # as if the TTL had passed
    assert passes._registered({SDK_KEY}) == set()
    assert passes._config_of(SDK_KEY) is None
