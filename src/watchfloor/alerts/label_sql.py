"""A label matcher's regex (Python `re` dialect, as `maintenance.label_matchers` validates it)
written for the database's regex operator, fully anchored like Alertmanager's.

SQLite runs Django's REGEXP through Python's `re.search`, so the pattern only gets anchors.
PostgreSQL's regexes (ARE) differ in a few places that a matcher may use; they are rewritten:
`\\b`/`\\B` are `\\y`/`\\Y` there, named groups have no name, `{,n}` is `{0,n}`, `.` would
match a newline (RE2's and Python's do not), and flags only work at the start (`(?i)` becomes a
case-insensitive operator). Anything else of the `(?…)` family is refused with a MatcherError
rather than sent.
"""

from __future__ import annotations

import re

from django.db import connections

from watchfloor.maintenance.label_matchers import MatcherError

_LEADING_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")
_NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")
_UP_TO = re.compile(r"\{,(\d+)\}")  # Python's `{,n}`; PostgreSQL reads it as text


def sql_regex(pattern: str, using: str) -> tuple[str, bool]:
    """(pattern for the `regex`/`iregex` lookup, whether to match case-insensitively)."""
    flags = ""
    leading = _LEADING_FLAGS.match(pattern)
    if leading:
        flags, pattern = leading.group(1), pattern[leading.end() :]
    if connections[using].vendor != "postgresql":
        prefix = f"(?{flags})" if flags else ""
        return rf"{prefix}\A(?:{pattern})\Z", False
    if set(flags) - {"i", "s"}:
        raise MatcherError(f"The regex flags {flags!r} are not supported here; use (?i) or (?s).")
    body = _to_postgres(pattern, dot_all="s" in flags)
    return rf"\A(?:{body})\Z", "i" in flags


def _to_postgres(pattern: str, *, dot_all: bool) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            escaped = pattern[i + 1]
            out.append(
                {"b": r"\y", "B": r"\Y"}.get(escaped, "\\" + escaped)
                if not in_class
                else "\\" + escaped
            )
            i += 2
            continue
        if in_class:
            out.append(char)
            if char == "]":
                in_class = False
            i += 1
            continue
        if char == "[":
            # `]` right after `[` or `[^` is a literal member, not the end of the class
            start = i + 1 + (pattern[i + 1 : i + 2] == "^")
            end = start + (pattern[start : start + 1] == "]")
            out.append(pattern[i:end])
            in_class, i = True, end
            continue
        if char == "(" and pattern.startswith("(?", i):
            named = _NAMED_GROUP.match(pattern, i)
            if named:
                out.append("(")
                i = named.end()
                continue
            if not pattern.startswith("(?:", i):
                raise MatcherError(
                    f"The regex construct {pattern[i : i + 4]!r}… is not supported here."
                )
        up_to = _UP_TO.match(pattern, i) if char == "{" else None
        if up_to:
            out.append(f"{{0,{up_to.group(1)}}}")
            i = up_to.end()
            continue
        if char == "." and not dot_all:
            out.append(r"[^\n]")
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)
