"""`/api/v1/me/dashboard-settings`: read and change your own dashboard settings (`noc:view`)."""

from __future__ import annotations

from typing import Annotated, Literal

from ninja import Router, Schema
from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.api.schemas import StrictIn
from watchfloor.dashboard.models import REFRESH_MAX, REFRESH_MIN
from watchfloor.dashboard.preferences import (
    MAX_CLIENTS,
    MAX_TEXT,
    preferences_for,
    update_preferences,
)

router = Router(tags=["dashboard settings"])

Range = Literal["", "1h", "6h", "24h", "7d", "30d"]
ThemeName = Literal["system", "light", "dark"]
Text = Annotated[StrictStr, Field(max_length=MAX_TEXT)]


class FiltersOut(Schema):
    client: list[str]
    city: str
    state: str
    officer: int | None
    range: Range


class SettingsOut(Schema):
    default_filters: FiltersOut
    refresh_seconds: int
    critical_sound: bool
    critical_browser_notification: bool
    theme: ThemeName
    time_zone: str


class FiltersIn(StrictIn):
    """The whole default filter: keys left out take their empty default."""

    client: Annotated[list[StrictStr], Field(max_length=MAX_CLIENTS)] = []
    city: Text = ""
    state: Text = ""
    officer: Annotated[StrictInt, Field(ge=1)] | None = None
    range: Range = ""


class SettingsPatch(StrictIn):
    """Any subset of the settings; `null` is refused (send the value you want)."""

    default_filters: FiltersIn | None = None
    refresh_seconds: Annotated[StrictInt, Field(ge=REFRESH_MIN, le=REFRESH_MAX)] | None = None
    critical_sound: StrictBool | None = None
    critical_browser_notification: StrictBool | None = None
    theme: ThemeName | None = None
    # checked against the zone database by update_preferences (422 naming `time_zone`)
    time_zone: Annotated[StrictStr, Field(max_length=64)] | None = None

    @field_validator("*")
    @classmethod
    def _not_null(cls, value):
        if value is None:
            raise ValueError("May not be null.")
        return value


@router.get("/me/dashboard-settings", response=SettingsOut)
def get_settings(request):
    require_capability(request.auth, Capability.VIEW)
    return preferences_for(request.auth).as_dict()


@router.patch("/me/dashboard-settings", response=SettingsOut)
def patch_settings(request, data: SettingsPatch):
    user = request.auth
    require_capability(user, Capability.VIEW)
    changes = data.model_dump(exclude_unset=True)
    return update_preferences(user, actor=user, **changes).as_dict()
