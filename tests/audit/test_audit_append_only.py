"""The audit log is append-only: the model, the queryset and (on PostgreSQL) a trigger refuse
changes and deletes; only `purge_before` removes rows, and only old ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from watchfloor.audit.models import Action, AuditImmutableError, AuditLog
from watchfloor.audit.services import purge_before, record

TABLE = AuditLog._meta.db_table


@pytest.fixture
def entry(estate):
    return record(Action.EXPORT, actor=estate.user("admin"), details={"report": "mttr"})


def _unchanged(entry):
    fresh = AuditLog.objects.get(pk=entry.pk)
    assert (fresh.action, fresh.details) == (Action.EXPORT, {"report": "mttr"})


def test_save_of_an_existing_row_is_refused(entry):
    entry.action = Action.RESOLVE
    with pytest.raises(AuditImmutableError):
        entry.save()
    fetched = AuditLog.objects.get(pk=entry.pk)
    fetched.details = {"report": "forged"}
    with pytest.raises(AuditImmutableError):
        fetched.save(update_fields=["details"])
    _unchanged(entry)


def test_model_delete_is_refused(entry):
    with pytest.raises(AuditImmutableError):
        entry.delete()
    _unchanged(entry)


def test_queryset_update_and_delete_are_refused(entry):
    with pytest.raises(AuditImmutableError):
        AuditLog.objects.filter(pk=entry.pk).update(action=Action.RESOLVE)
    with pytest.raises(AuditImmutableError):
        AuditLog.objects.all().update(details={})
    with pytest.raises(AuditImmutableError):
        AuditLog.objects.filter(pk=entry.pk).delete()
    with pytest.raises(AuditImmutableError):
        AuditLog.objects.all().delete()
    entry.action = Action.RESOLVE
    with pytest.raises(AuditImmutableError):
        AuditLog.objects.bulk_update([entry], ["action"])
    _unchanged(entry)


def test_rows_are_only_added(estate):
    before = AuditLog.objects.count()
    record(Action.EXPORT, actor=estate.user("admin"))
    record(Action.EXPORT, actor=estate.user("admin"))
    assert AuditLog.objects.count() == before + 2


def _raw(sql, params=()):
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, params)


@pytest.mark.postgres
def test_trigger_refuses_raw_update(entry):
    with pytest.raises(DatabaseError, match="append-only"):
        _raw(f"UPDATE {TABLE} SET action = %s WHERE id = %s", ["resolve", entry.pk])  # noqa: S608
    with pytest.raises(DatabaseError, match="append-only"):
        _raw(f"UPDATE {TABLE} SET details = '{{}}'")  # noqa: S608
    _unchanged(entry)


@pytest.mark.postgres
def test_trigger_refuses_raw_delete(entry):
    with pytest.raises(DatabaseError, match="append-only"):
        _raw(f"DELETE FROM {TABLE} WHERE id = %s", [entry.pk])  # noqa: S608
    with pytest.raises(DatabaseError, match="append-only"):
        _raw(f"DELETE FROM {TABLE}")  # noqa: S608
    _unchanged(entry)


def _entries_at(when, count, monkeypatch, actor):
    """Rows whose created_at is `when` (auto_now_add reads the clock: move the clock)."""
    with monkeypatch.context() as m:
        m.setattr(timezone, "now", lambda: when)
        return [record(Action.EXPORT, actor=actor, details={"n": i}) for i in range(count)]


def test_purge_before_removes_only_old_rows(estate, monkeypatch):
    now = timezone.now()
    actor = estate.user("admin")
    old = _entries_at(now - timedelta(days=400), 7, monkeypatch, actor)
    edge = _entries_at(now - timedelta(days=365), 1, monkeypatch, actor)
    recent = _entries_at(now - timedelta(days=1), 3, monkeypatch, actor)
    kept_before = set(
        AuditLog.objects.exclude(pk__in=[e.pk for e in old]).values_list("id", flat=True)
    )

    removed = purge_before(now - timedelta(days=365), batch_size=3)  # several batches

    assert removed == len(old)
    remaining = set(AuditLog.objects.values_list("id", flat=True))
    assert remaining == kept_before
    assert {e.pk for e in edge + recent} <= remaining
    assert purge_before(now - timedelta(days=365)) == 0


@pytest.mark.postgres
def test_purge_does_not_leave_the_trigger_open(estate, monkeypatch):
    """After purge_before, in the same transaction, a raw delete is refused again."""
    now = timezone.now()
    actor = estate.user("admin")
    _entries_at(now - timedelta(days=400), 2, monkeypatch, actor)
    survivor = record(Action.EXPORT, actor=actor)
    with transaction.atomic():
        assert purge_before(now - timedelta(days=365)) == 2
        with pytest.raises(DatabaseError, match="append-only"):
            _raw(f"DELETE FROM {TABLE} WHERE id = %s", [survivor.pk])  # noqa: S608
    assert AuditLog.objects.filter(pk=survivor.pk).exists()


@pytest.mark.postgres
def test_trigger_is_installed():
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            [TABLE],
        )
        assert ("audit_auditlog_append_only",) in cur.fetchall()


def test_record_many_appends_every_entry_as_record_would(estate):
    """One statement for a batch (the incident rules append one per incident): tenant, entity,
    details (secrets scrubbed), the request's IP and agent, and the time of the append."""
    from watchfloor.audit.context import RequestContext, _current
    from watchfloor.audit.services import record_many

    token = _current.set(RequestContext(ip="2001:db8::7", user_agent="rules/1"))
    try:
        before = timezone.now()
        record_many(
            [
                {"action": Action.EXPORT, "tenant": estate.tenant.id, "entity": estate.sites[0],
                 "details": {"ids": [1, 2], "note": 'a "quoted" \\ word', "api_token": "x"}},
                {"action": Action.RESOLVE, "tenant": estate.tenant, "details": None},
            ]
        )  # fmt: skip
    finally:
        _current.reset(token)
    first, second = AuditLog.objects.filter(user_agent="rules/1").order_by("id")
    assert (first.tenant_id, first.actor_id, first.action) == (estate.tenant.id, None, "export")
    assert (first.entity_type, first.entity_id) == ("tenancy.site", str(estate.sites[0].pk))
    assert first.details == {"ids": [1, 2], "note": 'a "quoted" \\ word', "api_token": "[redacted]"}
    assert (first.ip, first.user_agent) == ("2001:db8::7", "rules/1")
    assert first.created_at >= before and second.created_at == first.created_at
    assert (second.tenant_id, second.entity_type, second.details) == (estate.tenant.id, "", {})
    record_many([])  # nothing to append: no statement
