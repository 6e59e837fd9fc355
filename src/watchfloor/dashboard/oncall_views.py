"""The on-call page: who is on call now in each schedule and their next handoff, the next 14
days as a timeline, the person's own calendar feeds, and (with `noc:configure`) forms to create
a schedule, add a rotation layer, add an override and import an .ics file.

Reading needs `noc:view`; the writes go through `oncall.schedule_services` (which check
`noc:configure`, validate and audit). One `timelines` call draws every schedule, so the page
costs a fixed number of queries whatever the number of schedules. The calendar feed
(`/oncall/calendar/<token>.ics`) needs no session: the token in the URL is the credential.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_text, person_view
from watchfloor.access.scope import has_capability
from watchfloor.dashboard.denied import forbidden
from watchfloor.dashboard.forms import storable_text
from watchfloor.oncall import ical, schedule_services
from watchfloor.oncall.models import LayerKind, ShiftLength
from watchfloor.oncall.rotation import instant, next_handoff, timelines, wall_clock, zone
from watchfloor.oncall.schedule_queries import (
    access_feed,
    access_layer,
    access_override,
    access_schedule,
    feed_owner,
    feeds_of,
    overrides_by_schedule,
    people_for,
    schedules_for,
    users_by_id,
)
from watchfloor.tenancy.models import validate_timezone

DAYS = 14
MEMBER_SLOTS = 8
PALETTE = 8  # person colours on the timeline (.tl-seg--c0 … c7)
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


# --- forms ---------------------------------------------------------------------------------------
class ScheduleForm(forms.Form):
    name = forms.CharField(max_length=100, validators=[storable_text])
    time_zone = forms.CharField(max_length=64, initial="UTC", validators=[storable_text])
    description = forms.CharField(max_length=500, required=False, validators=[storable_text])

    def clean_time_zone(self):
        value = self.cleaned_data["time_zone"].strip()
        try:
            validate_timezone(value)
        except ValidationError:
            raise forms.ValidationError("Unknown time zone (e.g. Europe/Berlin).") from None
        return value


def _local_field(label: str, **kw) -> forms.DateTimeField:
    return forms.DateTimeField(label=label, input_formats=LOCAL_FORMATS, **kw)


class LayerForm(forms.Form):
    name = forms.CharField(max_length=100, validators=[storable_text])
    position = forms.IntegerField(min_value=0, max_value=1000, initial=0)
    shift_length = forms.ChoiceField(choices=ShiftLength.choices, initial=ShiftLength.WEEKLY)
    shift_hours = forms.IntegerField(min_value=1, max_value=720, required=False)
    rotation_start = _local_field("First handoff (schedule's local time)")

    def __init__(self, *args, people=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "—")] + [(p["id"], p["label"]) for p in people]
        for i in range(MEMBER_SLOTS):
            self.fields[f"member_{i}"] = forms.TypedChoiceField(
                label=f"{i + 1}.", choices=choices, coerce=int, required=i == 0, empty_value=None
            )

    def member_fields(self):
        return [self[f"member_{i}"] for i in range(MEMBER_SLOTS)]

    def member_ids(self) -> list[int]:
        return [
            self.cleaned_data[f"member_{i}"]
            for i in range(MEMBER_SLOTS)
            if self.cleaned_data.get(f"member_{i}")
        ]


class OverrideForm(forms.Form):
    user_id = forms.TypedChoiceField(label="Person", coerce=int)
    starts_at = _local_field("Starts (schedule's local time)")
    ends_at = _local_field("Ends (schedule's local time)")
    reason = forms.CharField(max_length=300, required=False, validators=[storable_text])

    def __init__(self, *args, people=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user_id"].choices = [(p["id"], p["label"]) for p in people]


class UploadForm(forms.Form):
    name = forms.CharField(max_length=100, validators=[storable_text])
    position = forms.IntegerField(min_value=0, max_value=1000, initial=1)
    file = forms.FileField(label=".ics file")


# --- what the template shows ---------------------------------------------------------------------
@dataclass
class Segment:
    label: str
    title: str
    left: float
    width: float
    colour: int
    source: str


@dataclass
class Card:
    schedule: object
    now_people: list[str]
    next_handoff_utc: str
    next_handoff_local: str
    segments: list[Segment]
    layers: list[dict]
    overrides: list[dict] = field(default_factory=list)
    forms: dict = field(default_factory=dict)
    error: str = ""


def _label(person: dict | None) -> str:
    if person is None:
        return "?"
    return person["full_name"] or person["username"]


def _fmt(moment: datetime | None, tz: zoneinfo.ZoneInfo | None = None) -> str:
    if moment is None:
        return ""
    here = moment.astimezone(tz or UTC)
    return f"{here:%a %d %b %H:%M} {here.tzname()}"


def _people_choices(user, pii: bool) -> list[dict]:
    return [{"id": p.id, "label": _label(person_view(p, pii))} for p in people_for(user)[:1000]]


def _moment_param(value: str | None) -> datetime | None:
    """`?at=2026-06-01T09:00` (UTC) as an aware moment, or None when absent or not a date in
    2000–2100 (the page then shows now)."""
    if not value or len(value) > 40:
        return None
    for fmt in LOCAL_FORMATS:
        try:
            moment = datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        if datetime(2000, 1, 1, tzinfo=UTC) <= moment < datetime(2100, 1, 1, tzinfo=UTC):
            return moment
    return None


def _context(request, *, bound: dict | None = None, new_feed_url: str = "", status_error=""):
    """`bound`: {(schedule id or None, form kind): bound form} to show with its errors."""
    user = request.user
    bound = bound or {}
    pii = has_capability(user, Capability.VIEW_PII)
    configure = has_capability(user, Capability.CONFIGURE)
    real_now = timezone.now().astimezone(UTC)
    at = _moment_param(request.GET.get("at")) if request.method == "GET" else None
    now = at or real_now
    start = now.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(days=DAYS)
    schedules = list(schedules_for(user)[:200])
    upcoming = overrides_by_schedule(user, [s.id for s in schedules], real_now) if schedules else {}
    found = timelines([s.id for s in schedules], start, end) if schedules else {}
    ids = {sh.user_id for merged, _ in found.values() for sh in merged}
    people = {i: person_view(u, pii) for i, u in users_by_id(user, ids).items()}
    choices = _people_choices(user, pii) if configure else []
    span = (end - start).total_seconds()
    cards = []
    for schedule in schedules:
        tz = zone(schedule.time_zone)
        merged, _layers = found.get(schedule.id, ([], {}))
        on_now = [sh for sh in merged if sh.starts_at <= now < sh.ends_at]
        handoff = next_handoff(merged, now)
        segments = [
            Segment(
                label=_label(people.get(sh.user_id)),
                title=(
                    f"{_label(people.get(sh.user_id))}: {_fmt(sh.starts_at, tz)} – "
                    f"{_fmt(sh.ends_at, tz)} ({sh.source})"
                ),
                left=round((sh.starts_at - start).total_seconds() / span * 100, 3),
                width=round((sh.ends_at - sh.starts_at).total_seconds() / span * 100, 3),
                colour=sh.user_id % PALETTE,
                source=sh.source,
            )
            for sh in merged
        ]
        layers = [
            {
                "id": la.id,
                "name": la.name,
                "position": la.position,
                "kind": la.kind,
                "detail": (
                    f"{la.get_shift_length_display().lower()}"
                    + (f" ({la.shift_hours} h)" if la.shift_hours else "")
                    + f", from {wall_clock(la.rotation_start):%Y-%m-%d %H:%M} local"
                    if la.kind == LayerKind.ROTATION and la.rotation_start
                    else ("feed" if la.ical_url else "uploaded file")
                ),
                "members": [_label(person_view(m.user, pii)) for m in la.members.all()]
                if la.kind == LayerKind.ROTATION
                else [],
                "error": la.ical_error,
            }
            for la in schedule.layers.all()
        ]
        overrides = [
            {
                "id": o.id,
                "person": _label(person_view(o.user, pii)),
                "starts": _fmt(o.starts_at, tz),
                "ends": _fmt(o.ends_at, tz),
                "reason": o.reason if pii else mask_text(o.reason),
            }
            for o in upcoming.get(schedule.id, [])
        ]
        card = Card(
            schedule=schedule,
            overrides=overrides,
            now_people=list(dict.fromkeys(_label(people.get(sh.user_id)) for sh in on_now)),
            next_handoff_utc=_fmt(handoff),
            next_handoff_local=_fmt(handoff, tz) if schedule.time_zone != "UTC" else "",
            segments=segments,
            layers=layers,
        )
        if configure:
            card.forms = {
                "layer": bound.get((schedule.id, "layer")) or LayerForm(people=choices),
                "override": bound.get((schedule.id, "override")) or OverrideForm(people=choices),
                "upload": bound.get((schedule.id, "upload")) or UploadForm(),
            }
        cards.append(card)
    days = [
        {"label": f"{d:%a %d}", "left": round(i / DAYS * 100, 3)}
        for i, d in enumerate(start + timedelta(days=n) for n in range(DAYS))
    ]
    return {
        "nav": "oncall",
        "cards": cards,
        "days": days,
        "start": _fmt(start),
        "at": at,
        "at_value": f"{now:%Y-%m-%dT%H:%M}",
        "at_label": _fmt(at) if at else "",
        "now_left": round((now - start).total_seconds() / span * 100, 3),
        "configure": configure,
        "can_view_pii": pii,
        "schedule_form": bound.get((None, "schedule")) or ScheduleForm(),
        "feeds": list(feeds_of(user).filter(revoked_at__isnull=True)[:20]),
        "new_feed_url": new_feed_url,
        "error": status_error,
    }


def _page(request, status=200, **kw):
    return render(request, "dashboard/oncall.html", _context(request, **kw), status=status)


@require_safe
@login_required
def oncall(request):
    if not has_capability(request.user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    return _page(request)


def _guard(request, *, configure=True):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    if configure and not has_capability(user, Capability.CONFIGURE):
        return forbidden(request, Capability.CONFIGURE, nav="oncall")
    return None


def _add_errors(form: forms.Form, exc: ValidationError, mapping: dict | None = None) -> None:
    for name, errors in exc.message_dict.items():
        name = (mapping or {}).get(name, name)
        form.add_error(name if name in form.fields else None, errors)


@require_POST
@login_required
def schedule_create(request):
    if (denied := _guard(request)) is not None:
        return denied
    form = ScheduleForm(request.POST)
    if form.is_valid():
        try:
            schedule = schedule_services.create_schedule(
                request.user.tenant, actor=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Schedule “{schedule.name}” created.")
            return redirect("dashboard:oncall")
    return _page(request, 422, bound={(None, "schedule"): form})


def _local(value: datetime, tz_name: str) -> datetime:
    """A datetime-local input's value (naive, the schedule's wall time) as an instant."""
    return instant(value.replace(tzinfo=None), zone(tz_name))


@require_POST
@login_required
def layer_create(request, schedule_id: int):
    if (denied := _guard(request, configure=False)) is not None:
        return denied
    schedule = access_schedule(request.user, schedule_id)
    if (denied := _guard(request)) is not None:
        return denied
    pii = has_capability(request.user, Capability.VIEW_PII)
    form = LayerForm(request.POST, people=_people_choices(request.user, pii))
    if form.is_valid():
        data = form.cleaned_data
        try:
            schedule_services.create_rotation_layer(
                schedule,
                actor=request.user,
                name=data["name"],
                position=data["position"],
                shift_length=data["shift_length"],
                shift_hours=data["shift_hours"],
                rotation_start=data["rotation_start"].replace(tzinfo=None),
                member_ids=form.member_ids(),
            )
        except ValidationError as exc:
            _add_errors(form, exc, {"member_ids": "member_0"})
        else:
            messages.success(request, f"Layer added to “{schedule.name}”.")
            return redirect("dashboard:oncall")
    return _page(request, 422, bound={(schedule.id, "layer"): form})


@require_POST
@login_required
def override_create(request, schedule_id: int):
    if (denied := _guard(request, configure=False)) is not None:
        return denied
    schedule = access_schedule(request.user, schedule_id)
    if (denied := _guard(request)) is not None:
        return denied
    pii = has_capability(request.user, Capability.VIEW_PII)
    form = OverrideForm(request.POST, people=_people_choices(request.user, pii))
    if form.is_valid():
        data = form.cleaned_data
        try:
            schedule_services.create_override(
                schedule,
                actor=request.user,
                user_id=data["user_id"],
                starts_at=_local(data["starts_at"], schedule.time_zone),
                ends_at=_local(data["ends_at"], schedule.time_zone),
                reason=data["reason"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Override added to “{schedule.name}”.")
            return redirect("dashboard:oncall")
    return _page(request, 422, bound={(schedule.id, "override"): form})


@require_POST
@login_required
def ical_upload(request, schedule_id: int):
    if (denied := _guard(request, configure=False)) is not None:
        return denied
    schedule = access_schedule(request.user, schedule_id)
    if (denied := _guard(request)) is not None:
        return denied
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > ical.MAX_ICAL_BYTES:
                raise ValidationError({"file": f"At most {ical.MAX_ICAL_BYTES} bytes."})
            text = ical.decode_upload(upload.read(ical.MAX_ICAL_BYTES + 1), field_name="file")
            done = schedule_services.create_ical_layer(
                schedule,
                actor=request.user,
                name=form.cleaned_data["name"],
                position=form.cleaned_data["position"],
                ical_text=text,
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            report = done.report
            note = f"Calendar imported: {report.matched} of {report.occurrences} shifts matched."
            if report.unmatched_count:
                note += (
                    f" {report.unmatched_count} name nobody known here (match a username or "
                    "email in the summary, attendee or organizer)."
                )
                messages.warning(request, note)
            else:
                messages.success(request, note)
            return redirect("dashboard:oncall")
    return _page(request, 422, bound={(schedule.id, "upload"): form})


@require_POST
@login_required
def feed_create(request):
    if (denied := _guard(request, configure=False)) is not None:
        return denied
    new = schedule_services.create_calendar_feed(actor=request.user)
    url = request.build_absolute_uri(
        reverse("dashboard:oncall_calendar", kwargs={"token": new.token})
    )
    # answered here, not through a redirect: the secret URL is never stored in the session
    return _page(request, 201, new_feed_url=url)


@require_POST
@login_required
def feed_revoke(request, feed_id: int):
    if (denied := _guard(request, configure=False)) is not None:
        return denied
    feed = access_feed(request.user, feed_id)
    schedule_services.revoke_calendar_feed(feed, actor=request.user)
    messages.success(request, f"Calendar feed {feed.prefix}… revoked.")
    return redirect("dashboard:oncall")


@require_safe
def calendar_feed(request, token: str):
    """A person's shifts as iCalendar; unknown and revoked tokens are the same 404."""
    owner = feed_owner(token)
    if owner is None:
        raise Http404("Not found.")
    response = HttpResponse(ical.person_feed(owner), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Disposition"] = 'inline; filename="watchfloor-oncall.ics"'
    return response


@require_POST
@login_required
def layer_delete(request, layer_id: int):
    if (denied := _guard(request, configure=False)) is not None:
        return denied
    layer = access_layer(request.user, layer_id)
    if (denied := _guard(request)) is not None:
        return denied
    schedule_services.delete_layer(layer, actor=request.user)
    messages.success(request, f"Layer “{layer.name}” removed.")
    return redirect("dashboard:oncall")


@require_POST
@login_required
def override_delete(request, override_id: int):
    if (denied := _guard(request, configure=False)) is not None:
        return denied
    override = access_override(request.user, override_id)
    if (denied := _guard(request)) is not None:
        return denied
    schedule_services.delete_override(override, actor=request.user)
    messages.success(request, "Override removed.")
    return redirect("dashboard:oncall")


@require_POST
@login_required
def schedule_delete(request, schedule_id: int):
    if (denied := _guard(request, configure=False)) is not None:
        return denied
    schedule = access_schedule(request.user, schedule_id)
    if (denied := _guard(request)) is not None:
        return denied
    if request.POST.get("confirm") != "yes":
        return _page(
            request, 422, status_error="Tick the box to confirm you want to delete the schedule."
        )
    schedule_services.delete_schedule(schedule, actor=request.user)
    messages.success(request, f"Schedule “{schedule.name}” deleted.")
    return redirect("dashboard:oncall")
