from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema

from watchfloor.access.masking import masked_for
from watchfloor.access.models import SourceKind
from watchfloor.api.schemas import StrictIn, Text, UtcDatetime

Label = Text(100, min_length=1)


class TenantOut(Schema):
    id: int
    slug: str
    name: str


class ScopeOut(Schema):
    kind: str
    client_ids: list[int]
    site_ids: list[int]


class MeOut(Schema):
    id: int
    username: str
    full_name: str
    email: str
    tenant: TenantOut
    roles: list[str]
    capabilities: list[str]
    scope: ScopeOut


class TokenIn(StrictIn):
    name: Label
    expires_at: UtcDatetime | None = None


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str


class TokenPage(Schema):
    items: list[TokenOut]
    next_cursor: str | None


class IntegrationKeyIn(StrictIn):
    name: Label
    source: SourceKind
    default_client_id: int | None = None
    default_site_id: int | None = None
    expires_at: UtcDatetime | None = None


class IntegrationKeyOut(Schema):
    id: int
    name: str  # free text: masked without noc:view_pii
    source: str
    prefix: str
    default_client_id: int | None
    default_site_id: int | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @staticmethod
    def resolve_name(obj, context) -> str:
        return masked_for(context["request"].auth, obj.name)


class IntegrationKeyCreated(IntegrationKeyOut):
    key: str


class IntegrationKeyPage(Schema):
    items: list[IntegrationKeyOut]
    next_cursor: str | None


class RevealIn(StrictIn):
    """Where the reveal was asked, for the audit entry."""

    via: Literal["api", "alert_page", "estate_page"] = "api"


class OfficerContactOut(Schema):
    user_id: int
    name: str
    phone: str
    email: str


class RevealOut(Schema):
    site_id: int
    officer: OfficerContactOut | None
