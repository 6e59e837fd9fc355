"""Property-based: no input to any operation of the OpenAPI spec is answered with a 5xx (#10 13).

schemathesis generates valid and invalid requests for every operation of /api/v1/openapi.json,
and hooks mix in values at and beyond the edges (integers past 64 bits, times in year 9999 or
before 1970 with offsets, NUL characters, lone surrogates, deep nesting); they are
sent in process to Django's WSGI handler (no network, the test's transaction kept) with a token
of the tenant admin, who holds every capability.
Bounded and deterministic so it runs in the suite: WATCHFLOOR_FUZZ_EXAMPLES (default 6) examples
per operation and mode. Runs on PostgreSQL too, where a NUL reaching SQL is a DataError.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from watchfloor.api_site import api as ninja_api

EXAMPLES = int(os.environ.get("WATCHFLOOR_FUZZ_EXAMPLES", "6"))

schema = schemathesis.openapi.from_dict(ninja_api.get_openapi_schema())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=EXAMPLES,
    deterministic=True,
    allow_x00=True,
    database="none",
)


# Values at and beyond the edges, mixed into generated requests by hypothesis: one field of the
# path, the query or the body at a time, in half of the examples.
_HUGE_INTS = st.one_of(
    st.integers(min_value=2**63, max_value=10**30),
    st.integers(min_value=-(10**30), max_value=-(2**63) - 1),
)
_FAR_TIMES = st.builds(
    lambda moment, hours: moment.replace(tzinfo=timezone(timedelta(hours=hours))).isoformat(),
    st.one_of(
        st.datetimes(min_value=datetime(9990, 1, 1), max_value=datetime(9999, 12, 31)),
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(1969, 12, 31)),
    ),
    st.integers(min_value=-12, max_value=14),
)
_NUL_TEXT = st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=5), st.text(max_size=5))
_SURROGATE_TEXT = st.builds(
    lambda a, code: f"{a}{chr(code)}", st.text(max_size=5), st.integers(0xD800, 0xDFFF)
)
_DEEP = st.integers(min_value=33, max_value=120).map(lambda depth: _nest(depth))
EDGE_IN_QUERY = st.one_of(_HUGE_INTS.map(str), _FAR_TIMES, _NUL_TEXT)
EDGE_IN_BODY = st.one_of(_HUGE_INTS, _FAR_TIMES, _NUL_TEXT, _SURROGATE_TEXT, _DEEP)


def _nest(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _spoil(container, values):
    """`container` as generated, or with one of its fields replaced by an edge value."""
    if not isinstance(container, dict) or not container:
        return st.just(container)
    return st.one_of(
        st.just(container),
        st.tuples(st.sampled_from(sorted(container)), values).map(
            lambda pair: {**container, pair[0]: pair[1]}
        ),
    )


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    return _spoil(path_parameters, _HUGE_INTS.map(str))


@schema.hook
def flatmap_query(context, query):
    return _spoil(query, EDGE_IN_QUERY)


@schema.hook
def flatmap_body(context, body):
    return _spoil(body, EDGE_IN_BODY)


@pytest.fixture
def admin_headers(estate, token_for):
    return {"Authorization": token_for(estate.user("admin"))}


@pytest.fixture
def feed_headers(estate):
    """Operations that take an `operations` integration key (the feed upserts) get one, with a
    default client so generated records without codes can be stored."""
    from watchfloor.access.services import create_integration_key

    plain = create_integration_key(
        estate.tenant,
        actor=estate.user("admin"),
        name="fuzz",
        source="operations",
        default_client=estate.clients[0],
    ).plain
    return {"Authorization": f"Bearer {plain}"}


def _needs_feed_key(case) -> bool:
    security = case.operation.definition.raw.get("security") or []
    return any("OperationsKeyAuth" in entry for entry in security)


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler, called in process. Like Django's test client, it must not close
    the database connection at the end of a request: that would end the test's transaction."""
    from django.core import signals
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_operation_answers_5xx(case, wsgi_app, admin_headers, feed_headers):
    headers = feed_headers if _needs_feed_key(case) else admin_headers
    response = case.call(app=wsgi_app, headers=headers)
    assert response.status_code < 500, (
        case.method,
        case.formatted_path,
        case.query,
        case.body,
        response.content[:500],
    )
    if response.status_code >= 400 and response.headers.get("Content-Type", [""])[0].startswith(
        "application/json"
    ):
        # the API's one error shape
        assert set(response.json()) == {"error"}, response.json()
