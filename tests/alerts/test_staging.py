"""Staging (alerts.staging): a 2xx means the batch is durable in the staging table; the fold
drains it into alerts, in order, in groups, exactly once."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection, connections

from support_alerts import key_for, publisher, resolve, trigger
from watchfloor.alerts import staging
from watchfloor.alerts.events import BatchInvalid, Event, EventAction
from watchfloor.alerts.models import Alert, Severity, StagedBatch, Status
from watchfloor.tenancy.models import Tenant

__all__ = ["key_for", "publisher"]

NATIVE = "/api/v1/integrations/native"


@pytest.fixture
def key(estate, key_for):
    return key_for(estate)


def _post(client, body, plain):
    return client.post(
        NATIVE,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )


def _settled(call):
    """`call()`, retried while SQLite's shared-cache test database reports a table locked by
    the drainer's connection (in-memory shared cache has no busy timeout; a file database
    in WAL mode waits instead)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return call()
        except OperationalError:
            if connection.vendor != "sqlite" or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout  # a bound on a hang, not a timing assertion
    while not _settled(predicate):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def test_encode_decode_keeps_every_field(estate, key):
    site = estate.sites[0]
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = trigger(
        site=site.code,
        labels={"a": "b", "ü": "\u2603"},
        annotations={"x": "y"},
        occurred_at=at,
        entity_type="device",
        entity_id="cam-1",
        source_url="https://example.com/x",
    )
    prepared = staging.prepare([event], key=key)
    [back] = staging.decode(staging.encode(prepared))
    assert back == prepared[0]
    assert back.where.site_id == site.id and back.event.occurred_at == at


def test_an_event_that_knows_its_columns_is_staged_as_the_same_bytes(estate, key):
    """An event the Alertmanager parser remembers carries its staged columns (`staged`):
    `encode` joins them into the very bytes it would dump, beside events that do not."""
    from watchfloor.alerts.integrations.alertmanager import parse_v2_alerts

    site = estate.sites[0]
    alert = {
        "labels": {"alertname": "Down", "site": site.code, "ü": "\u2603"},
        "annotations": {"summary": "Down at the gate"},
        "startsAt": "2026-12-07T10:00:00Z",
    }
    parse_v2_alerts([alert], now=datetime.now(UTC))
    [known] = parse_v2_alerts([alert], now=datetime.now(UTC))
    assert known.staged is not None
    plain = trigger(site=site.code, labels={"x": "y"})
    prepared = staging.prepare([known, plain, known], key=key)
    dumped = json.dumps(
        [staging._encode_one(p) for p in prepared], separators=(",", ":"), ensure_ascii=False
    )
    assert staging.encode(prepared) == dumped
    assert staging.decode(staging.encode(prepared)) == prepared


def test_decode_builds_each_field_from_its_own_column(estate, key):
    """decode builds an Event positionally: every field differs here, so a column read into
    another field, or Event's fields reordered, fails."""
    assert tuple(f.name for f in dataclasses.fields(Event))[:15] == staging._EVENT_FIELDS
    site = estate.sites[0]
    event = Event(
        action=EventAction.TRIGGER,
        type="type-1",
        severity=Severity.HIGH,
        title="title-2",
        description="description-3",
        fingerprint="fingerprint-4",
        client_code=site.client.code,
        site_code=site.code,
        entity_type="entity-type-5",
        entity_id="entity-id-6",
        labels={"label": "7"},
        annotations={"annotation": "8"},
        source_url="https://example.com/9",
        runbook_url="https://example.com/10",
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC),
    )
    [prepared] = staging.prepare([event], key=key)
    [back] = staging.decode(staging.encode([prepared]))
    assert back == prepared and back.event == event
    assert type(back.event.action) is EventAction and type(back.event.severity) is Severity


def test_the_content_hash_is_staged_by_the_request_and_kept_by_the_fold(estate, key):
    from watchfloor.alerts.fingerprints import content_hash

    event = trigger(site=estate.sites[0].code, fingerprint="h1", labels={"a": "b"})
    [prepared] = staging.prepare([event], key=key)
    assert prepared.digest == content_hash(event)
    [resolved] = staging.prepare([resolve("h1")], key=key)
    assert resolved.digest is None  # nothing compares a resolve's content
    staging.stage([event], key=key)
    assert json.loads(StagedBatch.objects.get().events)[0][18] == prepared.digest
    staging.drain_pending()
    assert Alert.objects.get(fingerprint="h1").content_hash == prepared.digest


def test_a_batch_staged_without_its_hash_is_hashed_by_the_fold(estate, key):
    """Batches an older version staged (18 columns) still fold, with the same hash."""
    from watchfloor.alerts.fingerprints import content_hash

    event = trigger(site=estate.sites[0].code, fingerprint="h2", title="old")
    staging.stage([event], key=key)
    batch = StagedBatch.objects.get()
    batch.events = json.dumps([row[:18] for row in json.loads(batch.events)])
    batch.save(update_fields=["events"])
    [decoded] = staging.decode(batch.events)
    assert decoded.digest is None
    staging.drain_pending()
    assert Alert.objects.get(fingerprint="h2").content_hash == content_hash(event)


def test_a_staged_batch_is_durable_and_folded_by_the_drain(estate, key):
    site = estate.sites[0].code
    staged = staging.stage([trigger(site=site, fingerprint="f1")] * 3, key=key)
    assert (staged.accepted, staged.fingerprints) == (3, ("f1", "f1", "f1"))
    # answered: the batch is in staging, not yet an alert
    assert StagedBatch.objects.count() == 1 and not Alert.objects.exists()
    assert staging.lag().events == 3
    assert staging.drain_pending() == 3
    alert = Alert.objects.get()
    assert (alert.fingerprint, alert.occurrence_count, alert.status) == ("f1", 3, Status.NEW)
    assert not StagedBatch.objects.exists()  # deleted in the fold's transaction
    assert staging.lag() == staging.Lag(0.0, 0, 0)


def test_a_bad_batch_stages_nothing(estate, key):
    with pytest.raises(BatchInvalid) as caught:
        staging.stage([trigger(site=estate.sites[0].code), trigger(site="nowhere")], key=key)
    assert caught.value.fields == {"1.site": "No site with code 'nowhere'."}
    assert not StagedBatch.objects.exists()


def test_batches_fold_together_in_arrival_order(estate, key, publisher):
    site = estate.sites[0].code
    staging.stage([trigger(site=site, fingerprint="a")], key=key)
    staging.stage(
        [trigger(site=site, fingerprint="a"), trigger(site=site, fingerprint="b")], key=key
    )
    staging.stage([resolve("a")], key=key)
    staging.stage([trigger(site=site, fingerprint="a")], key=key)  # opens a new one after
    folded = staging.drain_once()
    # one fold, one transaction, for the four batches (group commit)
    assert (folded.batches, folded.events) == (4, 5)
    resolved = Alert.objects.get(fingerprint="a", status=Status.RESOLVED)
    assert resolved.occurrence_count == 2
    reopened = Alert.objects.get(fingerprint="a", status=Status.NEW)
    assert reopened.occurrence_count == 1 and reopened.id > resolved.id
    assert Alert.objects.get(fingerprint="b").occurrence_count == 1


def test_batches_of_two_keys_keep_their_source_and_order(estate, key, key_for):
    other = key_for(estate, source="alertmanager")
    site = estate.sites[0].code
    staging.stage([trigger(site=site, fingerprint="x")], key=key)
    staging.stage([resolve("x")], key=other)
    staging.stage([trigger(site=site, fingerprint="y")], key=other)
    staging.drain_pending()
    x = Alert.objects.get(fingerprint="x")
    assert (x.source, x.status, x.resolution_note) == (
        "native",
        Status.RESOLVED,
        "Resolved by alertmanager.",
    )
    assert Alert.objects.get(fingerprint="y").source == "alertmanager"


def test_the_fold_is_bounded_per_transaction(estate, key, settings):
    settings.ALERT_FOLD_MAX_EVENTS = 2
    site = estate.sites[0].code
    for fp in ("a", "b", "c"):
        staging.stage([trigger(site=site, fingerprint=fp)], key=key)
    assert staging.drain_once().batches == 2
    assert staging.drain_once().batches == 1
    assert staging.drain_once().batches == 0
    assert Alert.objects.count() == 3


def test_the_bound_counts_events_in_order_and_always_takes_one_batch(estate, key, settings):
    settings.ALERT_FOLD_MAX_EVENTS = 5
    site = estate.sites[0].code
    for n, fp in ((3, "a"), (1, "b"), (3, "c"), (1, "d"), (7, "e"), (1, "f")):
        staging.stage([trigger(site=site, fingerprint=fp)] * n, key=key)
    taken = [staging.drain_once() for _ in range(5)]
    # 3+1 (the next 3 would pass 5), then 3+1 (not the 7), then the 7 alone, then 1
    assert [(t.batches, t.events) for t in taken] == [(2, 4), (2, 4), (1, 7), (1, 1), (0, 0)]
    assert Alert.objects.count() == 6


def test_a_fold_takes_one_tenants_oldest_batches_out_of_an_interleaved_queue(
    estate, other_estate, key_for, settings
):
    settings.ALERT_FOLD_MAX_BATCHES = 3  # the head the fold looks at: the 3 oldest batches
    mine, theirs = key_for(estate), key_for(other_estate)
    here, there = estate.sites[0].code, other_estate.sites[0].code
    staging.stage([trigger(site=here, fingerprint="a1")], key=mine)
    staging.stage([trigger(site=there, fingerprint="b1")], key=theirs)
    staging.stage([resolve("a1")], key=mine)
    staging.stage([trigger(site=there, fingerprint="b2")], key=theirs)
    staging.stage([trigger(site=here, fingerprint="a1")], key=mine)
    taken = [staging.drain_once() for _ in range(4)]
    # the head [a1, b1, resolve a1]: the oldest tenant's two; then [b1, b2, a1 again]: the
    # other's two; then the last batch alone
    assert [(t.tenant_id, t.batches) for t in taken] == [
        (estate.tenant.id, 2),
        (other_estate.tenant.id, 2),
        (estate.tenant.id, 1),
        (None, 0),
    ]
    assert list(
        Alert.objects.filter(tenant=estate.tenant).order_by("id").values_list("status", flat=True)
    ) == [Status.RESOLVED, Status.NEW]
    assert Alert.objects.filter(tenant=other_estate.tenant).count() == 2


def test_only_a_small_fold_that_took_everything_pending_gathers(
    estate, other_estate, key_for, settings
):
    settings.ALERT_FOLD_GATHER, settings.ALERT_FOLD_GATHER_BELOW = 0.02, 3
    mine, theirs = key_for(estate), key_for(other_estate)
    here, there = estate.sites[0].code, other_estate.sites[0].code

    staging.stage([trigger(site=here, fingerprint="a")], key=mine)
    alone = staging.drain_once()
    assert (alone.events, alone.left_pending) == (1, False)
    assert staging.gathers_after(alone), "a trickle: wait for more before the next fold"

    staging.stage([trigger(site=here, fingerprint="a")], key=mine)
    staging.stage([trigger(site=there, fingerprint="b")], key=theirs)
    first, second = staging.drain_once(), staging.drain_once()
    assert first.left_pending and not staging.gathers_after(first), "another tenant waits"
    assert not second.left_pending and staging.gathers_after(second)

    settings.ALERT_FOLD_MAX_BATCHES = 1  # the head is full: more may be pending behind it
    staging.stage([trigger(site=here, fingerprint="a")], key=mine)
    assert not staging.gathers_after(staging.drain_once())
    settings.ALERT_FOLD_MAX_BATCHES = 500

    staging.stage([trigger(site=here, fingerprint=fp) for fp in "xyz"], key=mine)
    big = staging.drain_once()
    assert big.events == 3 and not big.left_pending
    assert not staging.gathers_after(big), "a fold of GATHER_BELOW events goes straight on"

    staging.stage([trigger(site=here, fingerprint="a")], key=mine)
    settings.ALERT_FOLD_GATHER = 0
    assert not staging.gathers_after(staging.drain_once()), "0 turns the pause off"
    assert not staging.gathers_after(staging.drain_once()), "nothing folded: no pause"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_fold_worker_never_pauses_between_tenants_pending_at_once(
    estate, other_estate, key_for, settings
):
    # a pause long enough that this test would time out if the worker paused after the first
    # tenant's fold while the second's batch was pending
    settings.ALERT_FOLD_GATHER = 60
    mine, theirs = key_for(estate), key_for(other_estate)
    staging.stage([trigger(site=estate.sites[0].code, fingerprint="a")], key=mine)
    staging.stage([trigger(site=other_estate.sites[0].code, fingerprint="b")], key=theirs)
    connection.close()
    worker = staging.FoldWorker(poll=0.05).start()
    try:
        wait_for(lambda: not StagedBatch.objects.exists(), 30, "both tenants folded")
    finally:
        worker.stop()  # wakes a pausing worker at once
    assert not worker.alive()
    assert set(Alert.objects.values_list("fingerprint", flat=True)) == {"a", "b"}


def test_a_tenant_deleted_takes_its_pending_batches_with_it(estate):
    # the staging table has no foreign key in the database (the check took a share lock on
    # the tenant's row at every request's commit): Django's cascade deletes the batches
    gone = Tenant.objects.create(slug="gone", name="Gone")
    for tenant in (gone, estate.tenant):
        StagedBatch.objects.create(
            tenant=tenant,
            source="native",
            received_at=datetime.now(UTC),
            event_count=0,
            events="[]",
        )
    gone.delete()
    assert list(StagedBatch.objects.values_list("tenant_id", flat=True)) == [estate.tenant.id]


def test_past_the_bound_ingestion_answers_503_and_stores_nothing(
    client, estate, plain_key, settings
):
    settings.ALERT_STAGING_MAX_EVENTS = 2
    plain, key = plain_key(estate, "native")
    site = estate.sites[0].code
    # staged by a sender whose fold has not run yet (the test client drains after requests)
    staging.stage([trigger(site=site, fingerprint=f"p{i}") for i in range(3)], key=key)
    staging.forget_lag()
    response = _post(client, {"type": "X", "severity": "low", "title": "t"}, plain)
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "backlogged"
    assert StagedBatch.objects.count() == 1 and not Alert.objects.exists()
    # refused before its body is read: under a backlog the CPU goes to the fold (a malformed
    # body gets its 400 once the backlog is gone)
    malformed = client.post(
        NATIVE,
        data=b'{"type": ',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    assert malformed.status_code == 503, malformed.content
    pd = client.post(
        "/v2/enqueue",
        data=json.dumps(
            {
                "routing_key": plain_key(estate, "pagerduty")[0],
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "h", "severity": "error"},
            }
        ),
        content_type="application/json",
    )
    assert pd.status_code == 503 and pd["Retry-After"]
    # the fold catches up: ingestion is accepted again
    staging.drain_pending()
    staging.forget_lag()
    assert _post(client, {"type": "X", "severity": "low", "title": "t"}, plain).status_code == 202


def test_past_the_lag_bound_ingestion_answers_503(estate, key, settings):
    settings.ALERT_STAGING_MAX_LAG = 5
    staging.stage([trigger(site=estate.sites[0].code, fingerprint="old")], key=key)
    StagedBatch.objects.update(received_at=datetime.now(UTC) - timedelta(seconds=60))
    staging.forget_lag()
    with pytest.raises(staging.Backlogged) as caught:
        staging.stage([trigger(site=estate.sites[0].code, fingerprint="new")], key=key)
    assert caught.value.retry_after >= 1
    assert StagedBatch.objects.count() == 1


def test_health_and_metrics_show_the_lag(client, estate, key):
    staging.stage([trigger(site=estate.sites[0].code, fingerprint="h")] * 2, key=key)
    StagedBatch.objects.update(received_at=datetime.now(UTC) - timedelta(seconds=3))
    ingestion = client.get("/api/health/").json()["components"]["ingestion"]
    assert ingestion["pipeline"] == "staged"
    assert (ingestion["pending_batches"], ingestion["pending_events"]) == (1, 2)
    assert ingestion["lag_seconds"] >= 3
    from watchfloor.platform.metrics import exposition

    text = exposition().decode()
    assert "watchfloor_ingestion_pending_events 2.0" in text
    assert "watchfloor_ingestion_lag_seconds" in text


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_batch_staged_while_no_worker_ran_is_folded_when_one_starts(estate, key_for):
    key = key_for(estate)
    site = estate.sites[0].code
    # the node answered 2xx, then died before its fold ran: the batches wait in staging
    staging.stage([trigger(site=site, fingerprint="k")] * 2, key=key)
    staging.stage([trigger(site=site, fingerprint="k")], key=key)
    connection.close()
    assert not Alert.objects.exists()
    worker = staging.FoldWorker(poll=0.05).start()  # the restarted node's worker
    try:
        wait_for(lambda: not StagedBatch.objects.exists(), 30, "staging drained")
        assert _settled(lambda: Alert.objects.get(fingerprint="k").occurrence_count) == 3
        # and it keeps draining what arrives next, woken without waiting for a timer
        _settled(lambda: staging.stage([trigger(site=site, fingerprint="k")], key=key))
        wait_for(
            lambda: Alert.objects.get(fingerprint="k").occurrence_count == 4, 30, "fourth folded"
        )
    finally:
        worker.stop()
    assert not worker.alive()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_fold_worker_reports_each_folds_size_and_time(estate, key_for):
    from prometheus_client import REGISTRY

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    folds, events = sample("watchfloor_fold_events_count"), sample("watchfloor_fold_events_sum")
    timed = sample("watchfloor_fold_duration_seconds_count")
    site = estate.sites[0].code
    staging.stage([trigger(site=site, fingerprint=fp) for fp in "abc"], key=key_for(estate))
    connection.close()
    worker = staging.FoldWorker(poll=0.05).start()
    try:
        wait_for(lambda: not StagedBatch.objects.exists(), 30, "staging drained")
    finally:
        worker.stop()
    # one fold of the three events; the worker's empty looks at the head are not folds
    assert sample("watchfloor_fold_events_count") == folds + 1
    assert sample("watchfloor_fold_events_sum") == events + 3
    assert sample("watchfloor_fold_duration_seconds_count") == timed + 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_drainers_count_every_occurrence_once(estate, other_estate, key_for):
    keys = [key_for(estate), key_for(other_estate)]
    sites = [estate.sites[0].code, other_estate.sites[0].code]
    senders, per_sender = 4, 30
    errors: list[BaseException] = []

    def send(n: int):
        try:
            which = n % 2
            for i in range(per_sender):
                batch = [trigger(site=sites[which], fingerprint=f"fp{j}") for j in range(10)]
                batch.append(trigger(site=sites[which], fingerprint=f"new-{n}-{i}"))
                staging.stage(batch, key=keys[which])
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    drainers = [staging.FoldWorker(name=f"d{i}", poll=0.02).start() for i in range(3)]
    try:
        threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        wait_for(lambda: not StagedBatch.objects.exists(), 60, "staging drained")
    finally:
        for d in drainers:
            d.stop()
    for tenant in (estate.tenant, other_estate.tenant):
        counts = dict(
            Alert.objects.filter(tenant=tenant, fingerprint__startswith="fp").values_list(
                "fingerprint", "occurrence_count"
            )
        )
        # two senders per tenant, per_sender batches each, every fp once per batch
        assert counts == {f"fp{j}": 2 * per_sender for j in range(10)}
        assert (
            Alert.objects.filter(tenant=tenant, fingerprint__startswith="new-").count()
            == 2 * per_sender
        )
    assert Alert.objects.filter(status=Status.NEW).count() == 2 * (10 + 2 * per_sender)


def _woken(listener) -> int:
    return sum(1 for _ in listener.notifies(timeout=0.5, stop_after=1))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_fold_that_leaves_batches_pending_wakes_the_other_drainers(estate, key, settings):
    """A drainer that found the tenant locked by a fold went back to sleep; the fold's commit
    wakes it while batches remain (the folding drainer runs the hooks next), and only then."""
    settings.ALERT_FOLD_MAX_BATCHES = 1  # one batch per fold: the second stays pending
    site = estate.sites[0].code
    staging.stage([trigger(site=site, fingerprint="a")], key=key)
    staging.stage([trigger(site=site, fingerprint="b")], key=key)
    listener = staging.listening_connection()
    try:
        assert staging.drain_once().batches == 1
        assert _woken(listener) == 1, "a batch is still pending: the drainers are woken"
        assert staging.drain_once().batches == 1
        assert _woken(listener) == 0, "nothing left: nobody is woken"
    finally:
        listener.close()
    assert set(Alert.objects.values_list("fingerprint", flat=True)) == {"a", "b"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_fold_s_delete_wakes_drainers_for_batches_before_and_after_its_own(estate, key):
    """The "still pending" check reads the first rows by id: a batch left before the folded
    ones (another tenant's, locked by another drainer) counts as much as one after them."""
    from django.db import transaction

    site = estate.sites[0].code
    for fp in ("a", "b", "c"):
        staging.stage([trigger(site=site, fingerprint=fp)], key=key)
    first, middle, last = StagedBatch.objects.order_by("id").values_list("id", flat=True)
    listener = staging.listening_connection()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            staging._delete(cursor, [middle])
        assert _woken(listener) == 1, "one before and one after are pending"
        with transaction.atomic(), connection.cursor() as cursor:
            staging._delete(cursor, [last])
        assert _woken(listener) == 1, "one before is pending"
        with transaction.atomic(), connection.cursor() as cursor:
            staging._delete(cursor, [first])
        assert _woken(listener) == 0, "nothing left"
    finally:
        listener.close()
    assert not StagedBatch.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_requests_waiting_for_the_group_writer_leave_the_pool_to_the_leader(
    estate, key, monkeypatch
):
    """As many waiting requests as the pool has connections, each holding one from an earlier
    query, and a leader without one: the leader still writes (the waiters gave theirs back).
    Kept, the leader waited out the pool's timeout and its group failed."""
    pool = connection.pool
    assert pool is not None, "the PostgreSQL settings use psycopg's pool"
    writer = staging.GroupWriter()
    monkeypatch.setattr(staging, "_writer", writer)
    real_insert = staging._insert
    go = threading.Event()
    first = threading.Event()

    def insert(rows):
        if not first.is_set():  # the leader: no connection of its own until the waiters queue
            first.set()
            connection.close()
            assert go.wait(30)
        real_insert(rows)

    monkeypatch.setattr(staging, "_insert", insert)
    site = estate.sites[0].code
    waiters = pool.max_size - 1  # this test's own connection holds one
    errors: list[BaseException] = []

    def send(n: int, query_first: bool) -> None:
        try:
            if query_first:
                Alert.objects.exists()  # holds a pooled connection from here on
            staging.stage([trigger(site=site, fingerprint=f"w{n}")], key=key)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    leader = threading.Thread(target=send, args=(0, False))
    leader.start()
    assert first.wait(30)
    threads = [threading.Thread(target=send, args=(n, True)) for n in range(1, waiters + 1)]
    for t in threads:
        t.start()
    wait_for(lambda: len(writer._queue) == waiters, 30, "every request queued behind the leader")
    go.set()
    for t in [leader, *threads]:
        t.join(60)
    assert not errors, errors
    assert StagedBatch.objects.count() == waiters + 1


TOLD: list = []


def tell(changes) -> None:
    TOLD.append(changes)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_fold_worker_hands_its_folds_changes_to_the_hooks_when_idle(estate, key_for, settings):
    """The worker coalesces its folds' changes (alerts.hooks.coalescing) and hands them over
    once nothing is left to fold: every created alert reaches the hooks, none twice."""
    TOLD.clear()
    settings.ALERT_CHANGE_HOOKS = [f"{__name__}.tell"]
    settings.HOOK_COALESCE_SECONDS = 3600  # only going idle hands them over
    key = key_for(estate)
    site = estate.sites[0].code
    staging.stage([trigger(site=site, entity_id=str(i)) for i in range(3)], key=key)
    staging.stage([trigger(site=site, entity_id="3")], key=key)
    connection.close()
    worker = staging.FoldWorker(poll=0.05).start()
    try:
        wait_for(lambda: sum(len(c.created) for c in TOLD) == 4, 30, "the hooks told")
    finally:
        worker.stop()
    created = [a for c in TOLD for a in c.created]
    assert sorted(created) == sorted(
        _settled(lambda: list(Alert.objects.values_list("id", flat=True)))
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_standby_fold_worker_folds_only_what_the_primary_left_behind(
    estate, key_for, settings, monkeypatch
):
    """The split server's gevent workers (staging.stand_by): a batch younger than
    ALERT_FOLD_STANDBY_LAG is the WebSocket process's drainer's; an older one, left by a
    drainer that is gone or behind, the standby folds."""
    monkeypatch.setattr(staging, "_standby", True)
    monkeypatch.setattr(staging, "STANDBY_POLL", 0.02)
    settings.ALERT_FOLD_STANDBY_LAG = 3600
    key = key_for(estate)
    staging.stage([trigger(site=estate.sites[0].code, fingerprint="left")], key=key)
    connection.close()
    staging.forget_lag()
    looks = []
    read_lag = staging._current_lag
    monkeypatch.setattr(staging, "_current_lag", lambda **kw: looks.append(1) or read_lag(**kw))
    worker = staging.FoldWorker(poll=0.02).start()
    try:
        wait_for(lambda: len(looks) >= 5, 30, "the standby looked at the lag five times")
        assert _settled(lambda: StagedBatch.objects.count()) == 1
        assert not _settled(lambda: Alert.objects.exists())
        settings.ALERT_FOLD_STANDBY_LAG = 0  # the batch is now older than the bound
        wait_for(lambda: not StagedBatch.objects.exists(), 30, "the standby folded it")
    finally:
        worker.stop()
    assert _settled(lambda: Alert.objects.get(fingerprint="left").occurrence_count) == 1
    assert worker._listener is None  # a standby never LISTENs


def test_the_split_servers_workers_stand_by_and_the_others_fold(monkeypatch):
    """`run_gunicorn` makes its workers standbys only when a WebSocket process drains beside
    them (`serve --wsgi` has none: its workers are the drainers)."""
    from gunicorn.app.base import BaseApplication

    from watchfloor.platform import server

    loaded = {}

    def run(app):
        monkeypatch.setattr(staging, "_standby", False)
        app.load()
        loaded["standby"] = staging._standby

    monkeypatch.setattr(BaseApplication, "run", run)
    monkeypatch.setattr(server, "warm_up", lambda: None)
    monkeypatch.setattr(server, "tune_gc", lambda: None)
    options = {"host": "127.0.0.1", "port": 0, "workers": 1}
    server.run_gunicorn(**options)
    assert loaded == {"standby": False}
    server.run_gunicorn(ws_socket="/nonexistent/ws.sock", **options)
    assert loaded == {"standby": True}


def test_the_websocket_process_imports_everything_before_it_serves_and_folds(monkeypatch):
    """In the split server the uvicorn process folds: it warms up like a gunicorn worker, then
    freezes that heap, before uvicorn starts (its drainer's first fold imported Celery)."""
    from watchfloor.platform import server

    calls = []
    monkeypatch.setattr(server, "warm_up", lambda: calls.append("warm_up"))
    monkeypatch.setattr(server, "tune_gc", lambda: calls.append("tune_gc"))
    monkeypatch.setattr(server.uvicorn, "run", lambda *a, **kw: calls.append("uvicorn.run"))
    server.run_uvicorn(host="127.0.0.1", port=0)
    assert calls == ["warm_up", "tune_gc", "uvicorn.run"]


@pytest.mark.postgres
def test_staged_events_are_compressed_with_lz4_on_postgresql():
    """Migration 0013 (bench/staging_compression.py: about half pglz's insert time)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attcompression FROM pg_attribute"
            " WHERE attrelid = 'alerts_stagedbatch'::regclass AND attname = 'events'"
        )
        assert cursor.fetchone()[0] == "l"


# --- flow control: held while the fold is behind ----------------------------------------------


@pytest.fixture
def lag_sequence(monkeypatch, settings):
    """`staging.lag` answers these seconds in turn (the last one from then on)."""
    settings.ALERT_STAGING_HOLD_LAG = 0.5
    settings.ALERT_STAGING_HOLD_SECONDS = 0.3
    monkeypatch.setattr(staging, "HOLD_POLL", 0.01)
    monkeypatch.setattr(staging, "LAG_CHECK_EVERY", 0.0)
    staging.forget_lag()
    answers: list[float] = []
    reads: list[float] = []

    def fake_lag(now=None):
        seconds = answers.pop(0) if len(answers) > 1 else answers[0]
        reads.append(seconds)
        return staging.Lag(seconds, 1 if seconds else 0, 10 if seconds else 0)

    monkeypatch.setattr(staging, "lag", fake_lag)
    yield answers, reads
    staging.forget_lag()


def test_a_request_is_let_in_at_once_while_the_fold_keeps_up(lag_sequence):
    answers, reads = lag_sequence
    answers.extend([0.4])
    staging.admit()
    assert len(reads) == 1


def test_a_request_is_held_until_the_fold_catches_up(lag_sequence):
    answers, reads = lag_sequence
    answers.extend([2.0, 1.5, 0.9, 0.2])
    staging.admit()  # returns: no Backlogged
    assert reads[-1] == 0.2 and len(reads) >= 4


def test_a_request_held_past_its_bound_is_refused_with_retry_after(lag_sequence):
    answers, _ = lag_sequence
    answers.extend([3.0])
    with pytest.raises(staging.Backlogged) as refused:
        staging.admit()
    assert refused.value.retry_after >= 1 and "behind" in refused.value.reason


def test_past_the_hard_bound_a_request_is_refused_without_waiting(lag_sequence, settings):
    answers, reads = lag_sequence
    settings.ALERT_STAGING_MAX_LAG = 1.0
    answers.extend([5.0])
    with pytest.raises(staging.Backlogged):
        staging.admit()
    assert len(reads) == 1


def test_a_held_request_is_answered_202_once_the_fold_caught_up(
    client, estate, plain_key, lag_sequence
):
    answers, _ = lag_sequence
    answers.extend([1.0, 1.0, 0.0])
    plain, _ = plain_key(estate, "native")
    response = _post(client, {"type": "X", "severity": "low", "title": "t"}, plain)
    assert response.status_code == 202, response.content
    assert StagedBatch.objects.count() + Alert.objects.count() == 1


def test_a_stale_head_is_read_again(estate, key, monkeypatch):
    # another drainer folded the batches this drainer's head named before it got the tenant:
    # none of them is taken, the head is read again, and what is pending is folded now
    staging.stage([trigger(site=estate.sites[0].code, fingerprint="a")], key=key)
    real_head, reads = staging._head, []

    def head(cursor):
        reads.append(1)
        if len(reads) == 1:
            return [(10**12, estate.tenant.id, 1)]  # a batch already folded and deleted
        return real_head(cursor)

    monkeypatch.setattr(staging, "_head", head)
    folded = staging.drain_once()
    assert (folded.tenant_id, folded.batches, len(reads)) == (estate.tenant.id, 1, 2)
    assert Alert.objects.get(fingerprint="a").occurrence_count == 1
    assert staging.drain_once().batches == 0
