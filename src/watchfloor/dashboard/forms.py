"""Forms of the dashboard pages. They parse and check input against the user's scope; the writes
(and the model's own rules) stay in the services."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

from django import forms
from django.http import Http404
from django.utils.dateparse import parse_datetime

from watchfloor.access.scope import access_client, access_site
from watchfloor.alerts.models import BuiltinType
from watchfloor.bounds import text_problem, time_problem
from watchfloor.maintenance.label_matchers import (
    MAX_TEXT_LENGTH,
    MatcherError,
    format_matchers,
    parse_matchers,
)
from watchfloor.maintenance.models import MAX_ALERT_TYPES, WindowKind
from watchfloor.maintenance.queries import may_write
from watchfloor.maintenance.recurrence import DAYS, MAX_DURATION

# datetime-local inputs send "2025-03-01T14:30"; the page labels them UTC
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
TYPE_MAX = 100
# the fields the template gives a help text (its id is `<input id>-help`)
HELP = {
    "scope": "A whole client covers all its sites, present and future.",
    "other_types": "Comma-separated, such as an Alertmanager alertname: HostDown, DiskFull.",
    "reason": "Shown to everyone who sees the window.",
    "matchers": 'Alertmanager label matchers, all must hold: {env="prod", instance=~"db-.*"}.',
    "zone": "The zone of the start and end times above (yours by default).",
    "repeat_zone": "Blank: the site's time zone (UTC for a whole client).",
}
# "now + duration" quick choices of the window form
LENGTHS = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "2h": timedelta(hours=2)}
LENGTHS["4h"] = timedelta(hours=4)
LENGTH_CHOICES = [
    ("15m", "Now + 15 min"),
    ("1h", "Now + 1 h"),
    ("2h", "Now + 2 h"),
    ("4h", "Now + 4 h"),
    ("custom", "Custom"),
]
DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class UtcDateTimeField(forms.DateTimeField):
    """A date and time read as UTC whatever the server's time zone (an explicit offset wins)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            parsed = value
        else:
            text = str(value).strip()
            try:
                parsed = parse_datetime(text)
            except ValueError:
                parsed = None
            for fmt in DATETIME_FORMATS:
                if parsed is not None:
                    break
                try:
                    parsed = datetime.strptime(text, fmt)
                except ValueError:
                    continue
        if parsed is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        # the API's one range, checked before converting (9999-12-31T23:59:59-05:00 overflows)
        if problem := time_problem(parsed):
            raise forms.ValidationError(problem, code="out_of_range")
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)


def storable_text(value: str) -> None:
    """A form validator with the API's rule for text (no NUL, no lone surrogate)."""
    if problem := text_problem(value):
        raise forms.ValidationError(problem)


def scope_choices(clients, sites, *, client_wide: bool) -> list:
    """Choices for the scope select: per client, the whole client (when allowed) then its sites."""
    by_client: dict[int, list] = {}
    for site in sites:
        place = ", ".join(p for p in (site.city, site.state) if p)
        label = f"{site.name} ({site.code})" + (f" · {place}" if place else "")
        by_client.setdefault(site.client_id, []).append((f"site:{site.id}", label))
    choices: list = [("", "Choose a client or a site…")]
    for client in clients:
        options = []
        if client_wide:
            options.append((f"client:{client.id}", f"All sites of {client.name} ({client.code})"))
        options += by_client.get(client.id, [])
        if options:
            choices.append((f"{client.name} ({client.code})", options))
    return choices


class LocalDateTimeField(UtcDateTimeField):
    """A date and time as typed, without a zone: the form places it in the zone it names."""

    def to_python(self, value):
        parsed = super().to_python(value)
        return None if parsed is None else parsed.replace(tzinfo=None)


def known_zone(value: str) -> str:
    if value not in zoneinfo.available_timezones():
        raise forms.ValidationError("Not a known time zone (an IANA name such as Europe/Berlin).")
    return value


class WindowForm(forms.Form):
    """Create a maintenance window: scope is `client:<id>` (the whole client) or `site:<id>`.

    Times are typed in `zone` (the user's, else the browser's, else UTC) and stored in UTC;
    `length` "now + 15 min/1 h/2 h/4 h" sets them from the current time. With weekdays ticked
    the window recurs and the two times bound the series."""

    help = HELP

    title = forms.CharField(max_length=200)
    scope = forms.ChoiceField(label="Covers")
    kind = forms.ChoiceField(choices=WindowKind.choices, initial=WindowKind.PLANNED)
    length = forms.ChoiceField(
        choices=LENGTH_CHOICES,
        initial="custom",
        required=False,
        widget=forms.RadioSelect,
        label="When",
    )
    starts_at = LocalDateTimeField(label="Starts", required=False)
    ends_at = LocalDateTimeField(label="Ends", required=False)
    zone = forms.CharField(
        max_length=64,
        required=False,
        label="Time zone",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "UTC"}),
    )
    alert_types = forms.MultipleChoiceField(
        choices=[(t.value, t.value) for t in BuiltinType],  # as alerts name them
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Alert types",
    )
    other_types = forms.CharField(required=False, max_length=5000, label="Other types")
    matchers = forms.CharField(
        required=False,
        max_length=MAX_TEXT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono", "spellcheck": "false"}),
        label="Label matchers",
    )
    repeat_days = forms.MultipleChoiceField(
        choices=list(zip(DAYS, DAY_LABELS, strict=True)),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Repeat every week on",
    )
    repeat_start = forms.TimeField(
        required=False,
        label="From (local time)",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    repeat_minutes = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=int(MAX_DURATION.total_seconds() // 60),
        label="For (minutes)",
    )
    repeat_zone = forms.CharField(max_length=64, required=False, label="Repeat in time zone")
    reason = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, user, clients, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["scope"].choices = scope_choices(
            clients, sites, client_wide=may_write(user, site=None)
        )
        self.client = None
        self.site = None
        for name in HELP:
            self._describe(name)

    def _describe(self, name: str) -> None:
        """Point the input at its help and error texts (ids the template gives them)."""
        field = self.fields[name]
        base = str(self.auto_id) % name
        ids = [f"{base}-help"] if name in HELP else []
        if name in self.errors:
            ids.append(f"{base}-error")
            field.widget.attrs["aria-invalid"] = "true"
        if ids:
            field.widget.attrs["aria-describedby"] = " ".join(ids)

    def add_error(self, field, error):
        super().add_error(field, error)
        for name in list(self.errors):
            if name in self.fields:
                self._describe(name)

    def clean_scope(self):
        value = self.cleaned_data["scope"]
        kind, _, ident = value.partition(":")
        try:
            if kind == "client":
                self.client = access_client(self.user, ident)
            elif kind == "site":
                self.site = access_site(self.user, ident)
                self.client = self.site.client
            else:
                raise Http404
        except Http404:
            raise forms.ValidationError("No such client or site in your scope.") from None
        if not may_write(self.user, site=self.site):
            raise forms.ValidationError(
                "Your scope is a list of sites: a window must name one of them."
            )
        return value

    def clean_zone(self):
        return known_zone(self.cleaned_data["zone"] or "UTC")

    def clean_repeat_zone(self):
        value = self.cleaned_data["repeat_zone"]
        return known_zone(value) if value else ""

    def clean_matchers(self):
        try:
            parsed = parse_matchers(self.cleaned_data["matchers"])
        except MatcherError as exc:
            raise forms.ValidationError(str(exc)) from None
        return format_matchers(parsed) if parsed else ""

    def _times(self, data) -> None:
        """starts_at/ends_at in UTC, from "now + duration" or the two local times."""
        zone = zoneinfo.ZoneInfo(data.get("zone") or "UTC")
        length = data.get("length") or "custom"
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if length in LENGTHS:
            start = datetime.now(UTC).replace(second=0, microsecond=0)
            data["starts_at"], data["ends_at"] = start, start + LENGTHS[length]
            return
        for name, value in (("starts_at", starts), ("ends_at", ends)):
            if value is None:
                if name not in self.errors:
                    self.add_error(name, "Enter a date and time, or choose now + a duration.")
                continue
            try:
                data[name] = value.replace(tzinfo=zone).astimezone(UTC)
            except (OverflowError, ValueError):
                self.add_error(name, "Enter a date and time between the years 1 and 9999.")

    def _recurrence(self, data) -> None:
        days = data.get("repeat_days") or []
        start, minutes = data.get("repeat_start"), data.get("repeat_minutes")
        if not days:
            if start is not None or minutes is not None:
                self.add_error("repeat_days", "Tick the weekdays the window repeats on.")
            data["recurrence"] = {}
            return
        if start is None:
            self.add_error("repeat_start", "A repeating window needs a local start time.")
        if minutes is None:
            self.add_error("repeat_minutes", "A repeating window needs a length in minutes.")
        data["recurrence"] = {
            "recurrence_days": [d for d in DAYS if d in days],
            "recurrence_start": start,
            "recurrence_duration": timedelta(minutes=minutes) if minutes else None,
            "timezone": data.get("repeat_zone") or "",
        }

    def clean_other_types(self):
        raw = self.cleaned_data["other_types"]
        types = [t.strip() for t in raw.replace("\n", ",").split(",") if t.strip()]
        too_long = [t for t in types if len(t) > TYPE_MAX]
        if too_long:
            raise forms.ValidationError(f"An alert type has at most {TYPE_MAX} characters.")
        return types

    def clean(self):
        data = super().clean()
        types = list(dict.fromkeys([*data.get("alert_types", []), *data.get("other_types", [])]))
        if len(types) > MAX_ALERT_TYPES:
            self.add_error("other_types", f"At most {MAX_ALERT_TYPES} alert types.")
        data["types"] = types
        self._times(data)
        self._recurrence(data)
        return data
