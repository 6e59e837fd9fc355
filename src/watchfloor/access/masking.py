"""PII masking for users without `noc:view_pii`.

Rules (DESIGN.md): emails `j***@example.com`, phones `+1-***-***-1234` (every digit group but the
country code and the last four digits starred), names `va***e` (two first letters, last letter).
Payloads are masked by key name (name, email, phone, address, …) and, in any other string, by
finding email addresses and phone numbers in the text.
"""

from __future__ import annotations

import re
from typing import Any

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import has_capability

EMAIL_RE = re.compile(r"(?<![\w.+-])([A-Za-z0-9._%+-]+)@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# In free text only unambiguous phone numbers are masked: international (`+` then 8–15 digits
# with separators) or North-American `(555) 123-4567` / `555-123-4567`. Dates and ids stay.
PHONE_RE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}(?:[\s.-]?\(?\d{1,4}\)?){2,5}\d"
    r"|\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4})(?![\w])"
)

PII_KEYS = {
    "name": "name",
    "full_name": "name",
    "first_name": "name",
    "last_name": "name",
    "officer": "name",
    "officer_name": "name",
    "officer_in_charge": "name",
    "contact": "name",
    "contact_name": "name",
    "guard": "name",
    "guard_name": "name",
    "employee": "name",
    "employee_name": "name",
    "reporter": "name",
    "assignee": "name",
    "email": "email",
    "mail": "email",
    "contact_email": "email",
    "phone": "phone",
    "mobile": "phone",
    "telephone": "phone",
    "contact_phone": "phone",
    "address": "address",
    "street": "address",
    "home_address": "address",
}


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    if not domain:
        return mask_name(value)
    return f"{local[:1]}***@{domain}"


def mask_phone(value: str) -> str:
    """Keep the leading `+country` group and the last four digits; star the digits between."""
    digits_seen = sum(ch.isdigit() for ch in value)
    keep_tail = 4 if digits_seen > 4 else 0
    out: list[str] = []
    tail_start = digits_seen - keep_tail
    index = 0
    in_country = value.lstrip().startswith("+")
    group_started = False
    for ch in value:
        if ch.isdigit():
            if in_country or index >= tail_start:
                out.append(ch)
            else:
                if not group_started:
                    out.append("***")
                group_started = True
            index += 1
        else:
            if ch != "+":
                in_country = False
            group_started = False
            out.append(ch)
    return "".join(out)


def mask_name(value: str) -> str:
    if not value.strip():
        return value
    parts = value.split()
    if len(parts) > 1:
        return " ".join(mask_name(p) for p in parts)
    if len(value) <= 2:
        return value[:1] + "***"
    if len(value) <= 4:
        return value[:1] + "***" + value[-1]
    return value[:2] + "***" + value[-1]


def mask_address(value: str) -> str:
    return value[:3] + "***" if value else value


MASKERS = {"name": mask_name, "email": mask_email, "phone": mask_phone, "address": mask_address}


def mask_text(text: str) -> str:
    """Mask emails and phone numbers found anywhere in free text."""
    text = EMAIL_RE.sub(lambda m: mask_email(m.group(0)), text)
    return PHONE_RE.sub(_mask_phone_match, text)


def _mask_phone_match(match: re.Match) -> str:
    found = match.group(0)
    digits = sum(ch.isdigit() for ch in found)
    return mask_phone(found) if 8 <= digits <= 15 else found


# Keys that end in one of these (`reporter_email`, `customerPhone`) are PII of that kind too;
# names are matched exactly only, since `site_name` or `alert_name` are not about a person.
PII_KEY_SUFFIXES = (("email", "email"), ("phone", "phone"), ("mobile", "phone"))


def _kind_of(key: str | None) -> str | None:
    lowered = (key or "").lower()
    if lowered in PII_KEYS:
        return PII_KEYS[lowered]
    return next((kind for suffix, kind in PII_KEY_SUFFIXES if lowered.endswith(suffix)), None)


def mask_value(key: str | None, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: mask_value(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(key, v) for v in value]
    if isinstance(value, str):
        kind = _kind_of(key)
        if kind:
            return MASKERS[kind](value)
        return mask_text(value)
    return value


def mask_payload(payload: Any) -> Any:
    """A masked copy of a JSON-like payload (dicts, lists, strings)."""
    return mask_value(None, payload)


def masked_for(user, payload: Any, *, can_view_pii: bool | None = None) -> Any:
    """The payload as this user may see it."""
    if can_view_pii is None:
        can_view_pii = has_capability(user, Capability.VIEW_PII)
    return payload if can_view_pii else mask_payload(payload)


def display_name(first: str | None, last: str | None, username: str) -> str:
    """How a person is named: their full name, or their username when they have none."""
    return f"{first or ''} {last or ''}".strip() or username


def mask_person_name(name: str) -> str:
    """The one masking of a person's name (a full name, or a username: usernames are often an
    email address, masked like one). Every page, API answer and event masks names through it."""
    return mask_email(name) if "@" in name else mask_name(name)


def shown_name(name: str | None, can_view_pii: bool) -> str | None:
    """A person's name as this reader may see it (None stays None: nobody)."""
    if name is None or can_view_pii:
        return name
    return mask_person_name(name)


def person_label(user, can_view_pii: bool) -> str | None:
    """A person's display name as this reader may see it (None when there is nobody)."""
    if user is None:
        return None
    return shown_name(display_name(user.first_name, user.last_name, user.username), can_view_pii)


def person_view(user, can_view_pii: bool) -> dict | None:
    """How a person (an officer, an owner, an actor) is shown: masked without `noc:view_pii`."""
    if user is None:
        return None
    full = user.get_full_name() or ""
    if can_view_pii:
        return {"id": user.id, "username": user.username, "full_name": full}
    return {
        "id": user.id,
        "username": mask_person_name(user.username),
        "full_name": mask_person_name(full) if full else "",
    }
