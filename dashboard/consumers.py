"""Websocket consumers: live deltas for the runs page (/ws/runs/) and one invocation graph (/ws/graph/<root>/).

Thin on purpose: join a group on connect, forward `runs.delta` messages (published by dashboard/live.py after
commits) as {"type": "deltas", "deltas": [...]}. Browsers resync over HTTP when a per-run version skips.

A socket lives no longer than its login: logging out closes the session's sockets at once (dashboard/sessions.py),
and a timer re-checks the session (expired, deleted, password changed) every RUNS_WS_SESSION_CHECK_SECONDS.
Browsers only listen: a frame that is not JSON text closes the socket with 4400 instead of crashing the consumer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from dashboard import live, sessions
from runs import conf

# Close codes: the HTTP status of the same refusal, in the 4000-4999 range applications may use.
BAD_FRAME = 4400
UNAUTHORIZED = 4401  # anonymous at connect, or the session ended (logged out) later
NOT_FOUND = 4404
NO_CHANNEL_LAYER = 4503  # the project set no CHANNEL_LAYERS: there is nothing to listen to (check dashboard.W010)


class DeltaConsumer(AsyncJsonWebsocketConsumer):
    """Base: authenticated sockets join one channel-layer group and receive its deltas."""

    group_name: str | None = None
    session_group: str | None = None
    session_watch: asyncio.Task[None] | None = None

    def group_for(self) -> str:
        raise NotImplementedError

    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept()  # accept first, so the browser sees the close code and not a failed handshake
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if user is None or not user.is_authenticated or not session_key:
            await self.close(code=UNAUTHORIZED)
            return
        if self.channel_layer is None:
            await self.close(code=NO_CHANNEL_LAYER)
            return
        # Embedded mode: the in-process publisher sends on this loop, and other processes' commits come through
        # a poll whose first look must be taken before this page is told it is live (see dashboard/live.py).
        await database_sync_to_async(live.prime_poll)()
        live.attach_loop(asyncio.get_running_loop())
        self.session_group = sessions.session_group(session_key)
        await self.channel_layer.group_add(self.session_group, self.channel_name)
        self.session_watch = asyncio.create_task(self.watch_session(session_key, user.pk))
        self.group_name = self.group_for()
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        live.socket_opened()
        await self.send_json({"type": "hello"})

    async def disconnect(self, code: int) -> None:
        if self.session_watch is not None:
            self.session_watch.cancel()
        if self.channel_layer is None:
            return
        if self.group_name is not None:
            live.socket_closed()
        for group in (self.group_name, self.session_group):
            if group is not None:
                await self.channel_layer.group_discard(group, self.channel_name)

    async def runs_delta(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "deltas", "deltas": event["deltas"]})

    async def session_ended(self, event: dict[str, Any]) -> None:
        """Sent to the session's group at logout (dashboard/sessions.py)."""
        await self.close(code=UNAUTHORIZED)

    async def watch_session(self, session_key: str, user_pk: Any) -> None:
        """Close the socket once its session no longer logs this user in (expired, deleted, password changed):
        a logout elsewhere, say in a process that shares no channel layer with this one."""
        interval = conf.get("RUNS_WS_SESSION_CHECK_SECONDS")
        while True:
            await asyncio.sleep(interval)
            if not await database_sync_to_async(sessions.logs_in)(session_key, user_pk):
                await self.close(code=UNAUTHORIZED)
                return

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        """Browsers only listen: well-formed JSON is ignored; binary or non-JSON frames (a broken or hostile
        client) close the socket with 4400, where the base class would crash the consumer (1011)."""
        if text_data is None:
            await self.close(code=BAD_FRAME)
            return
        try:
            json.loads(text_data)
        except (ValueError, RecursionError):
            await self.close(code=BAD_FRAME)


class RunsConsumer(DeltaConsumer):
    def group_for(self) -> str:
        return live.RUNS_GROUP


class GraphConsumer(DeltaConsumer):
    def group_for(self) -> str:
        return live.graph_group(self.scope["url_route"]["kwargs"]["root_run_id"])


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Any other websocket path: a 404-style close instead of the router's exception (a 500 handshake)."""

    async def connect(self) -> None:
        await self.accept()  # accept first, so the browser sees the close code
        await self.close(code=NOT_FOUND)
