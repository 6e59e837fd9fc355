"""Filters for the platform pages: durations, rates, percentages and meters."""

from __future__ import annotations

from django import template
from django.template.defaultfilters import filesizeformat

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """`3 d 4 h`, `2 h 5 min`, `42 s`; an em dash for nothing."""
    if seconds is None or seconds == "":
        return "—"
    seconds = int(float(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


@register.filter
def per_second(value) -> str:
    """Bytes a second as `1.2 MB/s`; an em dash when not measured."""
    if value is None or value == "":
        return "—"
    return f"{filesizeformat(value)}/s"


@register.filter
def bytes_or_dash(value) -> str:
    if value is None or value == "":
        return "—"
    return filesizeformat(value)


@register.filter
def percent(value, digits=1) -> str:
    if value is None or value == "":
        return "—"
    return f"{float(value):.{int(digits)}f} %"


@register.filter
def meter_level(value) -> str:
    """The meter's modifier: warn from 75 %, danger from 90 %."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return ""
    if value >= 90:
        return "meter--danger"
    if value >= 75:
        return "meter--warn"
    return ""


@register.filter
def number(value) -> str:
    """Thousands separated by a thin space; an em dash for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}".replace(",", "\u2009")
    return f"{int(value):,}".replace(",", "\u2009")
