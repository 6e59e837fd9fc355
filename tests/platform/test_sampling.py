"""The `platform.sample` job: one row of figures per run, rates since the previous sample by
primary key, old rows pruned in batches; the charts' series and the ingestion rate per source."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from watchfloor import presence
from watchfloor.access.services import create_integration_key
from watchfloor.alerts.events import Event, EventAction
from watchfloor.alerts.models import Severity
from watchfloor.alerts.pipeline import ingest
from watchfloor.jobs.models import JobRun, Outcome
from watchfloor.jobs.schedule import SCHEDULE
from watchfloor.platform import sampling
from watchfloor.platform.models import PlatformSample


def _ingest(estate, source: str, n: int, now):
    key = create_integration_key(
        estate.tenant, actor=estate.user("admin"), name=source, source=source
    ).obj
    ingest(
        [
            Event(
                action=EventAction.TRIGGER,
                type="DEVICE_OFFLINE",
                severity=Severity.HIGH,
                site_code=estate.sites[0].code,
                title=f"camera {i} offline",
                entity_id=f"cam-{source}-{i}",
            )
            for i in range(n)
        ],
        key=key,
        now=now,
    )


def test_the_sample_job_is_in_the_schedule():
    job = next(j for j in SCHEDULE if j.name == "platform.sample")
    assert job.target == "watchfloor.platform.tasks.sample"
    assert job.every == timedelta(seconds=30)


def test_a_sample_counts_what_is_new_since_the_previous_one(estate):
    now = timezone.now()
    _ingest(estate, "native", 2, now - timedelta(minutes=5))
    first = sampling.take_sample(now)
    assert PlatformSample.objects.count() == 1
    f = first.figures
    # the first sample has no previous marks: nothing is "new", the open set is counted
    assert f["alerts_per_min"] == 0
    assert f["open_alerts"] == 2
    assert 0 <= f["cpu_percent"] <= 100 and 0 < f["memory_percent"] <= 100
    assert set(f["last_event_by_source"]) == {"native"}

    _ingest(estate, "alertmanager", 3, now + timedelta(seconds=10))
    JobRun.objects.create(
        job="x", started_at=now, finished_at=now, outcome=Outcome.FAILED, error="boom"
    )
    second = sampling.take_sample(now + timedelta(seconds=30))
    g = second.figures
    # 3 new alerts in 30 s: 6 per minute, all from alertmanager
    assert g["alerts_per_min"] == 6.0
    assert g["alerts_per_min_by_source"] == {"alertmanager": 6.0}
    assert g["open_alerts"] == 5
    assert g["job_failures"] == 1
    assert set(g["last_event_by_source"]) == {"native", "alertmanager"}
    if connection.vendor == "postgresql":
        assert g["db_connections"] >= 1
    else:
        assert g["db_connections"] is None


def test_a_sample_after_a_long_gap_starts_afresh(estate):
    now = timezone.now()
    sampling.take_sample(now - timedelta(hours=1))
    _ingest(estate, "native", 4, now - timedelta(minutes=30))
    assert sampling.take_sample(now).figures["alerts_per_min"] == 0


def test_websocket_connections_are_summed_over_the_nodes(db):
    presence.announce(3, name="web-a:1")
    presence.announce(4, name="web-b:2")
    figures = sampling.take_sample().figures
    assert figures["ws_connections"] == 7
    assert figures["ws_by_node"] == {"web-a:1": 3, "web-b:2": 4}
    presence.announce(0, name="web-a:1")
    assert presence.by_node() == {"web-a:1": 0, "web-b:2": 4}


def test_pruning_deletes_only_old_samples_in_batches(db):
    now = timezone.now()
    old = [
        PlatformSample(node="n", at=now - sampling.KEEP - timedelta(minutes=i + 1))
        for i in range(7)
    ]
    PlatformSample.objects.bulk_create(old)
    kept = PlatformSample.objects.create(node="n", at=now - sampling.KEEP + timedelta(minutes=1))
    assert sampling.prune_samples(now, batch=3) == 7
    assert list(PlatformSample.objects.values_list("id", flat=True)) == [kept.id]


def test_the_job_samples_and_prunes(db):
    PlatformSample.objects.create(node="n", at=timezone.now() - timedelta(days=2))
    from watchfloor.platform.tasks import sample

    assert sample() == {"sampled": 1, "pruned": 1}
    assert PlatformSample.objects.count() == 1


def test_series_are_columns_of_the_last_hour_in_one_query(db):
    now = timezone.now()
    for minutes in (90, 40, 20):
        PlatformSample.objects.create(
            node="n",
            at=now - timedelta(minutes=minutes),
            figures={"cpu_percent": minutes, "redis_ops_per_sec": None, "open_alerts": True},
        )
    with CaptureQueriesContext(connection) as queries:
        data = sampling.series(60, now)
    assert len(queries) == 1
    assert len(data["t"]) == 2
    cpu = next(s for s in data["series"] if s["key"] == "cpu_percent")
    assert cpu["values"] == [40, 20] and cpu["unit"] == "%"
    redis = next(s for s in data["series"] if s["key"] == "redis_ops_per_sec")
    assert redis["values"] == [None, None]
    # only numbers are charted
    assert next(s for s in data["series"] if s["key"] == "open_alerts")["values"] == [None, None]


def test_ingestion_rate_per_source_averages_the_samples(db):
    now = timezone.now()
    at = now - timedelta(minutes=30)
    PlatformSample.objects.create(
        node="n", at=at, figures={"alerts_per_min_by_source": {"native": 10.0}}
    )
    PlatformSample.objects.create(
        node="n",
        at=now - timedelta(minutes=1),
        figures={
            "alerts_per_min_by_source": {"native": 2.0},
            "last_event_by_source": {"native": at.isoformat()},
        },
    )
    (rate,) = sampling.ingestion_by_source(now)
    assert rate.source == "native"
    assert rate.per_min_5 == 2.0
    assert rate.per_min_60 == 6.0
    assert rate.last_event_at == at


@pytest.mark.parametrize("bad", [True, "7", [1]])
def test_non_numbers_are_gaps(bad):
    assert sampling._number(bad) is None
