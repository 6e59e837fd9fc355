"""The incidents pages: the list (filters, live), one incident (alerts, timeline, people, SLA
clocks, runbook, client updates, actions), "new incident from these alerts" from the alerts page,
and the tenant's incident policy (rules, SLA targets, reopen rule).

Thin: reads come from `dashboard.incident_list` and `incidents.queries`; every write is a form
posted here (CSRF) that calls one `incidents.services` verb with the user as actor — the service
checks the capability again, audits, appends to the timeline and publishes after commit — then
redirects back to the page (post/redirect/get) with the outcome as a message. The page's module
(js/incidents/*) re-reads the page's body when a live `incident.*` event concerns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_text, person_label
from watchfloor.access.scope import CapabilityDenied, has_capability
from watchfloor.alerts.models import Severity
from watchfloor.alerts.queries import access_alert, alerts_for
from watchfloor.alerts.runbooks import runbook_view, runbooks_for
from watchfloor.dashboard.alert_views import When, safe_url, zone_label
from watchfloor.dashboard.denied import forbidden
from watchfloor.dashboard.incident_list import (
    FilterError,
    IncidentFilters,
    incident_page,
    list_choices,
    overall,
    scoped_incidents,
)
from watchfloor.incidents import services
from watchfloor.incidents.models import (
    OPEN_INCIDENT_STATUSES,
    EventKind,
    Incident,
    IncidentAlert,
    IncidentStatus,
    Origin,
    ReopenRule,
    UpdatePhase,
)
from watchfloor.incidents.queries import (
    access_incident,
    assignable_people,
    sla_state,
    status_updates,
    timeline,
)
from watchfloor.incidents.status_updates import post_status_update

NOTE_MAX = 5000
TITLE_MAX = 500
FROM_ALERTS_MAX = 500


# --- the list --------------------------------------------------------------------------------


@require_safe
@login_required
def incidents_page(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    pii = has_capability(user, Capability.VIEW_PII)
    errors: dict[str, str] = {}
    listing = None
    f = IncidentFilters()
    try:
        f = IncidentFilters.parse(request.GET)
    except FilterError as exc:
        errors = exc.errors
    if not errors:
        listing = incident_page(user, f, now=timezone.now(), pii=pii)
    view = QueryDict(mutable=True)
    view.update(f.params)
    context = {
        "nav": "incidents",
        "f": f,
        "params": f.params,
        "view_query": view.urlencode(),
        "errors": errors,
        "listing": listing,
        "can_view_pii": pii,
        "can_configure": has_capability(user, Capability.CONFIGURE),
        "zone": zone_label(),
        **list_choices(user, f),
    }
    template = "dashboard/_incidents_body.html" if request.htmx else "dashboard/incidents.html"
    response = render(request, template, context, status=400 if errors else 200)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- one incident ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """One SLA target as the page shows it."""

    name: str  # "Acknowledge", "Resolve"
    due: When | None
    done: When | None
    state: str  # ok / at_risk / breached / met / missed / none
    words: str


def _clock(name: str, due, done, breached_at, state: str, now: datetime) -> Clock:
    due_when = When.of(due, None)
    if due is None:
        return Clock(name, None, When.of(done, None), "none", "No target")
    if done is not None:
        late = breached_at is not None or done > due
        side = "after" if late else "before"
        words = f"{'Missed' if late else 'Met'}: done {_span(done - due)} {side} the target"
        return Clock(name, due_when, When.of(done, None), "missed" if late else "met", words)
    if state == "breached" or now >= due:
        return Clock(name, due_when, None, "breached", f"Breached {_span(now - due)} ago")
    words = f"{_span(due - now)} left"
    return Clock(name, due_when, None, state, ("At risk: " if state == "at_risk" else "") + words)


def _span(delta: timedelta) -> str:
    seconds = abs(int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


STATUS_WORDS = {
    IncidentStatus.NEW: "new",
    IncidentStatus.ACKNOWLEDGED: "acknowledged",
    IncidentStatus.ASSIGNED: "assigned",
    IncidentStatus.IN_PROGRESS: "in progress",
    IncidentStatus.RESOLVED: "resolved",
    IncidentStatus.CLOSED: "closed",
}


# why an alert joined, as the timeline says it (services store the opening rule's origin or a
# short reason of the rules)
JOIN_REASONS = {
    Origin.CRITICAL_ALERT: "a critical alert",
    Origin.ALERT_GROUP: "related alerts",
    Origin.MANUAL: "selected by hand",
    "correlation group": "same correlation group",
    "reopened": "fired again, incident reopened",
}


def _status_word(value) -> str:
    try:
        return STATUS_WORDS[IncidentStatus(value)]
    except ValueError:
        return str(value).lower()


LINKS_SHOWN = 20  # alerts linked on one timeline line; the rest are counted


@dataclass(frozen=True)
class Line:
    """One timeline entry in words: who did what, when."""

    when: When
    kind: str
    who: str
    text: str
    body: str = ""
    link: tuple[str, str] | None = None
    links: tuple[tuple[str, str], ...] = ()  # several alerts: the first LINKS_SHOWN of them
    more: int = 0  # how many alerts beyond `links`


def _line(entry, names: dict[int, str]) -> Line:
    """`entry` is one item of `incidents.queries.timeline` (masked for the viewer)."""
    kind = entry["kind"]
    details = entry.get("details") or {}
    actor = entry.get("actor")
    who = (actor.get("full_name") or actor.get("username") or "someone") if actor else "Watchfloor"
    text, link = "", None
    links: tuple[tuple[str, str], ...] = ()
    more = 0

    def alert_link(key: str = "alert_id") -> tuple[str, str] | None:
        alert_id = details.get(key)
        return (
            (f"alert #{alert_id}", reverse("dashboard:alert", args=[alert_id]))
            if alert_id
            else None
        )

    def incident_link(key: str) -> tuple[str, str] | None:
        other = details.get(key)
        return (
            (f"incident #{other}", reverse("dashboard:incident", args=[other])) if other else None
        )

    if kind == EventKind.OPENED:
        origin = details.get("origin", "")
        text = {
            Origin.CRITICAL_ALERT: "opened it for a critical alert",
            Origin.ALERT_GROUP: "opened it for a group of related alerts",
            Origin.MANUAL: "opened it from selected alerts",
        }.get(origin, "opened it")
    elif kind == EventKind.STATUS:
        before = _status_word(details.get("from", "?"))
        text = f"changed the status from {before} to {_status_word(details.get('to', '?'))}"
    elif kind == EventKind.NOTE:
        text = "added a note"
    elif kind == EventKind.ALERT_JOINED:
        why = details.get("reason")
        why = f" ({JOIN_REASONS.get(why, why)})" if why else ""
        ids = [a for a in details.get("alert_ids") or () if isinstance(a, int)]
        if ids:  # the rules: every alert that joined in one go, one line
            noun = "an alert" if len(ids) == 1 else f"{len(ids)} alerts"
            text = f"added {noun}{why}:"
            links = tuple(
                (f"alert #{a}", reverse("dashboard:alert", args=[a])) for a in ids[:LINKS_SHOWN]
            )
            more = len(ids) - len(links)
        else:
            text, link = f"added an alert{why}:", alert_link()
    elif kind == EventKind.ALERT_LEFT:
        text, link = "took an alert out:", alert_link()
        if details.get("to_incident"):
            text = f"moved alert #{details.get('alert_id')} to"
            link = incident_link("to_incident")
    elif kind == EventKind.ALERT_RESOLVED:
        text, link = "resolved an alert:", alert_link()
    elif kind == EventKind.SEVERITY:
        text = f"severity changed from {details.get('from', '?')} to {details.get('to', '?')}"
    elif kind == EventKind.COMMANDER:
        commander = details.get("to")
        text = (
            f"made {names.get(commander, 'someone')} the commander"
            if commander
            else "removed the commander"
        )
    elif kind == EventKind.RESPONDER:
        if details.get("added"):
            text = f"added {names.get(details['added'], 'someone')} as a responder"
        elif details.get("removed"):
            text = f"removed {names.get(details['removed'], 'someone')} from the responders"
        else:
            text = "changed the responders"
    elif kind == EventKind.NOTIFICATION:
        n = details.get("deliveries")
        text = (
            f"paged the escalation policy ({n} notification{'s' if n != 1 else ''})"
            if n is not None
            else "sent notifications"
        )
    elif kind == EventKind.STATUS_UPDATE:
        phase = details.get("phase", "")
        text = f"posted a client status update{f' ({phase})' if phase else ''}"
    elif kind == EventKind.SLA_BREACH:
        target = details.get("target", "")
        text = f"the {target} target passed" if target else "an SLA target passed"
    elif kind == EventKind.MERGED:
        if details.get("into"):
            text, link = "merged this incident into", incident_link("into")
        else:
            text, link = "merged in", incident_link("from")
    elif kind == EventKind.EDITED:
        fields = details.get("fields") or []
        text = f"edited the {', '.join(fields)}" if fields else "edited the incident"
    else:
        text = str(kind)
    return Line(
        when=When.at(entry["at"], None),
        kind=str(kind),
        who=who,
        text=text,
        body=entry.get("body") or "",
        link=link,
        links=links,
        more=more,
    )


def _people_names(ids: set[int], pii: bool) -> dict[int, str]:
    if not ids:
        return {}
    people = (
        get_user_model()
        .objects.filter(pk__in=[i for i in ids if isinstance(i, int)])
        .only("id", "username", "first_name", "last_name")
    )
    return {p.pk: person_label(p, pii) or "" for p in people}


def _actions(user, incident: Incident) -> dict[str, bool]:
    can = lambda cap: has_capability(user, cap)  # noqa: E731
    is_open = incident.is_open
    assign = can(Capability.ASSIGN_INCIDENTS)
    return {
        "acknowledge": can(Capability.ACK_ALERTS) and incident.status == IncidentStatus.NEW,
        "assign": assign and is_open,
        "start": assign
        and incident.status in (IncidentStatus.ACKNOWLEDGED, IncidentStatus.ASSIGNED),
        "resolve": can(Capability.ACK_ALERTS) and is_open,
        "close": assign and incident.status == IncidentStatus.RESOLVED,
        "reopen": assign and incident.status == IncidentStatus.RESOLVED,
        "note": assign and incident.status != IncidentStatus.CLOSED,
        "edit": assign and incident.status != IncidentStatus.CLOSED,
        "status_update": assign and incident.status != IncidentStatus.CLOSED,
        "merge": assign and is_open,
        "move": assign and is_open,
    }


def _detail_context(request, incident: Incident) -> dict:
    user = request.user
    pii = has_capability(user, Capability.VIEW_PII)
    now = timezone.now()
    members = list(
        IncidentAlert.objects.filter(incident=incident, left_at__isnull=True)
        .select_related("alert", "alert__site", "alert__client")
        .order_by("joined_at", "id")[:500]
    )
    entries = list(timeline(incident, user))
    responders = list(incident.responder_rows.select_related("user").order_by("added_at", "id"))
    mentioned: set[int] = set()
    for entry in entries:
        details = entry.get("details") or {}
        for key in ("to", "added", "removed"):
            if isinstance(details.get(key), int):
                mentioned.add(details[key])
    names = _people_names(mentioned, pii)
    state = sla_state(incident, now)
    clocks = [
        _clock(
            "Acknowledge",
            incident.ack_due_at,
            incident.acknowledged_at,
            incident.ack_breached_at,
            state.get("acknowledge", "ok"),
            now,
        ),
        _clock(
            "Resolve",
            incident.resolve_due_at,
            incident.resolved_at,
            incident.resolve_breached_at,
            state.get("resolve", "ok"),
            now,
        ),
    ]
    actions = _actions(user, incident)
    people = []
    if actions["assign"]:
        people = [
            (p.pk, person_label(p, pii) or p.get_username())
            for p in assignable_people(incident)[:500]
        ]
    targets = []
    if actions["merge"] or actions["move"]:
        targets = [
            (i.pk, i.title if pii else mask_text(i.title))
            for i in scoped_incidents(user)
            .filter(status__in=OPEN_INCIDENT_STATUSES)
            .exclude(pk=incident.pk)
            .only("id", "title")
            .order_by("-opened_at", "-id")[:200]
        ]
    updates = status_updates(incident)
    # one runbook panel per alert type of the incident (its client's runbook where it has one)
    books = runbooks_for([m.alert for m in members])
    runbooks: dict[str, object] = {}
    for m in members:
        book = books.get(m.alert.pk)
        if m.alert.type not in runbooks or (book is not None and runbooks[m.alert.type] is None):
            runbooks[m.alert.type] = (
                runbook_view(book, can_view_pii=pii) if book is not None else None
            )
    return {
        "nav": "incidents",
        "i": incident,
        "title": incident.title if pii else mask_text(incident.title),
        "summary": incident.summary if pii else mask_text(incident.summary),
        "resolution_note": incident.resolution_note if pii else mask_text(incident.resolution_note),
        "external_ref": incident.external_ref if pii else mask_text(incident.external_ref),
        # the edit form is prefilled with what the reader may see; a field holding personal
        # data they may not see starts blank, and blank keeps it as it is
        "edit": {
            name: value if pii or mask_text(value) == value else ""
            for name, value in (
                ("title", incident.title),
                ("summary", incident.summary),
                ("runbook_url", incident.runbook_url),
                ("external_ref", incident.external_ref),
            )
        },
        "place": _place(incident),
        "commander": person_label(incident.commander, pii) if incident.commander_id else "",
        "responders": [(r.user_id, person_label(r.user, pii) or "") for r in responders],
        "responder_ids": {r.user_id for r in responders},
        "members": [
            {
                "alert": m.alert,
                "title": m.alert.title if pii else mask_text(m.alert.title),
                "joined": When.at(m.joined_at, None),
            }
            for m in members
        ],
        "lines": [_line(e, names) for e in entries],
        "updates": [
            {
                "phase": u.get_phase_display(),
                "body": u.body if pii else mask_text(u.body),
                "when": When.at(u.posted_at, None),
                "who": person_label(u.posted_by, pii) if u.posted_by_id else "Watchfloor",
            }
            for u in updates
        ],
        "clocks": clocks,
        "sla": overall(state) if incident.is_open else "",
        "opened": When.at(incident.opened_at, None),
        "runbook_url": safe_url(incident.runbook_url),
        "runbooks": sorted(runbooks.items())[:10],
        "actions": actions,
        "any_action": any(actions.values()),
        "people": people,
        "targets": targets,
        "phases": [(p.value, p.label) for p in UpdatePhase],
        "note_max": NOTE_MAX,
        "zone_label": zone_label(),
        "can_view_pii": pii,
    }


def _place(incident: Incident) -> str:
    if incident.client is None:
        return "Several clients"
    if incident.site is None:
        return incident.client.name
    return f"{incident.client.name} · {incident.site.name}"


@require_safe
@login_required
@ensure_csrf_cookie
def incident_detail(request, incident_id: int):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    incident = access_incident(user, incident_id)
    context = _detail_context(request, incident)
    template = "dashboard/_incident_body.html" if request.htmx else "dashboard/incident_detail.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- actions ---------------------------------------------------------------------------------


class Refused(ValueError):
    """A form value that cannot be used: the message names the field."""


def _text(post, name: str, *, label: str, required: bool, limit: int = NOTE_MAX) -> str:
    value = post.get(name, "").strip()
    if required and not value:
        raise Refused(f"{label}: write something.")
    if len(value) > limit:
        raise Refused(f"{label}: at most {limit} characters.")
    if "\x00" in value:
        raise Refused(f"{label}: contains a NUL character.")
    return value


def _id(post, name: str, *, label: str) -> int:
    value = post.get(name, "").strip()
    if not value.isdigit() or len(value) > 18 or int(value) < 1:
        raise Refused(f"{label}: choose one.")
    return int(value)


def _person(person_id: int, incident: Incident):
    """A person who may work on the incident (else the form's value is refused)."""
    person = assignable_people(incident).filter(pk=person_id).first()
    if person is None:
        raise Refused("That person cannot work on this incident.")
    return person


def _do(request, incident: Incident, action: str) -> str:
    """Run one action; returns the message to show. Raises Refused, CapabilityDenied or the
    services' errors."""
    user, post = request.user, request.POST
    if action == "acknowledge":
        services.acknowledge_incident(incident, actor=user)
        return "Acknowledged."
    if action == "assign":
        commander_id = post.get("commander", "").strip()
        commander = (
            _person(_id(post, "commander", label="Commander"), incident) if commander_id else None
        )
        responder_ids = []
        for value in post.getlist("responders"):
            if not value.isdigit() or len(value) > 18:
                raise Refused("Responders: choose people from the list.")
            responder_ids.append(int(value))
        if len(responder_ids) > 50:
            raise Refused("Responders: at most 50.")
        responders = [_person(pid, incident) for pid in dict.fromkeys(responder_ids)]
        if commander is None and not responders:
            raise Refused("Choose a commander or at least one responder.")
        services.assign_incident(incident, actor=user, commander=commander, responders=responders)
        return "People assigned."
    if action == "start":
        services.start_incident(incident, actor=user)
        return "Marked in progress."
    if action == "resolve":
        note = _text(post, "note", label="How was it resolved", required=True)
        services.resolve_incident(incident, actor=user, note=note)
        return "Resolved, with its open alerts."
    if action == "close":
        services.close_incident(incident, actor=user)
        return "Closed."
    if action == "reopen":
        reason = _text(post, "reason", label="Why reopen it", required=True)
        services.reopen_incident(incident, actor=user, reason=reason)
        return "Reopened."
    if action == "status_update":
        body = _text(post, "body", label="Update for the client", required=True)
        post_status_update(incident, actor=user, phase=post.get("phase", ""), body=body)
        return "Status update posted: it is on the client's status page."
    if action == "note":
        body = _text(post, "body", label="Note", required=True)
        services.add_note(incident, actor=user, body=body)
        return "Note added."
    if action == "edit":
        pii = has_capability(user, Capability.VIEW_PII)
        values: dict[str, str | None] = {
            "title": _text(post, "title", label="Title", required=False, limit=TITLE_MAX),
            "summary": _text(post, "summary", label="Summary", required=False),
            "runbook_url": _runbook(post),
            "external_ref": _text(
                post, "external_ref", label="Ticket or work order", required=False, limit=200
            ),
        }
        for name, value in list(values.items()):
            current = getattr(incident, name)
            hidden = not pii and mask_text(current) != current
            if not value and (name == "title" or hidden):
                values[name] = None  # left blank: kept as it is (the service skips None)
        services.edit_incident(incident, actor=user, **values)
        return "Saved."
    if action == "merge":
        target = access_incident(user, _id(post, "into", label="Merge into"))
        services.merge_incidents(incident, into=target, actor=user)
        return f"Merged into incident #{target.pk}."
    if action == "move":
        alert = access_alert(user, _id(post, "alert", label="Alert"))
        target = access_incident(user, _id(post, "target", label="Move to"))
        services.move_alert(alert, source=incident, target=target, actor=user)
        return f"Alert #{alert.pk} moved to incident #{target.pk}."
    raise Http404("No such action.")


def _runbook(post) -> str:
    value = _text(post, "runbook_url", label="Runbook link", required=False, limit=1000)
    if value and not safe_url(value):
        raise Refused("Runbook link: an http or https address.")
    return value


def _problem(exc: Exception) -> str:
    """What the page says about a refused action: the services' errors name their field."""
    if isinstance(exc, services.IncidentError):
        return f"{exc.field}: {exc}"[:500]
    return str(exc)[:500]


ACTIONS = (
    "acknowledge",
    "assign",
    "start",
    "resolve",
    "close",
    "reopen",
    "note",
    "status_update",
    "edit",
    "merge",
    "move",
)


@require_POST
@login_required
def incident_action(request, incident_id: int, action: str):
    user = request.user
    if action not in ACTIONS:
        raise Http404("No such action.")
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    incident = access_incident(user, incident_id)
    back = reverse("dashboard:incident", args=[incident.pk])
    try:
        done = _do(request, incident, action)
    except CapabilityDenied as exc:
        return forbidden(request, exc.capability)
    except Http404:
        raise
    except (Refused, services.IllegalTransition, ValueError) as exc:
        messages.error(request, _problem(exc))
        return HttpResponseRedirect(back)
    messages.success(request, done)
    if action == "merge":  # this one is closed now: show the one it went into
        incident.refresh_from_db(fields=["merged_into"])
        if incident.merged_into_id:
            back = reverse("dashboard:incident", args=[incident.merged_into_id])
    return HttpResponseRedirect(back)


# --- new incident from alerts ----------------------------------------------------------------


@require_POST
@login_required
def incident_from_alerts(request):
    """The alerts page's "New incident from these alerts": the selected alerts (in the user's
    scope; others are a 404 like any id out of scope) in one new incident."""
    user = request.user
    if not has_capability(user, Capability.ASSIGN_INCIDENTS):
        return forbidden(request, Capability.ASSIGN_INCIDENTS)
    back = reverse("dashboard:alerts")
    values = request.POST.getlist("ids")
    if (
        not values
        or len(values) > FROM_ALERTS_MAX
        or not all(v.isdigit() and len(v) < 19 for v in values)
    ):
        messages.error(request, f"Select between 1 and {FROM_ALERTS_MAX} alerts.")
        return HttpResponseRedirect(back)
    ids = list(dict.fromkeys(int(v) for v in values))
    alerts = list(alerts_for(user).filter(pk__in=ids).order_by("id"))
    if len(alerts) != len(ids):
        raise Http404("Not found.")
    try:
        title = _text(request.POST, "title", label="Title", required=False, limit=TITLE_MAX)
        incident = services.open_incident(
            alerts, actor=user, origin=Origin.MANUAL, title=title, tenant=user.tenant
        )
    except CapabilityDenied as exc:
        return forbidden(request, exc.capability)
    except (Refused, services.IllegalTransition, ValueError) as exc:
        messages.error(request, _problem(exc))
        return HttpResponseRedirect(back)
    messages.success(request, f"Incident #{incident.pk} opened with {len(alerts)} alert(s).")
    return HttpResponseRedirect(reverse("dashboard:incident", args=[incident.pk]))


# --- the incident policy ---------------------------------------------------------------------


SLA_MAX_MINUTES = 60 * 24 * 365


def _policy_form(post) -> tuple[dict, dict[str, str]]:
    errors: dict[str, str] = {}
    values: dict = {"open_on_critical": post.get("open_on_critical") == "on"}
    threshold = post.get("group_threshold", "").strip()
    if not threshold.isdigit() or not 0 <= int(threshold[:6]) <= 1000:
        errors["group_threshold"] = "A whole number from 0 (off) to 1000."
    else:
        values["group_threshold"] = int(threshold)
    types = [
        t.strip() for t in post.get("excluded_types", "").replace("\n", ",").split(",") if t.strip()
    ]
    if len(types) > 100:
        errors["excluded_types"] = "At most 100 types."
    elif any(len(t) > 100 or "\x00" in t for t in types):
        errors["excluded_types"] = "Each type at most 100 characters."
    else:
        values["excluded_types"] = list(dict.fromkeys(types))
    sla: dict[str, dict[str, int]] = {}
    for severity in Severity:
        sla[severity.value] = {}
        for target in ("acknowledge", "resolve"):
            name = f"sla_{severity.value}_{target}"
            raw = post.get(name, "").strip()
            if not raw.isdigit() or not 1 <= int(raw[:9]) <= SLA_MAX_MINUTES:
                errors[name] = f"Minutes, from 1 to {SLA_MAX_MINUTES}."
            else:
                sla[severity.value][target] = int(raw)
    for severity in Severity:
        got = sla[severity.value]
        if "acknowledge" in got and "resolve" in got and got["resolve"] < got["acknowledge"]:
            errors[f"sla_{severity.value}_resolve"] = "Not shorter than the time to acknowledge."
    values["sla_minutes"] = sla
    rule = post.get("reopen_rule", "")
    if rule not in ReopenRule.values:
        errors["reopen_rule"] = f"One of {', '.join(ReopenRule.values)}."
    else:
        values["reopen_rule"] = rule
    within = post.get("reopen_within_minutes", "").strip()
    if not within.isdigit() or not 1 <= int(within[:9]) <= 10080:
        errors["reopen_within_minutes"] = "Minutes, from 1 to 10080 (a week)."
    else:
        values["reopen_within_minutes"] = int(within)
    return values, errors


def _policy_rows(sla: dict) -> list[dict]:
    return [
        {
            "severity": s.value,
            "acknowledge": (sla.get(s.value) or {}).get("acknowledge", ""),
            "resolve": (sla.get(s.value) or {}).get("resolve", ""),
        }
        for s in Severity
    ]


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def incident_policy(request):
    user = request.user
    if not has_capability(user, Capability.CONFIGURE):
        return forbidden(request, Capability.CONFIGURE)
    if user.tenant_id is None:
        raise Http404("No tenant.")
    policy = services.policy_for(user.tenant_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        values, errors = _policy_form(request.POST)
        if not errors:
            try:
                services.update_policy(user.tenant_id, actor=user, **values)
            except CapabilityDenied as exc:
                return forbidden(request, exc.capability)
            except (services.IllegalTransition, ValueError) as exc:
                errors["policy"] = str(exc)[:500]
            else:
                messages.success(request, "Incident policy saved.")
                return HttpResponseRedirect(reverse("dashboard:incident_policy"))
        shown = {
            "open_on_critical": request.POST.get("open_on_critical") == "on",
            "group_threshold": request.POST.get("group_threshold", "")[:10],
            "excluded_types": request.POST.get("excluded_types", "")[:10000],
            "reopen_rule": request.POST.get("reopen_rule", ""),
            "reopen_within_minutes": request.POST.get("reopen_within_minutes", "")[:10],
        }
        rows = [
            {
                "severity": s.value,
                "acknowledge": request.POST.get(f"sla_{s.value}_acknowledge", "")[:10],
                "resolve": request.POST.get(f"sla_{s.value}_resolve", "")[:10],
            }
            for s in Severity
        ]
    else:
        shown = {
            "open_on_critical": policy.open_on_critical,
            "group_threshold": policy.group_threshold,
            "excluded_types": ", ".join(policy.excluded_types or []),
            "reopen_rule": policy.reopen_rule,
            "reopen_within_minutes": policy.reopen_within_minutes,
        }
        rows = _policy_rows(policy.sla_minutes or {})
    context = {
        "nav": "incidents",
        "policy": policy,
        "shown": shown,
        "rows": rows,
        "errors": errors,
        "reopen_rules": [(r.value, r.label) for r in ReopenRule],
        "updated": When.of(policy.updated_at, None),
        "updated_by": person_label(policy.updated_by, has_capability(user, Capability.VIEW_PII))
        if policy.updated_by_id
        else "",
    }
    return render(request, "dashboard/incident_policy.html", context, status=422 if errors else 200)
