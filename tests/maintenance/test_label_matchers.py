"""Label matchers: Alertmanager's parser examples (pkg/labels/parse_test.go) and semantics."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchfloor.maintenance.label_matchers import (
    MAX_MATCHERS,
    MAX_TEXT_LENGTH,
    MAX_VALUE_LENGTH,
    Matcher,
    MatcherError,
    MatchOp,
    format_matchers,
    matches_all,
    parse_matcher,
    parse_matchers,
)

EQ, NE, RE, NRE = MatchOp.EQUAL, MatchOp.NOT_EQUAL, MatchOp.REGEX, MatchOp.NOT_REGEX

# (input, expected (name, op, value) triples) — the valid inputs of Alertmanager's own table.
PARSED = [
    ('{foo="bar"}', [("foo", EQ, "bar")]),
    ('{foo=~"bar.*"}', [("foo", RE, "bar.*")]),
    ('{foo!="bar"}', [("foo", NE, "bar")]),
    ('{foo!~"bar.*"}', [("foo", NRE, "bar.*")]),
    ('{foo="bar", baz!="quux"}', [("foo", EQ, "bar"), ("baz", NE, "quux")]),
    ('{foo="bar", baz!~"quux.*"}', [("foo", EQ, "bar"), ("baz", NRE, "quux.*")]),
    (
        '{foo="bar",baz!~".*quux", derp="wat"}',
        [("foo", EQ, "bar"), ("baz", NRE, ".*quux"), ("derp", EQ, "wat")],
    ),
    ('{foo="bar", instance=~"some-api.*"}', [("foo", EQ, "bar"), ("instance", RE, "some-api.*")]),
    ('{foo=""}', [("foo", EQ, "")]),
    ('{foo="bar,quux", job="job1"}', [("foo", EQ, "bar,quux"), ("job", EQ, "job1")]),
    ('{foo = "bar", dings != "bums", }', [("foo", EQ, "bar"), ("dings", NE, "bums")]),
    ("foo=bar,dings!=bums", [("foo", EQ, "bar"), ("dings", NE, "bums")]),
    (
        r'{quote="She said: \"Hi, ladies! That\'s gender-neutral…\""}',
        [("quote", EQ, 'She said: "Hi, ladies! That\\\'s gender-neutral…"')],
    ),
    ('statuscode=~"5.."', [("statuscode", RE, "5..")]),
    ("tricky=~~~", [("tricky", RE, "~~")]),
    (r"trickier==\\=\=\"", [("trickier", EQ, r'=\=\="')]),
    (
        r'contains_quote != "\"" , contains_comma !~ "foo,bar" , ',
        [("contains_quote", NE, '"'), ("contains_comma", NRE, "foo,bar")],
    ),
    # beyond Alertmanager's table
    ('  {a="b"}  ', [("a", EQ, "b")]),
    (r'a="line\nbreak"', [("a", EQ, "line\nbreak")]),
    ('a="back\\\\slash"', [("a", EQ, "back\\slash")]),
    ("a=ends\\", [("a", EQ, "ends\\")]),
    ("__name__:x=1", [("__name__:x", EQ, "1")]),
    ("", []),
    ("{}", []),
    ("   ", []),
]


@pytest.mark.parametrize(("text", "expected"), PARSED, ids=[p[0] or "blank" for p in PARSED])
def test_parses_like_alertmanager(text, expected):
    got = [(m.name, m.op, m.value) for m in parse_matchers(text)]
    assert got == expected


# (input, a fragment of the message) — Alertmanager's invalid inputs plus our own bounds.
REFUSED = [
    ("job=", "has no value"),
    ('job="value', "unescaped double quote"),
    ('job=value"', "unescaped double quote"),
    (r'trickier==\\=\=\""', "unescaped double quote"),
    ('contains_unescaped_quote = foo"bar', "unescaped double quote"),
    ('{invalid-name = "valid label"}', "Bad matcher 'invalid-name = \"valid label\"'"),
    ('{foo=~"invalid[regexp"}', 'foo=~"invalid[regexp": invalid regex'),
    (r'"{foo=\"bar"}', "Bad matcher"),
    (r'"foo=\"bar"', "Bad matcher"),
    (r'"foo=\"bar\""', "Bad matcher"),
    (r'"{foo=\"bar\"}"', "Bad matcher"),
    ('"foo="bar""', "Bad matcher"),
    ("a=b,,c=d", "Bad matcher '(empty)'"),
    ("a b", "Bad matcher 'a b'"),
    ("1a=b", "Bad matcher '1a=b'"),
    # refused because Python's re would backtrack or means something else than RE2
    (r'a=~"(x+)+y"', "nested unbounded repetition"),
    (r'a=~"(?:a|b*)*"', "nested unbounded repetition"),
    (r'a=~"(a)\1"', "backreferences"),
    (r'a=~"(?=x)x"', "lookarounds"),
    (r'a=~"(?<!x)y"', "lookarounds"),
    (r'a=~"(?>x)"', "atomic groups"),
    (r'a=~"x*+"', "possessive"),
    (r'a=~"[[:alpha:]]"', "POSIX classes"),
    ("a=~" + "(" * 200 + ")" * 200, "nested more than"),
    ("a=~" + "(" * 500 + ")" * 500, "nested"),
    ("a=" + "x" * (MAX_VALUE_LENGTH + 1), "longer than"),
    ("a=\x00", "NUL"),
    ("a=\ud800", "NUL or an invalid character"),
    (",".join(["a=b"] * (MAX_MATCHERS + 1)), f"At most {MAX_MATCHERS}"),
    ("a=" + "x" * MAX_TEXT_LENGTH, f"at most {MAX_TEXT_LENGTH}"),
]


@pytest.mark.parametrize(("text", "message"), REFUSED, ids=[r[0][:40] for r in REFUSED])
def test_refuses_with_a_message_naming_the_matcher(text, message):
    with pytest.raises(MatcherError) as caught:
        parse_matchers(text)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_bounded_repetition_inside_a_repeat_is_allowed():
    [m] = parse_matchers(r'host=~"(db-[0-9]{1,3}\.)?example\.(com|org)"')
    assert m.matches({"host": "db-12.example.org"})
    assert m.matches({"host": "example.com"})


SEMANTICS = [
    # (matchers, labels, matches?)
    ('env="prod"', {"env": "prod"}, True),
    ('env="prod"', {"env": "production"}, False),
    ('env="prod"', {}, False),
    ('env=""', {}, True),  # an absent label equals ""
    ('env=""', {"env": "prod"}, False),
    ('env!="dev"', {}, True),  # absent is "" which is not "dev"
    ('env!="dev"', {"env": "dev"}, False),
    ('env!=""', {}, False),  # "has the label" idiom
    ('env!=""', {"env": "x"}, True),
    ('env=~"pro"', {"env": "prod"}, False),  # anchored: no substring match
    ('env=~"pro.*"', {"env": "prod"}, True),
    ('env=~"prod"', {"env": "prod\n"}, False),  # no trailing-newline leeway, unlike ^…$ in re
    ('env=~"a|ab"', {"env": "ab"}, True),  # the whole alternation is anchored
    ('env=~".*"', {}, True),  # matches the empty string, so absent too
    ('env=~".+"', {}, False),
    ('env!~"dev|test"', {}, True),
    ('env!~"dev|test"', {"env": "test"}, False),
    ('env!~"dev|test"', {"env": "testing"}, True),
    ('env!~".*"', {}, False),
    ('env=~"(?i)PROD"', {"env": "prod"}, True),
    ("count=3", {"count": 3}, True),  # JSON numbers compare as their text
]


@pytest.mark.parametrize(("text", "labels", "expected"), SEMANTICS)
def test_semantics(text, labels, expected):
    assert matches_all(parse_matchers(text), labels) is expected


def test_every_matcher_must_hold_and_none_matches_all():
    matchers = parse_matchers('{alertname="HighCPU", env!~"dev|test"}')
    assert matches_all(matchers, {"alertname": "HighCPU", "env": "prod"})
    assert not matches_all(matchers, {"alertname": "HighCPU", "env": "dev"})
    assert not matches_all(matchers, {"alertname": "LowDisk", "env": "prod"})
    assert matches_all([], {"anything": "at all"})


@pytest.mark.parametrize(
    "text",
    [
        '{a="b", c=~"x|y"}',
        r'{q="say \"hi\", then\nleave", back="\\"}',
        '{e=""}',
    ],
)
def test_format_reads_back_to_the_same_matchers(text):
    matchers = parse_matchers(text)
    assert parse_matchers(format_matchers(matchers)) == matchers


def test_build_validates_like_parse():
    assert Matcher.build("a", "=~", "x.*").matches({"a": "xy"})
    for name, op, value, message in [
        ("bad-name", "=", "x", "Bad label name"),
        ("a", "==", "x", "Bad operator"),
        ("a", "=~", "(", "invalid regex"),
        ("a", "=", 5, "must be text"),
    ]:
        with pytest.raises(MatcherError, match=message):
            Matcher.build(name, op, value)


def test_parse_matcher_parses_one():
    assert parse_matcher(" a != b ") == Matcher.build("a", "!=", "b")


# --- properties -----------------------------------------------------------------------------


_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True)
_values = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60
)


@st.composite
def _matchers(draw):
    op = draw(st.sampled_from(list(MatchOp)))
    value = draw(_values)
    if op.is_regex:
        value = re.escape(value)  # a regex that matches exactly that text
    return Matcher.build(draw(_names), op, value)


@settings(max_examples=300, deadline=None)
@given(st.lists(_matchers(), max_size=6))
def test_any_matchers_read_back_from_their_canonical_text(matchers):
    assert parse_matchers(format_matchers(matchers)) == matchers


@settings(max_examples=300, deadline=None)
@given(_names, _values, st.dictionaries(_names, _values, max_size=4))
def test_negation_is_the_complement(name, value, labels):
    equal, not_equal = Matcher.build(name, "=", value), Matcher.build(name, "!=", value)
    regex = Matcher.build(name, "=~", re.escape(value))
    not_regex = Matcher.build(name, "!~", re.escape(value))
    assert equal.matches(labels) != not_equal.matches(labels)
    assert regex.matches(labels) == equal.matches(labels)  # an escaped regex is equality
    assert not_regex.matches(labels) == not_equal.matches(labels)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_matcher_error(text):
    with contextlib.suppress(MatcherError):
        parse_matchers(text)
