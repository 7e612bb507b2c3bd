"""What the run page prefills for "Send event…" on a waiting wait_for_event (dashboard/waits.py, issue 11 item 10):
data that satisfies the step's match, and for an SDK step's `if` the equalities it can read off the expression."""

from __future__ import annotations

import json

from dashboard.waits import event_offer, expression_skeleton

RUN_EVENT = {"name": "order/created", "data": {"order": {"id": "o-1"}, "user_id": 7}, "user": {}}


def test_a_match_on_data_prefills_the_value_at_its_path() -> None:
    offer = event_offer("order/paid", "data.order.id", "o-1", None, RUN_EVENT)
    assert offer.event_name == "order/paid"
    assert json.loads(offer.event_data) == {"order": {"id": "o-1"}}
    assert offer.match == 'data.order.id == "o-1"' and not offer.note


def test_a_match_outside_data_is_stated_not_prefilled() -> None:
    offer = event_offer("order/paid", "user.id", 5, None, RUN_EVENT)
    assert json.loads(offer.event_data) == {} and "user.id" in offer.note


def test_an_if_expression_prefills_equalities_and_leaves_the_rest_null() -> None:
    expression = ("async.data.order.id == event.data.order.id && 'gold' == async.data.tier "
                  "&& async.data.count == 3 && async.data.amount > 10")
    assert expression_skeleton(expression, RUN_EVENT) == {"order.id": "o-1", "tier": "gold", "count": 3,
                                                          "amount": None}
    offer = event_offer("order/paid", None, None, expression, RUN_EVENT)
    assert json.loads(offer.event_data) == {"order": {"id": "o-1"}, "tier": "gold", "count": 3, "amount": None}
    assert offer.expression == expression


def test_an_expression_comparing_with_the_incoming_event_only_leaves_null() -> None:
    assert expression_skeleton('async.data.a == async.data.b && async.data.c == "x\\q"', {}) == {
        "a": None, "b": None, "c": None}
