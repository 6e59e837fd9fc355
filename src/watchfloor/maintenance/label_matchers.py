"""Label matchers with Alertmanager's syntax and semantics (its classic `pkg/labels` parser).

    {alertname="HighCPU", instance=~"db-.*", env!="dev"}     braces optional, trailing comma ok
    alertname=HighCPU, instance=~db-.*                        values may be left unquoted

A matcher is `name op value`: the name a Prometheus label name, the operator one of `=`, `!=`,
`=~`, `!~`, the value a string, optionally double-quoted, with the OpenMetrics escapes `\\"`,
`\\n` and `\\\\` (any other backslash is literal). Commas inside quotes do not separate.
Semantics: a label the alert does not carry equals "" (so `env!="dev"` matches an alert with no
`env`, and `env=""` matches only those); regexes are fully anchored, as `^(?:re)$` with no
trailing-newline leeway. A list matches when every matcher does.

Regexes run on Python's `re`, which backtracks where Alertmanager's RE2 does not, so what RE2
does not have (backreferences, lookarounds, atomic groups, possessive repeats, POSIX classes)
and nested unbounded repetition such as `(a+)+` are refused instead of risking a stalled
pipeline. Every refusal is a `MatcherError` (a ValueError) whose message names the matcher.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from re import _constants as sre  # type: ignore[attr-defined]  # Python's own regex parser
from re import _parser as sre_parse  # type: ignore[attr-defined]

MAX_TEXT_LENGTH = 4096
MAX_MATCHERS = 32
MAX_VALUE_LENGTH = 1024

# A classic Prometheus label name, an operator ('=~' before '=' so it is not cut short) and
# the rest; whitespace (ASCII, as in Go's \s) around each part is dropped.
_WS = "[ \t\n\f\r]"
_MATCHER = re.compile(
    rf"{_WS}*([a-zA-Z_:][a-zA-Z0-9_:]*){_WS}*(=~|=|!=|!~){_WS}*(.*?){_WS}*", re.DOTALL
)
LABEL_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_POSIX_CLASS = re.compile(r"\[:\^?[a-z]+:\]")


class MatcherError(ValueError):
    """Input that is not a valid list of matchers; the message says which matcher and why."""


class MatchOp(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"

    @property
    def is_regex(self) -> bool:
        return self in (MatchOp.REGEX, MatchOp.NOT_REGEX)

    @property
    def is_negative(self) -> bool:
        return self in (MatchOp.NOT_EQUAL, MatchOp.NOT_REGEX)


@dataclass(frozen=True)
class Matcher:
    name: str
    op: MatchOp
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(cls, name: str, op: MatchOp | str, value: str) -> Matcher:
        """A validated matcher (the one constructor to use): checks the name, bounds the value
        and compiles a regex once."""
        try:
            op = MatchOp(op)
        except ValueError:
            raise MatcherError(f"Bad operator {op!r}: one of = != =~ !~.") from None
        if not isinstance(name, str) or not LABEL_NAME.fullmatch(name):
            raise MatcherError(f"Bad label name {name!r}: letters, digits, '_' and ':' only.")
        if not isinstance(value, str):
            raise MatcherError(f"{name}{op}…: the value must be text.")
        if len(value) > MAX_VALUE_LENGTH:
            raise MatcherError(f"{name}{op}…: the value is longer than {MAX_VALUE_LENGTH}.")
        if "\x00" in value or _has_surrogate(value):
            raise MatcherError(f"{name}{op}…: the value contains a NUL or an invalid character.")
        regex = _compile(name, op, value) if op.is_regex else None
        return cls(name, op, value, regex)

    def matches(self, labels: Mapping[str, object]) -> bool:
        """Whether this matcher holds for a label set; an absent label counts as ""."""
        actual = labels.get(self.name)
        if actual.__class__ is not str:  # (the common case, a string, skips the call)
            actual = label_value(labels, self.name)
        if self.op is MatchOp.EQUAL:
            return actual == self.value
        if self.op is MatchOp.NOT_EQUAL:
            return actual != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(actual) is not None
        return found if self.op is MatchOp.REGEX else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{_escape(self.value)}"'


def label_value(labels: Mapping[str, object], name: str) -> str:
    """A label's value as a string; absent or null is ""."""
    value = labels.get(name)
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, object]) -> bool:
    """Whether every matcher holds (an empty list matches every label set)."""
    return all(m.matches(labels) for m in matchers)


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """The canonical text, which `parse_matchers` reads back to the same matchers."""
    return "{" + ", ".join(str(m) for m in matchers) + "}"


def parse_matchers(text: str) -> list[Matcher]:
    """Parse `{a="b", c=~"x|y"}` or `a=b, c=~x|y`; blank text is no matchers."""
    if not isinstance(text, str):
        raise MatcherError("Matchers must be text.")
    if len(text) > MAX_TEXT_LENGTH:
        raise MatcherError(f"Matchers are at most {MAX_TEXT_LENGTH} characters.")
    body = text.strip()
    body = body.removeprefix("{").removesuffix("}")
    tokens = _split(body)
    if len(tokens) > MAX_MATCHERS:
        raise MatcherError(f"At most {MAX_MATCHERS} matchers.")
    return [parse_matcher(token) for token in tokens]


def parse_matcher(text: str) -> Matcher:
    """One `name op value`; the value optionally quoted, with OpenMetrics escapes."""
    found = _MATCHER.fullmatch(text)
    if found is None:
        shown = _shorten(text.strip()) or "(empty)"
        raise MatcherError(
            f"Bad matcher {shown!r}: expected a label name, one of = != =~ !~, and a value."
        )
    name, op, raw = found.groups()
    if raw == "":
        raise MatcherError(f'Matcher {text.strip()!r} has no value (write {name}{op}"" for empty).')
    return Matcher.build(name, op, _unescape(raw, _shorten(text.strip())))


def _split(body: str) -> list[str]:
    """Split on commas outside double quotes (a backslash-escaped quote does not count).
    Like Alertmanager, only the last piece may be blank (a trailing comma)."""
    tokens: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in body:
        if char == "," and not quoted:
            tokens.append("".join(current))
            current = []
            continue
        if char == '"':
            if escaped:
                escaped = False
            else:
                quoted = not quoted
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        current.append(char)
    last = "".join(current).strip()
    if last:
        tokens.append(last)
    return tokens


def _unescape(raw: str, shown: str) -> str:
    expect_closing_quote = raw.startswith('"')
    if expect_closing_quote:
        raw = raw[1:]
    out: list[str] = []
    escaped = False
    last = len(raw) - 1
    for i, char in enumerate(raw):
        if escaped:
            escaped = False
            if char == "n":
                out.append("\n")
            elif char in '"\\':
                out.append(char)
            else:  # a spurious escape: the backslash is literal
                out.append("\\" + char)
            continue
        if char == "\\":
            if i < last:
                escaped = True
            else:
                out.append("\\")
        elif char == '"':
            if not expect_closing_quote or i < last:
                raise MatcherError(f"Matcher {shown!r}: the value has an unescaped double quote.")
            expect_closing_quote = False
        else:
            out.append(char)
    if expect_closing_quote:
        raise MatcherError(f"Matcher {shown!r}: the value has an unescaped double quote.")
    return "".join(out)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _shorten(text: str, limit: int = 80) -> str:
    """A matcher as quoted in an error message: at most `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _has_surrogate(value: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in value)


def _compile(name: str, op: MatchOp, pattern: str) -> re.Pattern[str]:
    shown = _shorten(f'{name}{op}"{_escape(pattern)}"')
    if _POSIX_CLASS.search(pattern):
        raise MatcherError(f"Matcher {shown}: POSIX classes like [[:alpha:]] are not supported.")
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as exc:
        raise MatcherError(f"Matcher {shown}: invalid regex ({exc.msg}).") from None
    except RecursionError:
        raise MatcherError(f"Matcher {shown}: the regex is nested too deeply.") from None
    problem = _unsafe(parsed)
    if problem:
        raise MatcherError(f"Matcher {shown}: {problem} not supported.")
    try:
        return re.compile(pattern)  # used with fullmatch: anchored at both ends
    except re.error as exc:  # pragma: no cover - parse() already refused what compile refuses
        raise MatcherError(f"Matcher {shown}: invalid regex ({exc.msg}).") from None


_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT}
_REFUSED = {
    sre.GROUPREF: "backreferences are",
    sre.GROUPREF_EXISTS: "conditional groups are",
    sre.ASSERT: "lookarounds are",
    sre.ASSERT_NOT: "lookarounds are",
    sre.ATOMIC_GROUP: "atomic groups are",
    sre.POSSESSIVE_REPEAT: "possessive repeats are",
}


MAX_REGEX_DEPTH = 32


def _unsafe(parsed, inside_unbounded_repeat: bool = False, depth: int = 0) -> str | None:
    """What in a parsed regex is refused (see the module docstring), or None."""
    if depth > MAX_REGEX_DEPTH:
        return f"groups nested more than {MAX_REGEX_DEPTH} deep are"
    for op, arg in parsed:
        if op in _REFUSED:
            return _REFUSED[op]
        if op in _REPEATS:
            _min, maximum, sub = arg
            unbounded = maximum == sre.MAXREPEAT
            if unbounded and inside_unbounded_repeat:
                return "nested unbounded repetition such as (a+)+ is"
            problem = _unsafe(sub, inside_unbounded_repeat or unbounded, depth + 1)
        elif op == sre.SUBPATTERN:
            problem = _unsafe(arg[-1], inside_unbounded_repeat, depth + 1)
        elif op == sre.BRANCH:
            problem = next(
                (p for p in (_unsafe(b, inside_unbounded_repeat, depth + 1) for b in arg[1]) if p),
                None,
            )
        else:
            problem = None
        if problem:
            return problem
    return None
