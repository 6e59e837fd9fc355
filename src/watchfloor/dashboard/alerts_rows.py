"""The alerts page's table rows and filter options as HTML, every value escaped here.

The rows were a template included once per row: about twenty variable lookups each through
Django's template engine (resolve, localize, escape) and a `reverse` per link; with the filter
form's options (a template loop with a filter per client, site and person) they made up most of
the page's 20–24 ms of CPU (docs/benchmarks.md, "the alerts list's CPU"). `format_html` halved
that; its lazy-aware `escape` was then the larger part, so values go through `html.escape`, which
is what Django's `escape` calls (quote=True). The markup is the one `_alerts_row.html` had;
`tests/dashboard/test_alerts_page.py` reads it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

_SENTINEL = 918273645


def _e(value: object) -> str:
    return escape(str(value))


def _row(r, *, can_pick: bool, pattern: str) -> str:
    alert = r.alert
    site = alert.site
    aid = str(alert.id)
    pick = (
        f'<td class="alerts-table__pick"><input type="checkbox" name="ids" value="{aid}" '
        f'aria-label="Select alert {aid}"></td>'
        if can_pick
        else ""
    )
    count = f" · ×{alert.occurrence_count}" if alert.occurrence_count > 1 else ""
    where = ""
    if site is not None:
        state = f", {_e(site.state)}" if site.state else ""
        where = f'<span class="sub">{_e(site.city)}{state}</span>'
    place, age = _e(r.place), _e(r.age)
    severity, status = _e(alert.severity), _e(alert.status)
    first_seen = timezone.localtime(alert.first_seen_at).isoformat()
    last_seen = timezone.localtime(alert.last_seen_at).isoformat()
    return (
        f"<tr>{pick}"
        f'<td><span class="sev sev--{severity.lower()}">{severity}</span></td>'
        f'<td class="break"><a href="{_e(pattern.replace(str(_SENTINEL), aid))}">{_e(r.title)}</a>'
        f'<span class="sub">{_e(alert.type)} · {_e(alert.source)}{count}</span>'
        f'<span class="sub narrow-only">{place} · {age} old</span></td>'
        f'<td class="wide-only">{place}{where}</td>'
        f'<td><span class="status status--{status.lower()}">{status}</span></td>'
        f'<td class="wide-only">{_e(r.assignee or "—")}</td>'
        f'<td class="num wide-only">'
        f'<time datetime="{first_seen}" title="First seen">{age}</time></td>'
        f'<td class="num wide-only"><time datetime="{last_seen}">{_e(r.last_seen)}</time></td>'
        "</tr>"
    )


def rows_html(rows: list, *, can_pick: bool) -> SafeString:
    """The `<tr>`s of `rows` (alerts_views.Row)."""
    pattern = reverse("dashboard:alert", args=[_SENTINEL])
    return SafeString("".join(_row(r, can_pick=can_pick, pattern=pattern) for r in rows))


def options_html(choices: Iterable[tuple[int, str]], chosen: set[str]) -> SafeString:
    """`<option>`s, the chosen ones selected."""
    return SafeString(
        "".join(
            f'<option value="{_e(value)}"{" selected" if str(value) in chosen else ""}>'
            f"{_e(label)}</option>"
            for value, label in choices
        )
    )
