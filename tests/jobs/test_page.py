"""The jobs page (/jobs/): who sees it, stale jobs in red, errors for superusers only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from watchfloor.audit.models import AuditLog
from watchfloor.jobs import queries, runtime

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def started(monkeypatch):
    monkeypatch.setattr(queries, "UP_SINCE", T0)
    monkeypatch.setattr(queries, "_installed_at", T0 - timedelta(days=30))


@pytest.mark.parametrize("role", ["viewer", "operator", "supervisor", "executive"])
def test_without_configure_it_is_403_and_audited(client, estate, role):
    user = estate.user(role)
    client.force_login(user)
    answer = client.get("/jobs/")
    assert answer.status_code == 403
    assert AuditLog.objects.filter(action="access_denied", actor=user).exists()
    assert b'href="/jobs/"' not in client.get("/").content  # nor a link to it


def test_signed_out_is_sent_to_sign_in(client, db):
    answer = client.get("/jobs/")
    assert answer.status_code == 302 and "/login/" in answer["Location"]


def test_admin_sees_each_job_stale_in_red_and_no_error_text(client, estate, schedule, started):
    with time_machine.travel(T0 + timedelta(minutes=9), tick=False):
        runtime.run_job("test.ok")
        runtime.run_job("test.number")
        runtime.run_job("test.boom")
    client.force_login(estate.user("admin"))
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        page = client.get("/jobs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/jobs/" aria-current="page"' in html  # the nav link, for noc:configure
    for name in ("test.ok", "test.number", "test.boom", "test.missing", "test.nomodule"):
        assert f"<code>{name}</code>" in html
    assert html.count('class="jobs__stale"') == 3  # boom failing, missing and nomodule never ok
    assert "3 stale" in html
    assert "ValueError" not in html  # error texts are for platform superusers
    assert "Error texts are shown to platform administrators only" in html


def test_a_superuser_sees_the_errors(client, estate, schedule, started):
    from watchfloor.tenancy.models import User

    admin = User.objects.create_superuser("root", "root@example.com", "pw")  # platform, no tenant
    runtime.run_job("test.boom")
    client.force_login(admin)
    html = client.get("/jobs/").content.decode()
    assert "ValueError: boom" in html


def test_the_page_reads_a_fixed_number_of_queries(
    client, estate, schedule, started, django_assert_max_num_queries
):
    client.force_login(estate.user("admin"))
    client.get("/jobs/")
    for _ in range(3):
        for name in ("test.ok", "test.boom", "test.number"):
            runtime.run_job(name)
    with django_assert_max_num_queries(12):
        assert client.get("/jobs/").status_code == 200
