from __future__ import annotations

from datetime import datetime
from typing import Annotated

from ninja import Schema
from pydantic import Field, StringConstraints, field_validator

from watchfloor.api.schemas import StrictIn, Text
from watchfloor.tenancy.models import validate_timezone

Code = Annotated[
    str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
Name = Text(200, min_length=1)
Place = Text(100)
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class PersonOut(Schema):
    id: int
    username: str
    full_name: str


class ClientOut(Schema):
    id: int
    code: str
    name: str
    active: bool
    owner: PersonOut | None
    site_count: int
    created_at: datetime
    updated_at: datetime


class ClientIn(StrictIn):
    code: Code
    name: Name
    owner_id: int | None = None
    active: bool = True


class ClientPatch(StrictIn):
    code: Code | None = None
    name: Name | None = None
    owner_id: int | None = None
    active: bool | None = None


class ClientRef(Schema):
    id: int
    code: str
    name: str


class SiteOut(Schema):
    id: int
    code: str
    name: str
    client: ClientRef
    city: str
    state: str
    latitude: float | None
    longitude: float | None
    timezone: str
    officer_in_charge: PersonOut | None
    active: bool
    created_at: datetime
    updated_at: datetime


def _check_tz(value: str | None) -> str | None:
    if value is not None:
        try:
            validate_timezone(value)
        except Exception:
            raise ValueError("Unknown time zone.") from None
    return value


class SiteIn(StrictIn):
    code: Code
    name: Name
    client_id: int
    city: Place = ""
    state: Place = ""
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    timezone: Text(64) = "UTC"
    officer_in_charge_id: int | None = None
    active: bool = True

    _tz = field_validator("timezone")(_check_tz)


class SitePatch(StrictIn):
    code: Code | None = None
    name: Name | None = None
    client_id: int | None = None
    city: Place | None = None
    state: Place | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    timezone: Text(64) | None = None
    officer_in_charge_id: int | None = None
    active: bool | None = None

    _tz = field_validator("timezone")(_check_tz)


class ClientPage(Schema):
    items: list[ClientOut]
    next_cursor: str | None


class SitePage(Schema):
    items: list[SiteOut]
    next_cursor: str | None
