"""Per-user dashboard settings: read them (`preferences_for`) and change them
(`update_preferences`).

    from watchfloor.dashboard.preferences import preferences_for, update_preferences, Preferences

A user who never saved anything has the defaults and no row; the row is created by the first
change. Reading is one query at most (none for an anonymous user). Writing validates every field
and raises a `ValidationError` keyed by the field (`refresh_seconds`, `default_filters.client`,
…), then saves, audits a `config_change` (field names only: filters may name places and people)
in one transaction.
"""

from __future__ import annotations

import copy
import functools
import zoneinfo
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from watchfloor.access.scope import visible_clients, visible_sites
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.dashboard.models import (
    REFRESH_DEFAULT,
    REFRESH_MAX,
    REFRESH_MIN,
    DashboardSettings,
    Theme,
)

# The overview's time ranges; "" means no time limit (every open alert).
RANGES = ("", "1h", "6h", "24h", "7d", "30d")
RANGE_LABELS = {
    "": "Any time",
    "1h": "Last hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
}
THEMES = tuple(t.value for t in Theme)
FILTER_KEYS = ("client", "city", "state", "officer", "range")
MAX_CLIENTS = 500  # a default filter naming more clients than this is a mistake
MAX_TEXT = 100
NOT_IN_SCOPE = "Not in your scope"


def default_filters() -> dict[str, Any]:
    return {"client": [], "city": "", "state": "", "officer": None, "range": ""}


@dataclass(frozen=True)
class Preferences:
    default_filters: dict[str, Any] = field(default_factory=default_filters)
    refresh_seconds: int = REFRESH_DEFAULT
    critical_sound: bool = False
    critical_browser_notification: bool = False
    theme: str = Theme.SYSTEM.value
    time_zone: str = ""  # "" = not chosen: UTC on pages the server renders, the browser's in JS

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the same keys (a copy: changing it changes nothing)."""
        return copy.deepcopy(asdict(self))


FIELDS = tuple(Preferences.__dataclass_fields__)
_COLUMNS = FIELDS  # the model's columns have the same names


def _stored_filters(value: Any) -> dict[str, Any]:
    """What a row holds, read leniently: a value written by hand (admin, SQL) that is not the
    right shape reads as its default instead of breaking the page."""
    filters = default_filters()
    if not isinstance(value, dict):
        return filters
    clients = value.get("client")
    if isinstance(clients, list):
        filters["client"] = [c for c in clients if isinstance(c, str)]
    for key in ("city", "state"):
        if isinstance(value.get(key), str):
            filters[key] = value[key]
    officer = value.get("officer")
    if isinstance(officer, int) and not isinstance(officer, bool):
        filters["officer"] = officer
    if value.get("range") in RANGES:
        filters["range"] = value["range"]
    return filters


def _from_row(row: DashboardSettings) -> Preferences:
    refresh = row.refresh_seconds
    return Preferences(
        default_filters=_stored_filters(row.default_filters),
        refresh_seconds=refresh if REFRESH_MIN <= refresh <= REFRESH_MAX else REFRESH_DEFAULT,
        critical_sound=bool(row.critical_sound),
        critical_browser_notification=bool(row.critical_browser_notification),
        theme=row.theme if row.theme in THEMES else Theme.SYSTEM.value,
        time_zone=row.time_zone if is_time_zone(row.time_zone) else "",
    )


def preferences_for(user) -> Preferences:
    """The user's settings, or the defaults when they never saved any. One query at most."""
    if not getattr(user, "is_authenticated", False):
        return Preferences()
    row = DashboardSettings.objects.filter(user_id=user.pk).only("id", *_COLUMNS).first()
    return Preferences() if row is None else _from_row(row)


def cached_preferences(request) -> Preferences:
    """`preferences_for(request.user)`, read once per request (the theme context processor and
    a view that needs the settings share the one query)."""
    cached = getattr(request, "_watchfloor_preferences", None)
    if cached is None:
        cached = preferences_for(getattr(request, "user", None))
        request._watchfloor_preferences = cached
    return cached


# --- validation -----------------------------------------------------------------------------


@functools.cache
def time_zone_names() -> frozenset[str]:
    """The IANA zone names this machine knows (read once: it scans the zone database)."""
    return frozenset(zoneinfo.available_timezones())


def is_time_zone(value: Any) -> bool:
    return isinstance(value, str) and value in time_zone_names()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any, name: str, errors: dict[str, str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[f"default_filters.{name}"] = "Must be a string."
        return ""
    value = value.strip()
    if len(value) > MAX_TEXT:
        errors[f"default_filters.{name}"] = f"At most {MAX_TEXT} characters."
    return value


def _client_codes(user, value: Any, errors: dict[str, str]) -> list[str]:
    key = "default_filters.client"
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        errors[key] = "Must be a list of client codes."
        return []
    codes = list(dict.fromkeys(c.strip() for c in value if c.strip()))
    if len(codes) > MAX_CLIENTS:
        errors[key] = f"At most {MAX_CLIENTS} clients."
        return []
    if not codes:
        return []
    # One answer for a code that does not exist and one the user may not see: never leak which.
    known = set(visible_clients(user).filter(code__in=codes).values_list("code", flat=True))
    refused = [c for c in codes if c not in known]
    if refused:
        shown = ", ".join(repr(c[:MAX_TEXT]) for c in refused[:5])
        more = f" and {len(refused) - 5} more" if len(refused) > 5 else ""
        errors[key] = f"{NOT_IN_SCOPE}: {shown}{more}."
    return codes


def _officer(user, value: Any, errors: dict[str, str]) -> int | None:
    key = "default_filters.officer"
    if value is None or value == "":
        return None
    if not _is_int(value) or value < 1:
        errors[key] = "Must be a user id or null."
        return None
    # the officer in charge of a site the user sees; anyone else reads as "not in your scope"
    if not visible_sites(user).filter(officer_in_charge_id=value).exists():
        errors[key] = f"{NOT_IN_SCOPE}."
    return value


def _validate_filters(user, value: Any, errors: dict[str, str]) -> dict[str, Any]:
    if value is None:
        return default_filters()
    if not isinstance(value, dict):
        errors["default_filters"] = "Must be an object."
        return default_filters()
    for unknown in sorted(set(value) - set(FILTER_KEYS), key=str):
        errors[f"default_filters.{unknown}"] = "Unknown field."
    rng = value.get("range", "")
    if rng is None:
        rng = ""
    if rng not in RANGES:
        errors["default_filters.range"] = (
            "Must be one of " + ", ".join(repr(r) for r in RANGES) + "."
        )
    return {
        "client": _client_codes(user, value.get("client"), errors),
        "city": _text(value.get("city"), "city", errors),
        "state": _text(value.get("state"), "state", errors),
        "officer": _officer(user, value.get("officer"), errors),
        "range": rng if rng in RANGES else "",
    }


def _validate(user, changes: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name in sorted(set(changes) - set(FIELDS)):
        errors[name] = "Unknown field."
    if "default_filters" in changes:
        clean["default_filters"] = _validate_filters(user, changes["default_filters"], errors)
    if "refresh_seconds" in changes:
        value = changes["refresh_seconds"]
        if not _is_int(value) or not REFRESH_MIN <= value <= REFRESH_MAX:
            errors["refresh_seconds"] = (
                f"Must be a whole number of seconds from {REFRESH_MIN} to {REFRESH_MAX}."
            )
        else:
            clean["refresh_seconds"] = value
    for name in ("critical_sound", "critical_browser_notification"):
        if name in changes:
            if not isinstance(changes[name], bool):
                errors[name] = "Must be true or false."
            else:
                clean[name] = changes[name]
    if "time_zone" in changes:
        value = changes["time_zone"]
        if value != "" and not is_time_zone(value):
            shown = repr(value[:MAX_TEXT]) if isinstance(value, str) else "that value"
            errors["time_zone"] = (
                f"Unknown time zone {shown}: use an IANA name such as 'America/Chicago', "
                "or '' for UTC (your browser's zone where the page formats times itself)."
            )
        else:
            clean["time_zone"] = value
    if "theme" in changes:
        if changes["theme"] not in THEMES:
            errors["theme"] = "Must be one of " + ", ".join(repr(t) for t in THEMES) + "."
        else:
            clean["theme"] = changes["theme"]
    if errors:
        raise ValidationError(errors)
    return clean


# --- the one writer -------------------------------------------------------------------------


def update_preferences(user, *, actor, **changes) -> Preferences:
    """Change some of the user's settings (keyword per field); answers the settings as saved.

    `default_filters` is one value: send the whole object; keys left out take their empty
    default. Client codes and the officer must be in the user's scope ("Not in your scope" for
    an unknown one too). A user may change only their own settings (`PermissionDenied`).
    Nothing is written or audited when nothing changes.
    """
    if not getattr(user, "is_authenticated", False) or getattr(actor, "pk", None) != user.pk:
        raise PermissionDenied("A user may change only their own dashboard settings.")
    clean = _validate(user, changes)
    with transaction.atomic():
        row = _locked_row(user)
        if row is None:
            current = Preferences()
            changed = _changed(current, clean)
            if not changed:
                return current
            row = _insert(user, {**asdict(current), **clean})
            if row is not None:
                _audit(user, actor, row, changed)
                return _from_row(row)
            row = _locked_row(user)  # a concurrent request created it first: change that one
            assert row is not None  # the insert lost to that row, so it exists
        current = _from_row(row)
        changed = _changed(current, clean)
        if not changed:
            return current
        for name in changed:
            setattr(row, name, clean[name])
        row.save(update_fields=[*changed, "updated_at"])
        _audit(user, actor, row, changed)
        return _from_row(row)


def _locked_row(user) -> DashboardSettings | None:
    return DashboardSettings.objects.select_for_update().filter(user_id=user.pk).first()


def _changed(current: Preferences, clean: dict[str, Any]) -> list[str]:
    return sorted(name for name, value in clean.items() if getattr(current, name) != value)


def _audit(user, actor, row: DashboardSettings, changed: list[str]) -> None:
    # field names only: the filters name places and people, which the audit log must not hold
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=user.tenant_id,
        entity=row,
        details={"change": "dashboard_settings.update", "fields": changed},
    )


def _insert(user, values: dict[str, Any]) -> DashboardSettings | None:
    """The user's first row, or None when a concurrent request inserted it first."""
    try:
        with transaction.atomic():
            return DashboardSettings.objects.create(
                user_id=user.pk, tenant_id=user.tenant_id, **values
            )
    except IntegrityError:
        return None
