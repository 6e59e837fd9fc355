"""copy_rows.insert_by_copy, as writes.insert_new_alerts uses it on PostgreSQL: every column
stored as the arrays stored it (JSON, datetimes, UUIDs, NULLs), a conflict reported as not
inserted, the staging table emptied between two uses in one transaction, and a CREATE that a
rollback undid made again."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from support_alerts import key_for, trigger  # noqa: F401 (a fixture)
from watchfloor.alerts.models import Alert, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.alerts.writes import insert_new_alerts

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def stored(estate, key_for, settings):  # noqa: F811
    settings.ALERT_CHANGE_HOOKS = []
    ingest([trigger(site=estate.sites[0].code, entity_id="cam-1")], key=key_for(estate))
    return Alert.objects.get()


def _unsaved(template: Alert, fingerprint: str, **values) -> Alert:
    alert = copy.copy(template)
    alert.pk = None
    alert._state = copy.copy(template._state)
    alert._state.adding = True
    alert.fingerprint = fingerprint
    for name, value in values.items():
        setattr(alert, name, value)
    return alert


def _columns(alert_id: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM alerts_alert WHERE id = %s", [alert_id])
        names = [c.name for c in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def test_every_column_is_stored_as_given(stored):
    labels = {"quote": 'a "b" \\ c', "unicode": "Zürich ☃", "nested": {"list": [1, 2.5, None]}}
    when = uuid.uuid4()
    alert = _unsaved(
        stored,
        "fp-copy-1",
        labels=labels,
        annotations={},
        description="line one\nline two\ttab",
        first_seen_at=T0,
        last_seen_at=T0 + timedelta(seconds=5),
        started_at=None,
        correlation_id=when,
        time_to_acknowledge=timedelta(minutes=3, microseconds=7),
        occurrence_count=7,
    )
    assert insert_new_alerts([alert]) == {"fp-copy-1": True}
    assert alert.pk is not None and not alert._state.adding
    row = _columns(alert.pk)
    # Django's connection hands jsonb back as text
    assert json.loads(row["labels"]) == labels and json.loads(row["annotations"]) == {}
    assert row["description"] == "line one\nline two\ttab"
    assert (row["first_seen_at"], row["last_seen_at"]) == (T0, T0 + timedelta(seconds=5))
    assert row["started_at"] is None and row["correlation_id"] == when
    assert row["time_to_acknowledge"] == timedelta(minutes=3, microseconds=7)
    assert (row["occurrence_count"], row["status"]) == (7, stored.status)
    # the other columns are the template's, as the ORM reads them back
    again = Alert.objects.get(pk=alert.pk)
    for field in ("tenant_id", "client_id", "site_id", "severity", "title", "content_hash"):
        assert getattr(again, field) == getattr(stored, field), field


def test_a_conflict_is_reported_and_the_stored_row_kept(stored):
    fresh = _unsaved(stored, "fp-copy-new")
    clash = _unsaved(stored, stored.fingerprint, title="a racing writer's title")
    got = insert_new_alerts([fresh, clash])
    assert got == {"fp-copy-new": True, stored.fingerprint: False}
    assert clash.pk == stored.pk  # the stored row's id, for the caller to fold into
    assert Alert.objects.get(pk=stored.pk).title == stored.title
    assert Alert.objects.filter(fingerprint=stored.fingerprint).count() == 1


def test_two_uses_in_one_transaction_insert_only_their_own_rows(stored):
    with transaction.atomic():
        first = insert_new_alerts([_unsaved(stored, "fp-a"), _unsaved(stored, "fp-b")])
        second = insert_new_alerts([_unsaved(stored, "fp-c")])
    assert first == {"fp-a": True, "fp-b": True}
    assert second == {"fp-c": True}
    assert Alert.objects.filter(status=Status(stored.status)).count() == 4


def test_a_staging_table_a_rollback_removed_is_made_again(stored):
    with connection.cursor() as cursor:  # a fresh staging table for this connection
        cursor.execute(
            "SELECT string_agg(quote_ident(relname), ', ') FROM pg_class"
            " WHERE relname LIKE 'wf\\_copy\\_%%' AND relpersistence = 't'"
        )
        existing = cursor.fetchone()[0]
        if existing:
            cursor.execute(f"DROP TABLE {existing}")
    with pytest.raises(RuntimeError), transaction.atomic():
        insert_new_alerts([_unsaved(stored, "fp-rolled-back")])
        raise RuntimeError("the fold failed after its insert")
    assert insert_new_alerts([_unsaved(stored, "fp-after")]) == {"fp-after": True}
    assert not Alert.objects.filter(fingerprint="fp-rolled-back").exists()
