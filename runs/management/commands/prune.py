"""`manage.py prune --older-than 30d [--batch-size N] [--dry-run]`: data retention (runs/store/prune.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from runs.exceptions import PruneRefused
from runs.store.prune import parse_age, prune, record_prune


class Command(BaseCommand):
    help = ("Delete finished run trees (runs, steps, events) whose last run ended longer ago than --older-than; "
            "a tree with any run still queued, running or waiting is kept.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--older-than", required=True, metavar="AGE",
                            help="how long ago a tree's last run must have ended: e.g. 30d, 12h or 90m")
        parser.add_argument("--batch-size", type=int, default=500, metavar="N",
                            help="trees and runs deleted per transaction (default 500)")
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")

    def handle(self, *args: Any, older_than: str, batch_size: int, dry_run: bool, **options: Any) -> None:
        try:
            age = parse_age(older_than)
            result = prune(age, batch_size=batch_size, dry_run=dry_run)
        except PruneRefused as exc:
            raise CommandError(str(exc)) from None
        if not dry_run:
            record_prune("manage.py prune", age, result=result)
        self.stdout.write(result.summary())
