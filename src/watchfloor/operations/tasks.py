"""Thin job wrappers for the operations feeds (run by dotted path from jobs/schedule.py)."""

from __future__ import annotations

from watchfloor.operations import rules


def run_feed_rules() -> dict:
    """Every minute: the feed rules over all tenants (raise what began, resolve what ended)."""
    return rules.run_feed_rules()
