"""The alerts page's table rows as HTML, built with `format_html` (every value escaped).

The rows were a template included once per row: about twenty variable lookups each through
Django's template engine (resolve, localize, escape) and a `reverse` per link, which made up most
of the page's 20–24 ms of CPU (docs/benchmarks.md, "the alerts list's CPU"). The markup is the
one `_alerts_row.html` had; `tests/dashboard/test_alerts_page.py` reads it back.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

_ROW = (
    "<tr>{pick}"
    '<td><span class="sev sev--{severity_class}">{severity}</span></td>'
    '<td class="break"><a href="{href}">{title}</a>'
    '<span class="sub">{type} · {source}{count}</span>'
    '<span class="sub narrow-only">{place} · {age} old</span></td>'
    '<td class="wide-only">{place}{where}</td>'
    '<td><span class="status status--{status_class}">{status}</span></td>'
    '<td class="wide-only">{assignee}</td>'
    '<td class="num wide-only"><time datetime="{first_seen}" title="First seen">{age}</time></td>'
    '<td class="num wide-only"><time datetime="{last_seen_iso}">{last_seen}</time></td>'
    "</tr>"
)
_PICK = (
    '<td class="alerts-table__pick"><input type="checkbox" name="ids" value="{}" '
    'aria-label="Select alert {}"></td>'
)
_SENTINEL = 918273645


def _detail_href(alert_id: int, pattern: str) -> str:
    return pattern.replace(str(_SENTINEL), str(alert_id))


def _row(r, *, can_pick: bool, pattern: str) -> SafeString:
    alert = r.alert
    site = alert.site
    where = (
        format_html(
            '<span class="sub">{}{}</span>',
            site.city,
            format_html(", {}", site.state) if site.state else "",
        )
        if site is not None
        else ""
    )
    return format_html(
        _ROW,
        pick=format_html(_PICK, alert.id, alert.id) if can_pick else "",
        severity_class=alert.severity.lower(),
        severity=alert.severity,
        href=_detail_href(alert.id, pattern),
        title=r.title,
        type=alert.type,
        source=alert.source,
        count=format_html(" · ×{}", alert.occurrence_count) if alert.occurrence_count > 1 else "",
        place=r.place,
        where=where,
        status_class=alert.status.lower(),
        status=alert.status,
        assignee=r.assignee or "—",
        first_seen=timezone.localtime(alert.first_seen_at).isoformat(),
        age=r.age,
        last_seen_iso=timezone.localtime(alert.last_seen_at).isoformat(),
        last_seen=r.last_seen,
    )


def rows_html(rows: list, *, can_pick: bool) -> SafeString:
    """The `<tr>`s of `rows` (alerts_views.Row)."""
    pattern = reverse("dashboard:alert", args=[_SENTINEL])
    # each row is already escaped by format_html: joined as they are
    return SafeString("".join(_row(r, can_pick=can_pick, pattern=pattern) for r in rows))
