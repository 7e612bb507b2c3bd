"""Example functions for `manage.py demo` / `manage.py serve --demo`: a newcomer's first look at the dashboard.

One App ("demo"), so they never clash with users' functions. DEMO_EVENTS starts one run of each story: a chain,
a fan-out (large enough to be grouped in the graph), an invoke that times out, a failure three levels deep
(with its root cause), and a run that is still going.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from runs.sdk import App, Context, NonRetriableError

app = App("demo")

FAN_OUT = 30  # more than the graph's grouping threshold, so the siblings collapse into one node per status
MAX_ALBUM = 100  # the most photos (child runs) one demo/album event may fan out to


# --- a chain: place-order -> reserve-stock -> price-order, then an event starts send-receipt ------------------
@app.function(id="price-order", retries=1)
async def price_order(ctx: Context) -> dict[str, Any]:
    items = ctx.event.data["items"]
    total = await ctx.step.run("sum-prices", lambda: sum(item["price"] * item["qty"] for item in items))
    return {"total": round(total, 2)}


@app.function(id="reserve-stock", retries=1)
async def reserve_stock(ctx: Context) -> dict[str, Any]:
    await ctx.step.run("lock-rows", lambda: len(ctx.event.data["items"]))
    priced = await ctx.step.invoke("price", function=price_order, data=ctx.event.data)
    return {"reserved": True, **priced}


@app.function(id="send-receipt", trigger="demo/order.placed", retries=2)
async def send_receipt(ctx: Context) -> str:
    await ctx.step.sleep("batch-window", "300ms")
    return await ctx.step.run("email", lambda: f"receipt for order {ctx.event.data['order']} sent")


@app.function(id="place-order", trigger="demo/order", retries=1)
async def place_order(ctx: Context) -> dict[str, Any]:
    order = ctx.event.data
    checked = await ctx.step.run("validate", lambda: {"order": order["order"], "lines": len(order["items"])})
    reserved = await ctx.step.invoke("reserve", function=reserve_stock, data=order)
    await ctx.step.send_event("announce", {"name": "demo/order.placed", "data": {"order": order["order"]}})
    return {**checked, **reserved}


# --- a fan-out: resize-album invokes one resize-photo per photo, in parallel --------------------------------
@app.function(id="resize-photo", retries=1)
async def resize_photo(ctx: Context) -> dict[str, Any]:
    await ctx.step.sleep("queue-for-gpu", int(ctx.event.data["delay_ms"]))
    return await ctx.step.run("resize", lambda: {"photo": ctx.event.data["photo"], "size": "1024x768"})


def album_size(data: dict[str, Any]) -> int:
    """The fan-out width an event asks for, bounded: the 42-byte event {"name": "demo/album", "data": {"n": 999}}
    used to make 1,000 runs (one child per photo). More than MAX_ALBUM fails the run, starting none."""
    n = data.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_ALBUM:
        raise NonRetriableError(f"'n' must be a whole number from 1 to {MAX_ALBUM} (got {str(n)[:40]})")
    return n


@app.function(id="resize-album", trigger="demo/album", retries=1)
async def resize_album(ctx: Context) -> dict[str, Any]:
    size = album_size(ctx.event.data)
    photos = await ctx.step.run("list-photos", lambda: [f"IMG_{n:04d}.jpg" for n in range(size)])
    results = await asyncio.gather(*[
        ctx.step.invoke(f"resize-{photo}", function=resize_photo,
                        data={"photo": photo, "delay_ms": random.randint(50, 1500)})
        for photo in photos
    ])
    return {"resized": len(results)}


# --- a timeout: the lookup takes a minute, the caller gives it two seconds ---------------------------------
@app.function(id="slow-credit-check", retries=0)
async def slow_credit_check(ctx: Context) -> str:
    await ctx.step.sleep("bureau-is-slow", "1m")
    return "approved"


@app.function(id="open-account", trigger="demo/account", retries=0)
async def open_account(ctx: Context) -> str:
    return await ctx.step.invoke("credit-check", function=slow_credit_check, data=ctx.event.data, timeout="2s")


# --- a failure three levels deep: checkout -> charge-card -> card-gateway (KeyError) --------------------------
@app.function(id="card-gateway", retries=0)
async def card_gateway(ctx: Context) -> dict[str, Any]:
    await ctx.step.run("connect", lambda: "tls ok")
    return await ctx.step.run("parse-response", lambda: {"auth": ctx.event.data["response"]["auth_code"]})


@app.function(id="charge-card", retries=0)
async def charge_card(ctx: Context) -> dict[str, Any]:
    return await ctx.step.invoke("authorize", function=card_gateway, data={"response": {"status": "ok"}})


@app.function(id="checkout", trigger="demo/checkout", retries=0)
async def checkout(ctx: Context) -> dict[str, Any]:
    await ctx.step.run("load-cart", lambda: {"cart": ctx.event.data["cart"]})
    return await ctx.step.invoke("charge", function=charge_card, data=ctx.event.data)


# --- still going: a nightly sync that sleeps for an hour between batches --------------------------------------
@app.function(id="nightly-sync", trigger="demo/sync", retries=2)
async def nightly_sync(ctx: Context) -> str:
    await ctx.step.run("first-batch", lambda: 500)
    await ctx.step.sleep("pause-between-batches", "1h")
    await ctx.step.run("second-batch", lambda: 500)
    return "synced 1000 rows"


DEMO_EVENTS: list[dict[str, Any]] = [
    {"name": "demo/sync", "data": {"table": "customers"}},
    {"name": "demo/checkout", "data": {"cart": "c-1041"}},
    {"name": "demo/account", "data": {"customer": "ada"}},
    {"name": "demo/album", "data": {"n": FAN_OUT}},
    {"name": "demo/order", "data": {"order": "o-7", "items": [{"sku": "tea", "price": 4.5, "qty": 2},
                                                              {"sku": "mug", "price": 9.0, "qty": 1}]}},
]
