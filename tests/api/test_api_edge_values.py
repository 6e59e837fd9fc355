"""Bad values at the edge: a 4xx naming the field, never a 500, nothing stored (#10 bug 13).

Driven by the OpenAPI spec, so a new operation is covered without touching this file: every path
parameter gets an id beyond 64 bits, every query parameter and top-level body field a value of its
type that cannot be stored (a NUL character, a lone surrogate, 10**23, a year-9999 time), and
every JSON body a document nested 10,000 deep. The ingestion endpoints (plain Django views, not
in the spec) are covered below by name. Runs on PostgreSQL too, where a NUL reaching a query is a
`psycopg.DataError`.
"""

from __future__ import annotations

import json

import pytest

from support_api import V1, error_fields
from watchfloor.access.models import ApiToken, IntegrationKey
from watchfloor.api_site import api as ninja_api
from watchfloor.bounds import MAX_DEPTH

HUGE = 10**23
FAR_TIME = "9999-12-31T23:59:59-05:00"
NUL = "a\x00b"
SURROGATE = "a\ud800b"
DEEP = "[" * 10_000 + "]" * 10_000


def _spec() -> dict:
    return ninja_api.get_openapi_schema()


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _kinds(spec: dict, schema: dict) -> set[str]:
    """The JSON types (and `date-time`) a schema admits, looking through anyOf and $ref."""
    schema = _resolve(spec, schema)
    if "anyOf" in schema:
        return set().union(*(_kinds(spec, s) for s in schema["anyOf"]))
    kinds = set()
    if schema.get("format") == "date-time":
        kinds.add("date-time")
    if "type" in schema:
        kinds.add(schema["type"])
    if "enum" in schema:
        kinds.add("enum")
    if schema.get("type") == "array":
        kinds |= {f"array-of-{k}" for k in _kinds(spec, schema.get("items", {}))}
    return kinds


def _bad_values(kinds: set[str], *, in_query: bool) -> list:
    """Values of the parameter's own type that must be refused."""
    bad: list = []
    if "date-time" in kinds:
        bad.append(FAR_TIME)
    if "integer" in kinds or "array-of-integer" in kinds:
        bad.append(str(HUGE) if in_query else HUGE)
    if {"string", "enum"} & kinds and "date-time" not in kinds:
        bad.append(NUL)
        if not in_query:  # a query string is decoded by Django: no surrogate survives it
            bad.append(SURROGATE)
    if "array-of-string" in kinds or "array-of-enum" in kinds:
        bad.append(NUL if in_query else [NUL])
    if "object" in kinds and not in_query:
        bad.append({"key": NUL})
    return bad


def _operations():
    spec = _spec()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield spec, path, method, op


def _fill(path: str, **values) -> str:
    for name in [part[1:-1] for part in path.split("/") if part.startswith("{")]:
        path = path.replace("{" + name + "}", str(values.get(name, 1)))
    return path


def _cases():
    for spec, path, method, op in _operations():
        params = op.get("parameters", [])
        for param in params:
            if param["in"] == "path":
                yield pytest.param(
                    method,
                    _fill(path, **{param["name"]: HUGE}),
                    None,
                    None,
                    param["name"],
                    id=f"{method} {path} path:{param['name']}",
                )
            elif param["in"] == "query":
                for value in _bad_values(_kinds(spec, param["schema"]), in_query=True):
                    yield pytest.param(
                        method,
                        _fill(path),
                        {param["name"]: value},
                        None,
                        param["name"],
                        id=f"{method} {path} ?{param['name']}={value!r}",
                    )
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is None:
            continue
        schema = _resolve(spec, body["schema"])
        for name, prop in schema.get("properties", {}).items():
            for value in _bad_values(_kinds(spec, prop), in_query=False):
                yield pytest.param(
                    method,
                    _fill(path),
                    None,
                    {name: value},
                    name,
                    id=f"{method} {path} body.{name}={value!r}",
                )


def _json_operations():
    for _, path, method, op in _operations():
        if "application/json" in op.get("requestBody", {}).get("content", {}):
            yield pytest.param(method, _fill(path), id=f"{method} {path}")


def _takes_feed_key(method: str, path: str) -> bool:
    """Operations authorised by an `operations` integration key (the feed upserts)."""
    spec = _spec()
    for spec_path, ops in spec["paths"].items():
        if _fill(spec_path) == path.split("?")[0] and method in ops:
            security = ops[method].get("security") or []
            return any("OperationsKeyAuth" in entry for entry in security)
    return False


@pytest.fixture
def admin_api(api, estate):
    return api(estate.user("admin"))


@pytest.fixture
def feed_headers(estate):
    from watchfloor.access.services import create_integration_key

    plain = create_integration_key(
        estate.tenant, actor=estate.user("admin"), name="edge", source="operations"
    ).plain
    return {"HTTP_AUTHORIZATION": f"Bearer {plain}"}


def _send(admin_api, client, method, path, query, body, feed_headers=None):
    headers = admin_api.headers
    if feed_headers is not None and _takes_feed_key(method, path):
        headers = feed_headers
    if method == "get":
        return client.get(path, query or {}, **headers)
    if query:
        from urllib.parse import urlencode

        path = f"{path}?{urlencode(query)}"
    raw = json.dumps(body) if body is not None else ""
    return getattr(client, method)(path, raw, content_type="application/json", **headers)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "query", "body", "field"), list(_cases()))
def test_a_value_that_cannot_be_stored_is_a_422_naming_the_field(
    admin_api, feed_headers, client, method, path, query, body, field
):
    response = _send(admin_api, client, method, path, query, body, feed_headers)
    assert response.status_code == 422, (response.status_code, response.content[:300])
    fields = error_fields(response)
    assert any(name == field or name.startswith(field + ".") for name in fields), fields


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), list(_json_operations()))
def test_json_nested_10000_deep_is_a_400(admin_api, feed_headers, client, method, path):
    headers = feed_headers if _takes_feed_key(method, path) else admin_api.headers
    response = getattr(client, method)(path, DEEP, content_type="application/json", **headers)
    assert response.status_code == 400, response.content[:300]
    assert error_fields(response) == {"body": f"Nested deeper than {MAX_DEPTH} levels."}


def test_every_operation_is_covered():
    """The spec-driven cases reach every operation that takes a parameter or a JSON body."""
    covered = {(c.values[0], c.values[1].split("?")[0]) for c in _cases()}
    for _, path, method, op in _operations():
        takes_input = op.get("parameters") or "application/json" in op.get("requestBody", {}).get(
            "content", {}
        )
        if takes_input:
            assert any(m == method for m, _ in covered), (method, path)
    assert len(covered) > 60


# --- tokens and integration keys: an out-of-range expiry is never stored --------------------


@pytest.mark.django_db
@pytest.mark.parametrize("expires_at", [FAR_TIME, "10000-01-01T00:00:00Z", "1960-01-01T00:00:00Z"])
@pytest.mark.parametrize(
    ("path", "extra"), [("/tokens", {}), ("/integration-keys", {"source": "native"})]
)
def test_an_expiry_out_of_range_is_refused_and_not_stored(admin_api, path, extra, expires_at):
    before = (ApiToken.objects.count(), IntegrationKey.objects.count())
    response = admin_api.post(f"{V1}{path}", {"name": "far", "expires_at": expires_at, **extra})
    assert response.status_code == 422
    assert "expires_at" in error_fields(response)
    assert (ApiToken.objects.count(), IntegrationKey.objects.count()) == before
    # and the lists still answer
    assert admin_api.get(f"{V1}{path}").status_code == 200


@pytest.mark.django_db
def test_an_expiry_at_the_edge_of_the_range_is_accepted(admin_api):
    response = admin_api.post(
        f"{V1}/tokens", {"name": "late", "expires_at": "2999-12-31T18:59:59-05:00"}
    )
    assert response.status_code == 201, response.content
    assert admin_api.get(f"{V1}/tokens").status_code == 200


POLICY_OUT_OF_RANGE = [
    ({"group_threshold": -1}, "group_threshold"),
    ({"group_threshold": 1001}, "group_threshold"),
    ({"reopen_within_minutes": 0}, "reopen_within_minutes"),
    ({"reopen_within_minutes": 525_601}, "reopen_within_minutes"),
    ({"sla_minutes": {"HIGH": {"acknowledge": 0, "resolve": 10}}}, "sla_minutes"),
    ({"sla_minutes": {"HIGH": {"acknowledge": 5, "resolve": 525_601}}}, "sla_minutes"),
    ({"sla_minutes": {"HIGH": {"acknowledge": 50, "resolve": 10}}}, "sla_minutes"),
    ({"sla_minutes": {"URGENT": {"acknowledge": 5, "resolve": 10}}}, "sla_minutes"),
    ({"excluded_types": ["x" * 101]}, "excluded_types"),
    ({"excluded_types": [f"T{i}" for i in range(201)]}, "excluded_types"),
    ({"excluded_types": [""]}, "excluded_types"),
    ({"reopen_rule": "sometimes"}, "reopen_rule"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), POLICY_OUT_OF_RANGE)
def test_incident_policy_out_of_range_is_a_422_naming_the_field(admin_api, body, field):
    from watchfloor.incidents.models import IncidentPolicy

    before = list(IncidentPolicy.objects.values())
    response = admin_api.put(f"{V1}/incident-policy", {"group_threshold": 7, **body})
    assert response.status_code == 422, response.content
    assert any(name.startswith(field) for name in error_fields(response)), response.content
    assert list(IncidentPolicy.objects.values()) == before


@pytest.mark.django_db
def test_incident_policy_at_the_edges_is_accepted(admin_api):
    edges = {
        "group_threshold": 1000,
        "reopen_within_minutes": 525_600,
        "sla_minutes": {"INFO": {"acknowledge": 1, "resolve": 525_600}},
        "excluded_types": ["x" * 100] + [f"T{i}" for i in range(199)],
    }
    response = admin_api.put(f"{V1}/incident-policy", edges)
    assert response.status_code == 200, response.content
    assert response.json()["sla_minutes"]["INFO"] == {"acknowledge": 1, "resolve": 525_600}
    low = admin_api.put(f"{V1}/incident-policy", {"group_threshold": 0})
    assert low.status_code == 200 and low.json()["group_threshold"] == 0


# --- the ingestion endpoints --------------------------------------------------------------


def _event(index: int) -> dict:
    return {"type": "DEVICE_OFFLINE", "severity": "HIGH", "title": f"event {index}"}


def _am_alert(index: int) -> dict:
    return {"labels": {"alertname": f"A{index}"}, "annotations": {}}


# endpoint, source, how a batch of 40 looks, where event 37's `occurred_at`-like time lives
INGEST = {
    "native": (
        "/api/v1/integrations/native",
        "native",
        lambda items: items,
        _event,
        "occurred_at",
        "37",
    ),
    "alertmanager": (
        "/api/v1/integrations/alertmanager",
        "alertmanager",
        lambda items: {"version": "4", "status": "firing", "alerts": items},
        _am_alert,
        "startsAt",
        "alerts.37",
    ),
    "alertmanager_v2": (
        "/api/v2/alerts",
        "alertmanager",
        lambda items: items,
        _am_alert,
        "startsAt",
        "37",
    ),
}


def _ingest(client, path, plain, body):
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        path, raw, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {plain}"
    )


def _key(estate, source):
    from watchfloor.access.services import create_integration_key

    return create_integration_key(
        estate.tenant, actor=estate.user("admin"), name=source, source=source
    ).plain


def _alert_count():
    from watchfloor.alerts.models import Alert

    return Alert.objects.count()


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(INGEST))
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (FAR_TIME, "Must be between"),
        ("1969-12-31T23:59:59Z", "Must be between"),
    ],
)
def test_a_batch_with_a_time_out_of_range_at_event_37_names_it(
    client, estate, name, value, message
):
    path, source, wrap, make, time_field, where = INGEST[name]
    items = [make(i) for i in range(40)]
    items[37][time_field] = value
    before = _alert_count()
    response = _ingest(client, path, _key(estate, source), wrap(items))
    assert response.status_code == 422, response.content[:300]
    fields = error_fields(response)
    assert fields[f"{where}.{time_field}"].startswith(message), fields
    assert _alert_count() == before


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(INGEST))
@pytest.mark.parametrize("bad", [NUL, SURROGATE])
@pytest.mark.parametrize("place", ["value", "key"])
def test_a_batch_with_unstorable_text_at_event_37_names_it(client, estate, name, bad, place):
    path, source, wrap, make, _time_field, where = INGEST[name]
    items = [make(i) for i in range(40)]
    if place == "value":
        items[37]["labels"] = {"site": bad}
        expected = f"{where}.labels.site"
    else:
        items[37]["labels"] = {"alertname": "A", bad: "x"}
        expected = f"{where}.labels.{bad}"
    before = _alert_count()
    response = _ingest(client, path, _key(estate, source), wrap(items))
    assert response.status_code == 422, response.content[:300]
    assert expected in error_fields(response)
    assert _alert_count() == before


@pytest.mark.django_db
def test_a_single_native_event_is_named_as_event_0(client, estate):
    response = _ingest(
        client, "/api/v1/integrations/native", _key(estate, "native"), {**_event(0), "title": NUL}
    )
    assert response.status_code == 422
    assert error_fields(response) == {"0.title": "NUL characters are not allowed."}


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(INGEST))
@pytest.mark.parametrize("depth", [10_000, MAX_DEPTH + 1])
def test_ingestion_json_nested_too_deep_is_a_400(client, estate, name, depth):
    path, source, *_ = INGEST[name]
    body = "[" * depth + "]" * depth
    response = _ingest(client, path, _key(estate, source), body)
    assert response.status_code == 400, response.content[:300]
    assert error_fields(response) == {"body": f"Nested deeper than {MAX_DEPTH} levels."}


def _pd(routing_key: str, **payload) -> dict:
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {"summary": "disk full", "source": "db-1", "severity": "error", **payload},
    }


@pytest.mark.django_db
def test_pagerduty_nested_10000_deep_is_a_400(client):
    response = client.post("/v2/enqueue", DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == [f"Nested deeper than {MAX_DEPTH} levels."]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"timestamp": FAR_TIME}, "payload.timestamp"),
        ({"summary": NUL}, "payload.summary"),
        ({"custom_details": {"site": SURROGATE}}, "payload.custom_details.site"),
    ],
)
def test_pagerduty_unstorable_values_are_a_400_naming_the_field(client, estate, payload, named):
    before = _alert_count()
    body = _pd(_key(estate, "pagerduty"), **payload)
    response = client.post("/v2/enqueue", json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert any(error.startswith(named + ":") for error in response.json()["errors"])
    assert _alert_count() == before


@pytest.mark.django_db
def test_pagerduty_routing_key_with_a_nul_is_a_400(client):
    response = client.post(
        "/v2/enqueue", json.dumps(_pd("k\x00ey")), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0].startswith("routing_key:")


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["99999999999999999999", "9223372036854775808"])
def test_a_client_filter_past_64_bits_is_no_500(api, estate, value):
    """`client` takes an id or a code: digits past 64 bits are no id (SQLite cannot bind them)."""
    response = api(estate.user("admin")).get(f"/api/v1/sites?client={value}")
    assert response.status_code == 200 and response.json()["items"] == []
