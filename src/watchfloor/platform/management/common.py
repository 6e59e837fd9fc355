"""Small helpers shared by the management commands."""

from __future__ import annotations


def secret_status(obj, now) -> str:
    """`active`, `expired` or `revoked`, for an API token or an integration key."""
    if obj.revoked_at:
        return "revoked"
    if obj.expires_at and obj.expires_at <= now:
        return "expired"
    return "active"
