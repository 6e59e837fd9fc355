"""Text a person typed, checked once before it reaches the database: PostgreSQL refuses a NUL
character and a lone surrogate cannot be encoded, so both would otherwise be a 500 on write.

The check itself is the API kernel's `text_problem` (the one rule for every schema and form);
this module words it as a Django ValidationError for services and forms."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from watchfloor.bounds import text_problem


def check_characters(field: str, value: str) -> None:
    if problem := text_problem(value):
        raise ValidationError({field: problem})


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
