"""sql_rows.insert_rows: the multi-row INSERT … ON CONFLICT DO NOTHING RETURNING of the hot
set-based writers — values adapted through their fields, the model's defaults filled, the rows a
conflict skipped left out of what it returns, and chunks within the parameter limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from support_alerts import key_for, trigger  # noqa: F401 (a fixture)
from watchfloor import sql_rows
from watchfloor.alerts.models import Alert
from watchfloor.alerts.pipeline import ingest
from watchfloor.oncall.models import AlertEscalation, EscalationState

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
COLUMNS = ("alert_id", "tenant_id", "state", "stop_reason", "created_at", "updated_at")


@pytest.fixture
def alert_ids(estate, key_for, settings):  # noqa: F811
    settings.ALERT_CHANGE_HOOKS = []
    key = key_for(estate)
    ingest([trigger(site=estate.sites[0].code, entity_id=str(i)) for i in range(5)], key=key)
    return list(Alert.objects.order_by("id").values_list("id", flat=True))


def _rows(ids, tenant_id, reason="r"):
    return [(a, tenant_id, EscalationState.STOPPED, reason, T0, T0) for a in ids]


def test_inserts_with_defaults_and_returns_what_it_inserted(estate, alert_ids):
    assert sql_rows.supported()  # SQLite ≥ 3.35 and PostgreSQL
    got = sql_rows.insert_rows(
        AlertEscalation, COLUMNS, _rows(alert_ids[:3], estate.tenant.id), returning=("alert_id",)
    )
    assert sorted(got) == [(a,) for a in alert_ids[:3]]
    row = AlertEscalation.objects.get(alert_id=alert_ids[0])
    # the columns not given took the model's defaults; datetimes came back as written
    assert (row.next_step, row.token, row.queued_token) == (0, 0, 0)
    assert row.created_at == T0 and row.next_at is None and row.policy_version_id is None
    # a second insert over the same alerts and two new ones: only the new come back
    again = sql_rows.insert_rows(
        AlertEscalation,
        COLUMNS,
        _rows(alert_ids, estate.tenant.id, reason="second"),
        returning=("alert_id",),
    )
    assert sorted(again) == [(a,) for a in alert_ids[3:]]
    assert AlertEscalation.objects.get(alert_id=alert_ids[0]).stop_reason == "r"


def test_chunks_stay_within_the_parameter_limit(estate, alert_ids, monkeypatch):
    monkeypatch.setattr(sql_rows, "CHUNK_PARAMETERS", 2 * len(COLUMNS) + 1)  # two rows a statement
    got = sql_rows.insert_rows(
        AlertEscalation, COLUMNS, _rows(alert_ids, estate.tenant.id), returning=("alert_id",)
    )
    assert sorted(got) == [(a,) for a in alert_ids]
    assert AlertEscalation.objects.count() == len(alert_ids)


def test_nothing_to_insert_runs_nothing(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert sql_rows.insert_rows(AlertEscalation, COLUMNS, []) == []


@pytest.mark.django_db
def test_pg_execute_binds_text_and_json_in_binary_exactly():
    """pg_execute sends every `%s` as binary (no escaping in Python): quotes, backslashes,
    braces, non-ASCII and NULLs in text and JSON arrays come back as sent; `%%` stays literal."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("pg_execute is PostgreSQL's path (DATABASE_URL unset: SQLite)")
    from psycopg.types.json import Jsonb

    texts = ['a"b', "back\\slash", "{brace,comma}", "é ü 北", None, ""]
    docs = [{"k": 'q"uote', "n": [1, {"x": "\\"}]}, {}, None]
    rows = sql_rows.pg_execute(
        "SELECT %s::varchar[], %s::jsonb[], %s::int + 1, '100%%'",
        [texts, [None if d is None else Jsonb(d) for d in docs], 41],
    )
    assert rows == [(texts, docs, 42, "100%")]


def test_insert_models_sets_primary_keys_in_order_and_saves_every_column(estate, alert_ids):
    from watchfloor.incidents.models import Incident, IncidentStatus, Origin

    made = [
        Incident(
            tenant_id=estate.tenant.id,
            title=f'storm "{n}"',
            severity="HIGH",
            status=IncidentStatus.NEW,
            origin=Origin.ALERT_GROUP,
            client_id=estate.sites[n].client_id,
            site_id=estate.sites[n].id,
            opened_at=T0,
            updated_at=T0,
        )
        for n in range(3)
    ]
    sql_rows.insert_models(made)
    assert all(i.pk is not None and not i._state.adding for i in made)
    assert [i.pk for i in made] == sorted(i.pk for i in made)
    for incident in made:
        stored = Incident.objects.get(pk=incident.pk)
        assert (stored.title, stored.site_id, stored.opened_at) == (
            incident.title,
            incident.site_id,
            T0,
        )
        assert (stored.summary, stored.reopen_count, stored.closed_at) == ("", 0, None)
    sql_rows.insert_models([])  # nothing: no statement


def test_rows_of_the_wrong_length_are_refused(estate, alert_ids):
    with pytest.raises(ValueError, match="every row needs"):
        sql_rows.insert_rows(AlertEscalation, COLUMNS, [(alert_ids[0], estate.tenant.id)])
