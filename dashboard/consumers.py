"""Websocket consumers: live deltas for the runs page (/ws/runs/) and one invocation graph (/ws/graph/<root>/).

Thin on purpose: join a group on connect, forward `runs.delta` messages (published by runs/store/live.py after
commits) as {"type": "deltas", "deltas": [...]}. Browsers resync over HTTP when a per-run version skips.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from runs.store import live

UNAUTHORIZED = 4401  # close code for anonymous sockets (the HTTP 401 of websockets, by convention)


class DeltaConsumer(AsyncJsonWebsocketConsumer):
    """Base: authenticated sockets join one channel-layer group and receive its deltas."""

    group_name: str | None = None

    def group_for(self) -> str:
        raise NotImplementedError

    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept()  # accept first, so the browser sees the close code and not a failed handshake
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHORIZED)
            return
        # Embedded mode: the in-process publisher sends on this loop (see runs/store/live.py).
        live.attach_loop(asyncio.get_running_loop())
        self.group_name = self.group_for()
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.send_json({"type": "hello"})

    async def disconnect(self, code: int) -> None:
        if self.group_name is not None:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def runs_delta(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "deltas", "deltas": event["deltas"]})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Browsers only listen; anything they send is ignored."""


class RunsConsumer(DeltaConsumer):
    def group_for(self) -> str:
        return live.RUNS_GROUP


class GraphConsumer(DeltaConsumer):
    def group_for(self) -> str:
        return live.graph_group(self.scope["url_route"]["kwargs"]["root_run_id"])
