"""Errors of the dashboard's read side."""

from __future__ import annotations


class DashboardError(Exception):
    """Base class of the dashboard's errors."""


class BadParameter(DashboardError):
    """A query-string parameter is malformed or out of range (the API answers 400 with the message)."""
