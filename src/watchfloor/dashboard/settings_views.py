"""The dashboard settings page (`/settings/`): a Django form over `update_preferences`."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import display_name, shown_name
from watchfloor.access.scope import has_capability, visible_clients, visible_sites
from watchfloor.dashboard.denied import forbidden
from watchfloor.dashboard.models import REFRESH_MAX, REFRESH_MIN, Theme
from watchfloor.dashboard.preferences import (
    FILTER_KEYS,
    RANGE_LABELS,
    RANGES,
    Preferences,
    cached_preferences,
    time_zone_names,
    update_preferences,
)

THEME_HELP = {
    "system": "Light or dark, as the operating system is set.",
    "light": "Always light.",
    "dark": "Always dark: easier on the eyes on a night shift.",
}


def _with_current(choices: list[tuple], current) -> list[tuple]:
    """A saved value that is no longer offered (a city whose sites moved) stays selectable."""
    if current not in (None, "") and current not in {value for value, _ in choices}:
        return [*choices, (current, f"{current} (saved)")]
    return choices


def _person(first: str, last: str, username: str, pii: bool) -> str:
    return shown_name(display_name(first, last, username), pii) or ""


class SettingsForm(forms.Form):
    client = forms.MultipleChoiceField(
        required=False,
        label="Clients",
        help_text="None selected: every client you can see.",
    )
    state = forms.ChoiceField(required=False, label="State")
    city = forms.ChoiceField(required=False, label="City")
    officer = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Officer in charge"
    )
    range = forms.ChoiceField(
        required=False, label="Time range", choices=[(r, RANGE_LABELS[r]) for r in RANGES]
    )
    refresh_seconds = forms.IntegerField(
        min_value=REFRESH_MIN,
        max_value=REFRESH_MAX,
        label="Refresh the KPI tiles every (seconds)",
        help_text=f"From {REFRESH_MIN} to {REFRESH_MAX} seconds.",
    )
    critical_sound = forms.BooleanField(required=False, label="Play a sound")
    critical_browser_notification = forms.BooleanField(
        required=False, label="Show a browser notification"
    )
    theme = forms.ChoiceField(choices=Theme.choices, widget=forms.RadioSelect, label="Theme")
    time_zone = forms.ChoiceField(
        required=False,
        label="Show times in",
        help_text="Pages show times in this zone, with a site's own time beside them.",
    )

    def __init__(self, *args, user, current: Preferences, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [  # type: ignore[attr-defined]
            ("", "Not chosen: UTC (a page's scripts: this browser's zone)"),
            *((name, name.replace("_", " ")) for name in sorted(time_zone_names())),
        ]
        saved = current.default_filters
        pii = has_capability(user, Capability.VIEW_PII)
        self.fields["client"].choices = [  # type: ignore[attr-defined]
            (code, f"{name} ({code})")
            for code, name in visible_clients(user).order_by("code").values_list("code", "name")
        ]
        places = set(visible_sites(user).values_list("city", "state").distinct())
        cities = sorted({c for c, _ in places if c})
        states = sorted({s for _, s in places if s})
        self.fields["city"].choices = _with_current(  # type: ignore[attr-defined]
            [("", "All cities"), *((c, c) for c in cities)], saved["city"]
        )
        self.fields["state"].choices = _with_current(  # type: ignore[attr-defined]
            [("", "All states"), *((s, s) for s in states)], saved["state"]
        )
        officers = (
            visible_sites(user)
            .filter(officer_in_charge__isnull=False)
            .values_list(
                "officer_in_charge_id",
                "officer_in_charge__first_name",
                "officer_in_charge__last_name",
                "officer_in_charge__username",
            )
            .distinct()
        )
        self.fields["officer"].choices = [  # type: ignore[attr-defined]
            ("", "Any officer"),
            *sorted(
                ((pk, _person(first, last, name, pii)) for pk, first, last, name in officers),
                key=lambda choice: choice[1].lower(),
            ),
        ]

    def changes(self) -> dict:
        data = self.cleaned_data
        return {
            "default_filters": {key: data[key] or self._empty(key) for key in FILTER_KEYS},
            "refresh_seconds": data["refresh_seconds"],
            "critical_sound": data["critical_sound"],
            "critical_browser_notification": data["critical_browser_notification"],
            "theme": data["theme"],
            "time_zone": data["time_zone"] or "",
        }

    @staticmethod
    def _empty(key: str):
        return {"client": [], "officer": None}.get(key, "")

    def add_service_errors(self, exc: ValidationError) -> None:
        """`default_filters.client` → the `client` field; anything else → the form."""
        for name, errors in exc.message_dict.items():
            field = name.removeprefix("default_filters.")
            for message in errors:
                self.add_error(field if field in self.fields else None, message)


def _initial(current: Preferences) -> dict:
    filters = current.default_filters
    return {
        **{key: filters[key] for key in FILTER_KEYS},
        "officer": filters["officer"] if filters["officer"] is not None else "",
        "refresh_seconds": current.refresh_seconds,
        "critical_sound": current.critical_sound,
        "critical_browser_notification": current.critical_browser_notification,
        "theme": current.theme,
        "time_zone": current.time_zone,
    }


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def settings_page(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    current = cached_preferences(request)
    if request.method == "POST":
        form = SettingsForm(request.POST, user=user, current=current)
        if form.is_valid():
            try:
                update_preferences(user, actor=user, **form.changes())
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, "Your dashboard settings are saved.")
                return redirect("dashboard:settings")
    else:
        form = SettingsForm(initial=_initial(current), user=user, current=current)
    context = {
        "nav": "settings",
        "form": form,
        "filter_fields": [form[name] for name in ("state", "city", "officer", "range")],
        "theme_help": THEME_HELP,
    }
    return render(request, "dashboard/settings.html", context)
