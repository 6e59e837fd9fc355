"""Group commit of the staging append (alerts.staging.GroupWriter): concurrent requests of one
process share one multi-row INSERT and commit; each returns only once its own row is written;
a failed write is the error of every request in its group, and of no other."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connection

from support_alerts import key_for, trigger
from watchfloor.alerts import staging
from watchfloor.alerts.models import StagedBatch

__all__ = ["key_for"]


class _Gate:
    """A fake `_insert` that records each group and holds the first write until released."""

    def __init__(self, fail_on: set[int] = frozenset()):
        self.groups: list[list] = []
        self.first_entered = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, rows):
        index = len(self.groups)
        self.groups.append([row[0] for row in rows])
        if index == 0:
            self.first_entered.set()
            assert self.release.wait(10)
        if index in self.fail_on:
            raise OperationalError("the server closed the connection")


def _writers(writer, rows):
    outcome: dict[int, object] = {}

    def run(row):
        try:
            writer.write([row])
            outcome[row] = "written"
        except OperationalError as exc:
            outcome[row] = exc

    threads = [threading.Thread(target=run, args=(r,)) for r in rows]
    return threads, outcome


def test_requests_arriving_during_a_write_share_the_next_group(monkeypatch):
    gate = _Gate()
    monkeypatch.setattr(staging, "_insert", gate)
    writer = staging.GroupWriter()
    [first], outcome = _writers(writer, [0])
    first.start()
    assert gate.first_entered.wait(10)
    others, later = _writers(writer, [1, 2, 3, 4])
    for t in others:
        t.start()
    while len(writer._queue) < 4:  # all four queued behind the write under way
        threading.Event().wait(0.01)
    assert not later  # nobody answered before its row is written
    gate.release.set()
    for t in [first, *others]:
        t.join(10)
    assert outcome == {0: "written"}
    assert gate.groups[0] == [0]
    assert sorted(gate.groups[1]) == [1, 2, 3, 4] and len(gate.groups) == 2
    assert set(later.values()) == {"written"}
    assert (writer.groups, writer.rows) == (2, 5)
    assert not writer._writing and not writer._queue


def test_a_failed_group_fails_its_requests_only(monkeypatch):
    gate = _Gate(fail_on={1})
    monkeypatch.setattr(staging, "_insert", gate)
    writer = staging.GroupWriter()
    [first], outcome = _writers(writer, [0])
    first.start()
    assert gate.first_entered.wait(10)
    others, later = _writers(writer, [1, 2, 3])
    for t in others:
        t.start()
    while len(writer._queue) < 3:
        threading.Event().wait(0.01)
    gate.release.set()
    for t in [first, *others]:
        t.join(10)
    assert outcome == {0: "written"}
    assert all(isinstance(later[r], OperationalError) for r in (1, 2, 3))
    # the writer recovers: the next request is a group of its own and is written
    writer.write([9])
    assert gate.groups[-1] == [9]


def test_a_group_is_bounded(monkeypatch):
    gate = _Gate()
    monkeypatch.setattr(staging, "_insert", gate)
    writer = staging.GroupWriter(max_rows=2)
    [first], _ = _writers(writer, [0])
    first.start()
    assert gate.first_entered.wait(10)
    others, later = _writers(writer, [1, 2, 3, 4, 5])
    for t in others:
        t.start()
    while len(writer._queue) < 5:
        threading.Event().wait(0.01)
    gate.release.set()
    for t in [first, *others]:
        t.join(10)
    assert [len(g) for g in gate.groups] == [1, 2, 2, 1]
    assert sorted(r for g in gate.groups for r in g) == [0, 1, 2, 3, 4, 5]
    assert set(later.values()) == {"written"}


def _lag_read_once(settings, monkeypatch) -> None:
    """No fold worker in this process, and the back-pressure check's read of the staging table
    done now, for the whole test: on the SQLite test database (in-memory shared cache, no busy
    timeout) a thread reading it while the group's leader inserts fails with "table is locked"
    (CI, stop 19), which a file database in WAL mode, the embedded default, never does."""
    settings.ALERT_FOLD_IN_PROCESS = False
    monkeypatch.setattr(staging, "LAG_CHECK_EVERY", 3600.0)
    staging.forget_lag()
    staging.refuse_when_backlogged()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_requests_stage_every_batch_once_in_their_groups(
    estate, key_for, settings, monkeypatch
):
    """Real threads, real database, outside any transaction: what a gunicorn worker does."""
    _lag_read_once(settings, monkeypatch)
    key = key_for(estate)
    site = estate.sites[0].code
    writer = staging._writer
    groups_before, rows_before = writer.groups, writer.rows
    errors: list[BaseException] = []

    def send(n):
        try:
            staging.stage([trigger(site=site, fingerprint=f"g{n}")], key=key)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    staged = list(StagedBatch.objects.values_list("events", flat=True))
    fingerprints = sorted(staging.decode(text)[0].fingerprint for text in staged)
    assert fingerprints == sorted(f"g{n}" for n in range(12))
    assert writer.rows - rows_before == 12
    assert 1 <= writer.groups - groups_before <= 12
    StagedBatch.objects.all().delete()
    staging.forget_lag()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_staging_connection_serves_every_group_and_recovers_when_dropped(
    estate, key_for, settings, monkeypatch
):
    """Outside a transaction the append goes through the process's own connection, not the
    request's pooled one; when the database ends that session, its group's requests fail
    (Django's OperationalError: a 503, nothing claimed stored) and the next group reconnects."""
    _lag_read_once(settings, monkeypatch)
    key = key_for(estate)
    site = estate.sites[0].code

    def stage(fingerprint: str) -> None:
        staging.stage([trigger(site=site, fingerprint=fingerprint)], key=key)

    def staging_pid() -> int:
        return staging._staging_connection._conn.info.backend_pid

    stage("a")  # the site's code is looked up (and kept) on the request's connection
    first = staging_pid()
    connection.close()
    stage("b")
    assert connection.connection is None  # a request with nothing to look up opens none
    assert staging_pid() == first  # one session for every group
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [first])
    with pytest.raises(OperationalError):
        stage("lost")
    stage("c")
    assert staging_pid() != first
    staged = StagedBatch.objects.values_list("events", flat=True)
    assert sorted(staging.decode(text)[0].fingerprint for text in staged) == ["a", "b", "c"]
    StagedBatch.objects.all().delete()
    staging.forget_lag()
