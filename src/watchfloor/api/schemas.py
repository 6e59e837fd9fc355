"""Shared API schemas."""

from __future__ import annotations

from ninja import Schema
from pydantic import ConfigDict


class StrictIn(Schema):
    """Base for request bodies: unknown fields are refused, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ErrorDetail(Schema):
    code: str
    message: str
    fields: dict[str, str]


class ErrorOut(Schema):
    error: ErrorDetail
