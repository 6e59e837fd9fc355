"""Helpers for the incident tests: alerts made directly (no pipeline), in an estate."""

from __future__ import annotations

from django.utils import timezone

from watchfloor.alerts.models import Alert, Severity


def make_alert(estate, n: int, *, site=None, client=None, severity=Severity.HIGH, **kw) -> Alert:
    """Alert number `n` of the estate (its fingerprint is unique per tenant and n), on the first
    site unless told."""
    now = timezone.now()
    site = site if site is not None else estate.sites[0]
    return Alert.objects.create(
        tenant=estate.tenant,
        client=client or site.client,
        site=site,
        source="native",
        type=kw.pop("type", "DEVICE_OFFLINE"),
        severity=severity,
        title=kw.pop("title", f"alert {n}"),
        fingerprint=f"fp-{estate.tenant.slug}-{n}",
        content_hash="x",
        first_seen_at=now,
        last_seen_at=now,
        created_at=now,
        updated_at=now,
        **kw,
    )
