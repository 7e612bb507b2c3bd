"""Replaying an event: the operator sends a stored event's name, data and user again as a NEW event (new id, so
intake's once-per-id rule does not swallow it), which starts the runs that name triggers today and resolves
waits on it, like any event. The new event keeps the old one's id in `replay_of`; the audit record names the
runs it started."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from runs.events import RESERVED_PREFIX, normalise_events
from runs.exceptions import ActionRefused, EventNotFound
from runs.models import Event
from runs.status import ActionOutcome, OperatorActionName
from runs.store import audit
from runs.store.intake import dispatch_events_txn


@dataclass(frozen=True, slots=True, kw_only=True)
class Replay:
    event_id: str  # the new event
    replay_of: str  # the event replayed
    name: str
    run_ids: list[str]  # the runs the new event started


def replay_event(event_id: str, *, user: Any) -> Replay:
    """Send event `event_id` again as a new event and audit it. EventNotFound for an unknown id; ActionRefused
    for the engine's own events (inngest/function.finished ...: sending one again would tell listeners a run
    finished twice). A refusal is audited too."""
    original = Event.objects.filter(id=event_id).first()
    if original is None:
        raise EventNotFound(f"no event with id {event_id[:64]!r} (never received, or pruned)")
    if original.name.startswith(RESERVED_PREFIX):
        reason = f"{original.name} is an event of the engine itself; it is not replayed"
        audit.record_action(user=user, action=OperatorActionName.REPLAY_EVENT, run_ids=[],
                            outcome=ActionOutcome.REFUSED, detail=f"event {original.id}: {reason}")
        raise ActionRefused(reason)
    # Validated again: limits may have changed since the event came in (intake's rules, not a shortcut past them).
    [event] = normalise_events([{"name": original.name, "data": original.data, "user": original.user}])
    with transaction.atomic():
        runs = dispatch_events_txn([event])
        Event.objects.filter(id=event["id"]).update(replay_of=original.id)
        run_ids = [run.id for run in runs]
        audit.record_action(user=user, action=OperatorActionName.REPLAY_EVENT, run_ids=run_ids,
                            detail=f"replayed event {original.id} ({original.name}) as {event['id']}; "
                                   f"{len(run_ids)} run{'' if len(run_ids) == 1 else 's'} started")
    return Replay(event_id=event["id"], replay_of=original.id, name=original.name, run_ids=run_ids)
