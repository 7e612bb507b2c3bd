"""runs.inngest.signing signs a Call Request over the canonical JSON the SDKs compute when they check it.

Both SDKs parse the body and canonicalise the parsed value (inngest-py: `json.loads` then `jcs`; inngest-js:
`JSON.parse` then `canonicalize`), so an integer beyond 2^53 is signed as the double nearest it. The checks
run the SDKs' own code: inngest-py's in this process, inngest-js's `canonicalize` under node."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from inngest._internal import net, server_lib, transforms

from runs.inngest import signing
from tests.sdk.harness import NODE_MODULES, require_node

KEY = "signkey-test-" + "ab" * 32
BIG = 9007199254740993  # 2^53 + 1: no double holds it

BODIES = [
    {"event": {"data": {"n": 1, "f": 1.5, "text": "é ✓ 😀", "nested": [None, True, {"b": 2, "a": 1}]}}},
    {"event": {"data": {"n": BIG, "m": -BIG, "huge": 12345678901234567890123, "ok": 2**53 - 1}}},
    {"steps": {"30b458a6": {"data": {"result": 2**64}}}, "ctx": {"attempt": 0}},
]


@pytest.mark.parametrize("body", BODIES)
def test_the_signed_bytes_are_inngest_pys_canonical_form_of_the_sent_bytes(body: dict[str, Any]) -> None:
    sent, signed = signing.request_body(body)
    assert transforms.canonicalize(sent) == signed
    assert signing.canonical(body) == signed


@pytest.mark.parametrize("body", BODIES)
def test_inngest_py_accepts_the_signature(body: dict[str, Any]) -> None:
    sent, signed = signing.request_body(body)
    key = net.validate_request_sig(body=sent, headers={"x-inngest-signature": signing.sign(signed, KEY)},
                                   mode=server_lib.ServerKind.CLOUD, signing_key=KEY, signing_key_fallback=None)
    assert key == KEY


def test_a_big_integer_is_sent_exactly_and_signed_as_the_double_nearest_it() -> None:
    sent, signed = signing.request_body({"n": BIG})
    assert json.loads(sent) == {"n": BIG}  # inngest-py reads it exactly
    assert signed == b'{"n":9007199254740992}'


def test_a_body_without_big_integers_is_sent_as_its_canonical_bytes() -> None:
    sent, signed = signing.request_body({"b": 1, "a": [1.0, "x"]})
    assert sent == signed == b'{"a":[1,"x"],"b":1}'


def test_inngest_js_canonicalises_the_sent_bytes_to_the_signed_ones() -> None:
    require_node("js4")
    script = ("const c = require(process.argv[1]); let s = ''; process.stdin.on('data', d => s += d);"
              "process.stdin.on('end', () => process.stdout.write(JSON.stringify("
              "JSON.parse(s).map(b => c(JSON.parse(b))))));")
    sent = [signing.request_body(body)[0].decode() for body in BODIES]
    done = subprocess.run(["node", "-e", script, str(NODE_MODULES / "canonicalize")], input=json.dumps(sent),
                          capture_output=True, text=True, timeout=30, check=True)
    assert [text.encode() for text in json.loads(done.stdout)] == [signing.request_body(b)[1] for b in BODIES]


@pytest.mark.parametrize("body, where", [
    ({"event": {"data": {"n": 10**400}}}, "event.data.n"),
    ({"steps": {"abc": {"data": [1, -(10**309)]}}}, "steps.abc.data[1]"),
])
def test_an_integer_beyond_a_doubles_range_cannot_be_signed_and_says_where(body: dict[str, Any], where: str) -> None:
    with pytest.raises(signing.UnsignableValue) as raised:
        signing.request_body(body)
    assert str(raised.value).startswith(f"{where} is an integer of "), raised.value


def test_text_that_is_not_unicode_cannot_be_signed() -> None:
    with pytest.raises(signing.UnsignableValue, match="no canonical form"):
        signing.request_body({"text": "\ud800"})
