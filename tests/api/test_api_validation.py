"""Bad input is refused with the one error shape, names the field, and writes nothing."""

from __future__ import annotations

import pytest

from support_api import V1, error_code, error_fields

SITE = {"code": "new-site", "name": "New site"}  # + client_id, filled in by the test

# (method, path, body (dict) or raw text (str), status, code, field)
BAD = [
    # malformed JSON
    ("post", "/clients", '{"code": "x", ', 400, "malformed_json", "body"),
    ("post", "/sites", "{'code': 'single quotes'}", 400, "malformed_json", "body"),
    ("patch", "/clients/{client}", "not json", 400, "malformed_json", "body"),
    ("patch", "/sites/{site}", '{"name": "x"', 400, "malformed_json", "body"),
    ("post", "/integration-keys", "{", 400, "malformed_json", "body"),
    ("post", "/tokens", '{"name": }', 400, "malformed_json", "body"),
    # not an object / empty
    ("post", "/clients", "[]", 422, "validation_error", "body"),
    ("post", "/clients", "", 422, "validation_error", "body"),
    # unknown field
    (
        "post",
        "/clients",
        {"code": "x", "name": "x", "colour": "red"},
        422,
        "validation_error",
        "colour",
    ),
    ("patch", "/clients/{client}", {"nmae": "typo"}, 422, "validation_error", "nmae"),
    (
        "post",
        "/sites",
        {**SITE, "client_id": "{client}", "tenant_id": 2},
        422,
        "validation_error",
        "tenant_id",
    ),
    ("patch", "/sites/{site}", {"id": 99}, 422, "validation_error", "id"),
    (
        "post",
        "/integration-keys",
        {"name": "k", "source": "native", "secret": "x"},
        422,
        "validation_error",
        "secret",
    ),
    # missing field
    ("post", "/clients", {"name": "x"}, 422, "validation_error", "code"),
    ("post", "/sites", {"code": "x", "name": "x"}, 422, "validation_error", "client_id"),
    # wrong type
    ("post", "/clients", {"code": 123, "name": "x"}, 422, "validation_error", "code"),
    ("post", "/clients", {"code": "x", "name": ["x"]}, 422, "validation_error", "name"),
    ("patch", "/clients/{client}", {"active": "maybe"}, 422, "validation_error", "active"),
    ("patch", "/clients/{client}", {"owner_id": "someone"}, 422, "validation_error", "owner_id"),
    ("post", "/sites", {**SITE, "client_id": "one"}, 422, "validation_error", "client_id"),
    ("patch", "/sites/{site}", {"latitude": "north"}, 422, "validation_error", "latitude"),
    (
        "patch",
        "/sites/{site}",
        {"officer_in_charge_id": 1.5},
        422,
        "validation_error",
        "officer_in_charge_id",
    ),
    (
        "post",
        "/integration-keys",
        {"name": "k", "source": "smtp"},
        422,
        "validation_error",
        "source",
    ),
    # too long / empty / bad pattern
    ("post", "/clients", {"code": "c" * 51, "name": "x"}, 422, "validation_error", "code"),
    ("post", "/clients", {"code": "x", "name": "n" * 201}, 422, "validation_error", "name"),
    ("post", "/clients", {"code": "x", "name": "   "}, 422, "validation_error", "name"),
    ("post", "/clients", {"code": "has space", "name": "x"}, 422, "validation_error", "code"),
    ("patch", "/clients/{client}", {"name": "n" * 201}, 422, "validation_error", "name"),
    (
        "post",
        "/sites",
        {**SITE, "client_id": "{client}", "code": "s" * 51},
        422,
        "validation_error",
        "code",
    ),
    (
        "post",
        "/sites",
        {**SITE, "client_id": "{client}", "name": "n" * 201},
        422,
        "validation_error",
        "name",
    ),
    ("patch", "/sites/{site}", {"city": "c" * 101}, 422, "validation_error", "city"),
    ("patch", "/sites/{site}", {"code": "s" * 51}, 422, "validation_error", "code"),
    (
        "post",
        "/integration-keys",
        {"name": "k" * 101, "source": "native"},
        422,
        "validation_error",
        "name",
    ),
    # null where a value is required
    ("patch", "/clients/{client}", {"code": None}, 422, "validation_error", "code"),
    ("patch", "/sites/{site}", {"timezone": None}, 422, "validation_error", "timezone"),
    ("patch", "/sites/{site}", {"client_id": None}, 422, "validation_error", "client_id"),
    # out of range
    (
        "post",
        "/sites",
        {**SITE, "client_id": "{client}", "timezone": "Mars/Olympus"},
        422,
        "validation_error",
        "timezone",
    ),
    (
        "patch",
        "/sites/{site}",
        {"timezone": "Europe/Atlantis"},
        422,
        "validation_error",
        "timezone",
    ),
    (
        "post",
        "/sites",
        {**SITE, "client_id": "{client}", "latitude": 91},
        422,
        "validation_error",
        "latitude",
    ),
    ("patch", "/sites/{site}", {"latitude": -90.5}, 422, "validation_error", "latitude"),
    ("patch", "/sites/{site}", {"longitude": 181}, 422, "validation_error", "longitude"),
    # references that do not exist
    ("post", "/sites", {**SITE, "client_id": 10**9}, 422, "validation_error", "client_id"),
    ("patch", "/clients/{client}", {"owner_id": 10**9}, 422, "validation_error", "owner_id"),
    (
        "post",
        "/integration-keys",
        {"name": "k", "source": "native", "default_site_id": 10**9},
        422,
        "validation_error",
        "default_site_id",
    ),
    (
        "post",
        "/integration-keys",
        {
            "name": "k",
            "source": "native",
            "default_client_id": "{client}",
            "default_site_id": "{other_client_site}",
        },
        422,
        "validation_error",
        "default_site_id",
    ),
    # duplicates in the same tenant
    ("post", "/clients", {"code": "{client_code}", "name": "Dup"}, 422, "validation_error", "code"),
    (
        "patch",
        "/clients/{client}",
        {"code": "{other_client_code}"},
        422,
        "validation_error",
        "code",
    ),
    (
        "post",
        "/sites",
        {**SITE, "client_id": "{client}", "code": "{site_code}"},
        422,
        "validation_error",
        "code",
    ),
    ("patch", "/sites/{site}", {"code": "{other_site_code}"}, 422, "validation_error", "code"),
    # expiry in the past
    (
        "post",
        "/integration-keys",
        {"name": "k", "source": "native", "expires_at": "2001-01-01T00:00:00Z"},
        422,
        "validation_error",
        "expires_at",
    ),
]


def _refs(estate):
    return {
        "client": estate.clients[0].id,
        "site": estate.sites[0].id,
        "client_code": estate.clients[0].code,
        "other_client_code": estate.clients[1].code,
        "site_code": estate.sites[0].code,
        "other_site_code": estate.sites[1].code,
        "other_client_site": estate.sites[2].id,
    }


def _fill(value, refs):
    if isinstance(value, dict):
        return {k: _fill(v, refs) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return refs[value[1:-1]]
    return value


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "field"),
    BAD,
    ids=[f"{m.upper()} {p} {f} {i}" for i, (m, p, _, _, _, f) in enumerate(BAD)],
)
def test_bad_input_is_refused_and_writes_nothing(
    estate, api, write_counts, method, path, body, status, code, field
):
    refs = _refs(estate)
    caller = api(estate.user("admin"))
    url = V1 + path.format(**refs)
    before = write_counts()
    site_before = {
        f.attname: getattr(estate.sites[0], f.attname) for f in estate.sites[0]._meta.fields
    }

    if isinstance(body, str):  # raw text, sent as it is
        response = getattr(caller, method)(url, raw=body) if body else getattr(caller, method)(url)
    else:
        response = getattr(caller, method)(url, _fill(body, refs))

    assert response.status_code == status, response.content
    assert error_code(response) == code
    assert field in error_fields(response), error_fields(response)
    assert write_counts() == before
    estate.sites[0].refresh_from_db()
    assert {
        f.attname: getattr(estate.sites[0], f.attname) for f in estate.sites[0]._meta.fields
    } == (site_before)


def test_same_code_in_another_tenant_is_fine(estate, other_estate, api):
    caller = api(estate.user("admin"))
    taken_elsewhere = other_estate.clients[0].code
    response = caller.post(f"{V1}/clients", {"code": taken_elsewhere, "name": "Mine too"})
    assert response.status_code == 201, response.content
    site_code = other_estate.sites[0].code
    response = caller.post(
        f"{V1}/sites", {"code": site_code, "name": "S", "client_id": estate.clients[0].id}
    )
    assert response.status_code == 201, response.content


def test_patch_keeping_its_own_code_is_fine(estate, api):
    client = estate.clients[0]
    response = api(estate.user("admin")).patch(
        f"{V1}/clients/{client.id}", {"code": client.code, "name": "Same code"}
    )
    assert response.status_code == 200, response.content


def test_every_error_names_each_bad_field(estate, api):
    response = api(estate.user("admin")).post(
        f"{V1}/sites",
        {"code": "", "name": "n" * 201, "client_id": estate.clients[0].id, "latitude": 95, "x": 1},
    )
    assert response.status_code == 422
    assert set(error_fields(response)) == {"code", "name", "latitude", "x"}


LIST_PATHS = ["/clients", "/sites", "/audit", "/tokens", "/integration-keys"]


@pytest.mark.parametrize("path", LIST_PATHS)
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "cGs6YWJj"}, "cursor"),  # "pk:abc"
        ({"cursor": "aWQ6NQ"}, "cursor"),  # "id:5"
        ({"cursor": "é"}, "cursor"),
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_bad_page_parameters_are_422(estate, api, path, params, field):
    response = api(estate.user("admin")).get(V1 + path, **params)
    assert response.status_code == 422, response.content
    assert error_code(response) == "validation_error"
    assert field in error_fields(response)


@pytest.mark.parametrize(
    ("path", "field"),
    [("/clients/abc", "client_id"), ("/sites/1.5", "site_id"), ("/integration-keys/x", "key_id")],
)
def test_non_numeric_ids_are_422(estate, api, path, field):
    response = api(estate.user("admin")).get(V1 + path)
    assert response.status_code == 422
    assert field in error_fields(response)


def test_max_limit_is_accepted(estate, api):
    assert api(estate.user("admin")).get(f"{V1}/sites", limit=500).status_code == 200


def test_error_messages_are_readable(estate, api):
    response = api(estate.user("admin")).post(
        f"{V1}/sites",
        {"code": "x", "name": "x", "client_id": estate.clients[0].id, "timezone": "Mars/X", "y": 1},
    )
    assert error_fields(response) == {"timezone": "Unknown time zone.", "y": "Unknown field."}
