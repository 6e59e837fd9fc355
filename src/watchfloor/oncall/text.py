"""Text a person typed, checked once before it reaches the database: PostgreSQL refuses a NUL
character and a lone surrogate cannot be encoded, so both would otherwise be a 500 on write."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def check_characters(field: str, value: str) -> None:
    if "\x00" in value:
        raise ValidationError({field: "NUL characters are not allowed."})
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise ValidationError({field: "Not valid Unicode text."})


def clean_text(value, field: str, *, limit: int, required: bool = True) -> str:
    """`value` stripped; a ValidationError naming `field` when it is not a string, empty (if
    required), longer than `limit`, or holds NUL characters or lone surrogates."""
    if not isinstance(value, str):
        raise ValidationError({field: "Give a text."})
    value = value.strip()
    if required and not value:
        raise ValidationError({field: "This field is required."})
    if len(value) > limit:
        raise ValidationError({field: f"At most {limit} characters."})
    check_characters(field, value)
    return value
