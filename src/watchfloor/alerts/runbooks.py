"""Runbooks, read side: which runbook answers an alert, who may read which, and the Markdown
rendered safely.

Lookup: a runbook of the alert's type for the alert's client wins over the tenant's general
runbook of that type. `runbooks_for(alerts)` answers a whole list in one query.

Rendering: markdown-it-py with raw HTML off (`<script>` comes out as text), links only to
http(s), mailto and relative addresses (`javascript:`, `data:`, `vbscript:` stay text), no
images (a page never loads anything from outside), and every link opens with
`rel="noopener noreferrer nofollow"`. Text is masked for the reader before it is rendered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from watchfloor.access.masking import masked_for
from watchfloor.access.scope import scope_of
from watchfloor.alerts.models import Alert, Runbook

SAFE_SCHEMES = {"http", "https", "mailto"}


def _safe_link(url: str) -> bool:
    """Absolute links to http(s) and mailto, or relative ones (`/alerts/`, `#step-2`)."""
    cleaned = "".join(ch for ch in url if ch > " ").strip()
    if not cleaned:
        return False
    scheme = urlsplit(cleaned).scheme.lower()
    if scheme:
        return scheme in SAFE_SCHEMES
    # no scheme: a relative address, unless the browser would read one ("java\tscript:")
    return ":" not in cleaned.split("/", 1)[0]


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")
    md.validateLink = _safe_link  # type: ignore[method-assign]

    def link_open(renderer, tokens, idx, options, env):
        tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


_MD = _markdown()


def render_markdown(text: str) -> SafeString:
    """Markdown as HTML that is safe to put in a page (see the module's docstring)."""
    return mark_safe(_MD.render(text or ""))


def safe_url(url: str) -> str:
    """A runbook's URL if it may be a link (http/https), else ""."""
    return url if urlsplit(url or "").scheme.lower() in {"http", "https"} else ""


# --- who reads which ---------------------------------------------------------------------------
def runbooks_visible(user) -> QuerySet[Runbook]:
    """The tenant's general runbooks and the client-specific ones of clients the user sees."""
    scope = scope_of(user)
    if scope.tenant_id is None:
        return Runbook.objects.none()
    mine = Runbook.objects.restrict(scope).filter(client__isnull=False).values("id")
    return Runbook.objects.filter(
        Q(client__isnull=True) | Q(id__in=mine), tenant_id=scope.tenant_id
    ).select_related("client", "updated_by")


def access_runbook(user, runbook_id) -> Runbook:
    """The runbook, or the same 404 whether it is missing or out of the user's scope."""
    try:
        return runbooks_visible(user).get(pk=runbook_id)
    except (Runbook.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None


# --- which runbook answers an alert ------------------------------------------------------------
def runbooks_for(alerts: Iterable[Alert]) -> dict[int, Runbook]:
    """{alert id: its runbook} for the alerts that have one, in one query: the alert's client's
    runbook of its type, else the tenant's general one of that type."""
    alerts = list(alerts)
    if not alerts:
        return {}
    wanted = Q()
    for tenant_id, alert_type in {(a.tenant_id, a.type) for a in alerts}:
        wanted |= Q(tenant_id=tenant_id, alert_type=alert_type)
    found: dict[tuple[int, str, int | None], Runbook] = {
        (r.tenant_id, r.alert_type, r.client_id): r
        for r in Runbook.objects.filter(wanted).select_related("client")
    }
    answer = {}
    for alert in alerts:
        runbook = found.get((alert.tenant_id, alert.type, alert.client_id)) or found.get(
            (alert.tenant_id, alert.type, None)
        )
        if runbook is not None:
            answer[alert.id] = runbook
    return answer


def runbook_for(alert: Alert) -> Runbook | None:
    return runbooks_for([alert]).get(alert.id)


# --- how a reader sees one ---------------------------------------------------------------------
@dataclass(frozen=True)
class RunbookView:
    """A runbook as one reader sees it: free text masked for them, the body rendered."""

    id: int
    alert_type: str
    client_id: int | None
    title: str
    body: str
    html: SafeString
    url: str


def runbook_view(runbook: Runbook, *, can_view_pii: bool) -> RunbookView:
    body = masked_for(None, runbook.body, can_view_pii=can_view_pii)
    return RunbookView(
        id=runbook.id,
        alert_type=runbook.alert_type,
        client_id=runbook.client_id,
        title=masked_for(None, runbook.title, can_view_pii=can_view_pii),
        body=body,
        html=render_markdown(body),
        url=safe_url(masked_for(None, runbook.url, can_view_pii=can_view_pii)),
    )
