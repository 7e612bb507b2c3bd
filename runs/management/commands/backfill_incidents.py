"""`manage.py backfill_incidents`: failed root runs without an incident join theirs (runs/store/incidents.py).

Migration 0013 does this once on upgrade; the command is for a database restored from an older backup, or rows
copied in by hand. Safe to run again: it only touches failed roots that have no incident yet.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from runs.store.incidents import backfill


class Command(BaseCommand):
    help = "Group failed root runs that have no incident yet into incidents by their root cause's signature."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{backfill()} failed root run(s) joined their incidents")
