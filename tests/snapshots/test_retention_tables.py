"""Every table says how long its rows are kept (the platform page's retention column)."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings

from watchfloor.platform import db_stats
from watchfloor.snapshots.retention import table_retention


def test_every_table_of_every_model_states_its_retention():
    stated = table_retention()
    tables = {
        m._meta.db_table
        for m in apps.get_models(include_auto_created=True)
        if m._meta.managed or m._meta.db_table in stated
    }
    missing = sorted(t for t in tables if db_stats.retention_of(t) == db_stats.NOT_STATED)
    assert not missing, f"tables with no retention stated (snapshots/retention.py): {missing}"


def test_the_platform_page_reads_the_table():
    assert "180 days by default" in db_stats.retention_of("alerts_alert")
    assert "retention.enforce" in db_stats.retention_of("oncall_delivery")
    assert "by age only" in db_stats.retention_of("audit_auditlog")
    assert f"{settings.JOBS_RUN_RETENTION_DAYS} days" in db_stats.retention_of("jobs_jobrun")
    assert db_stats.retention_of("some_table_nobody_knows") == db_stats.NOT_STATED


@pytest.mark.django_db
def test_the_database_page_shows_the_policy(client, django_user_model):
    operator = django_user_model.objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(operator)
    page = client.get("/platform/database/").content.decode()
    assert "per tenant, 180 days by default" in page
    assert "kept forever" not in page
