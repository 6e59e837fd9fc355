"""Thin job wrappers for the operations feeds (run by dotted path from jobs/schedule.py)."""

from __future__ import annotations

from watchfloor.operations import heartbeats, rules


def run_feed_rules() -> dict:
    """Every minute: the feed rules over all tenants (raise what began, resolve what ended)."""
    return rules.run_feed_rules()


def check_heartbeats() -> dict:
    """Every 15 s: heartbeats past period + grace raise their alert (resolved at the next ping)."""
    return heartbeats.check_heartbeats()
