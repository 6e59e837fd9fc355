"""De-duplication under concurrent writers (PostgreSQL): never two active rows per fingerprint."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from support_alerts import trigger
from watchfloor.alerts.models import Alert
from watchfloor.alerts.pipeline import ingest

WRITERS = 8
ROUNDS = 5
FINGERPRINTS = 40


def run_writers(send_round) -> list[BaseException]:
    """WRITERS threads start together, each calling send_round(writer, round) ROUNDS times on its
    own database connection; returns what they raised."""
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            start.wait()
            for r in range(ROUNDS):
                send_round(offset, r)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_batches_of_the_same_fingerprints_never_duplicate_an_alert(estate):
    from watchfloor.access.services import create_integration_key

    key = create_integration_key(
        estate.tenant, actor=None, name="k", source="native", default_site=estate.sites[0]
    ).obj

    def send(offset: int, r: int) -> None:
        # every writer sends all fingerprints, each in its own order
        order = [(i * (offset + 1) + r) % FINGERPRINTS for i in range(FINGERPRINTS)]
        ingest([trigger(fingerprint=f"fp-{i}") for i in order], key=key)

    assert run_writers(send) == []
    rows = list(Alert.objects.values_list("fingerprint", "occurrence_count", "status"))
    assert len(rows) == FINGERPRINTS
    assert {fp for fp, _, _ in rows} == {f"fp-{i}" for i in range(FINGERPRINTS)}
    # nothing lost: every event of every writer is counted on the one active row
    assert sum(n for _, n, _ in rows) == WRITERS * ROUNDS * FINGERPRINTS
    assert {status for _, _, status in rows} == {"NEW"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_new_alerts_forming_storms_are_all_stored(estate, settings):
    """Cold start: many senders open new alerts of the same types across a client's sites at
    once (storms form in several batches together). Every event is stored, none fails."""
    from watchfloor.access.services import create_integration_key

    settings.ALERT_STORM_SITES = 2
    key = create_integration_key(estate.tenant, actor=None, name="k", source="native").obj
    sites = [s.code for s in estate.sites]

    def send(offset: int, r: int) -> None:
        batch = [
            trigger(f"T{(i + offset) % 3}", site=sites[i % 4], entity_id=f"{r}-{i % 7}")
            for i in range(30)
        ]
        ingest(batch[offset % 5 :] + batch[: offset % 5], key=key)

    assert run_writers(send) == []
    fingerprints = Alert.objects.values_list("fingerprint", flat=True)
    assert len(fingerprints) == len(set(fingerprints))
    assert sum(Alert.objects.values_list("occurrence_count", flat=True)) == WRITERS * ROUNDS * 30
    # each (client, type) pair that stormed is one group
    for client_id, kind in Alert.objects.values_list("client_id", "type").distinct():
        groups = Alert.objects.filter(client_id=client_id, type=kind, correlation_reason="storm")
        assert groups.values("correlation_id").distinct().count() <= 1
