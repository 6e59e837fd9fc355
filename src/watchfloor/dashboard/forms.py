"""Forms of the dashboard pages. They parse and check input against the user's scope; the writes
(and the model's own rules) stay in the services."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.http import Http404
from django.utils.dateparse import parse_datetime

from watchfloor.access.scope import access_client, access_site
from watchfloor.alerts.models import BuiltinType
from watchfloor.maintenance.models import MAX_ALERT_TYPES, WindowKind
from watchfloor.maintenance.queries import may_write

# datetime-local inputs send "2025-03-01T14:30"; the page labels them UTC
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
TYPE_MAX = 100
# the fields the template gives a help text (its id is `<input id>-help`)
HELP = {
    "scope": "A whole client covers all its sites, present and future.",
    "other_types": "Comma-separated, such as an Alertmanager alertname: HostDown, DiskFull.",
    "reason": "Shown to everyone who sees the window.",
}


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
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)


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


class WindowForm(forms.Form):
    """Create a maintenance window: scope is `client:<id>` (the whole client) or `site:<id>`."""

    help = HELP

    title = forms.CharField(max_length=200)
    scope = forms.ChoiceField(label="Covers")
    kind = forms.ChoiceField(choices=WindowKind.choices, initial=WindowKind.PLANNED)
    starts_at = UtcDateTimeField(label="Starts (UTC)")
    ends_at = UtcDateTimeField(label="Ends (UTC)")
    alert_types = forms.MultipleChoiceField(
        choices=[(t.value, t.value) for t in BuiltinType],  # as alerts name them
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Alert types",
    )
    other_types = forms.CharField(required=False, max_length=5000, label="Other types")
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
        return data
