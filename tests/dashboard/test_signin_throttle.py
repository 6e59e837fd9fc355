"""Sign-in throttling (django-axes, dashboard/signin_throttle.py): WATCHFLOOR_LOGIN_FAILURE_LIMIT
failed sign-ins lock the account from every address and the address for every account, for
WATCHFLOOR_LOGIN_COOLOFF minutes after the last counted failure; the person is told why and
when; a success resets the count; refusals are audited; logs name neither the account nor the
address; a platform operator can unlock; API tokens are not affected (#12 section 5)."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command

from watchfloor.access.services import create_api_token
from watchfloor.audit.models import Action, AuditLog

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
HERE = "203.0.113.9"
THERE = "198.51.100.7"
MESSAGE = "Too many failed sign-ins; try again in 15 minutes."


@pytest.fixture(autouse=True)
def _limits(settings):
    # the throttle reads its limit and cool-off from django-axes' settings, set from these
    settings.AXES_FAILURE_LIMIT = settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_COOLOFF_MINUTES = 15
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def sign_in(client, username, password, *, address=HERE, at=T0):
    with time_machine.travel(at, tick=False):
        return client.post(
            "/login/", {"username": username, "password": password}, REMOTE_ADDR=address
        )


def signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/"


def fail(client, username, times, *, address=HERE, at=T0):
    return [sign_in(client, username, "wrong", address=address, at=at) for _ in range(times)]


def test_the_nth_failure_locks_the_account_with_a_clear_message(client, estate):
    first, second, third = fail(client, "acme-admin", 3)
    assert (first.status_code, second.status_code) == (200, 200)
    assert third.status_code == 429
    page = third.content.decode()
    assert MESSAGE in page and 'role="alert"' in page
    assert '<form class="auth__card"' in page  # the form is still there, username kept
    assert 'value="acme-admin"' in page

    # the right password is refused too while the lock lasts
    locked = sign_in(client, "acme-admin", "pw-admin", at=T0 + timedelta(minutes=5))
    assert locked.status_code == 429
    assert "Too many failed sign-ins; try again in 10 minutes." in locked.content.decode()
    assert client.get("/").status_code == 302  # not signed in


def test_the_account_is_locked_from_another_address_too(client, estate):
    fail(client, "acme-admin", 3, address=HERE)
    assert sign_in(client, "acme-admin", "pw-admin", address=THERE).status_code == 429
    # failures spread over addresses count for the account as well
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        sign_in(client, "acme-operator", "wrong", address=address)
    assert sign_in(client, "acme-operator", "pw-operator", address="192.0.2.4").status_code == 429


def test_an_address_is_locked_for_every_account(client, estate):
    for name in ("nobody-1", "nobody-2", "nobody-3"):
        sign_in(client, name, "wrong", address=HERE)
    assert sign_in(client, "acme-supervisor", "pw-supervisor", address=HERE).status_code == 429
    assert signed_in(sign_in(client, "acme-supervisor", "pw-supervisor", address=THERE))


def test_a_success_resets_the_count(client, estate):
    fail(client, "acme-admin", 2)
    assert signed_in(sign_in(client, "acme-admin", "pw-admin"))
    client.logout()
    fail(client, "acme-admin", 2)
    assert signed_in(sign_in(client, "acme-admin", "pw-admin"))


def test_the_lock_ends_after_the_cool_off_and_attempts_meanwhile_do_not_extend_it(client, estate):
    fail(client, "acme-admin", 3)
    fail(client, "acme-admin", 2, at=T0 + timedelta(minutes=10))  # refused, not counted
    assert sign_in(client, "acme-admin", "pw-admin", at=T0 + timedelta(minutes=14)).status_code == (
        429
    )
    assert signed_in(sign_in(client, "acme-admin", "pw-admin", at=T0 + timedelta(minutes=16)))


def test_refusals_and_failures_are_audited_without_the_submitted_name(client, estate):
    fail(client, "acme-admin", 3)
    sign_in(client, "acme-admin", "pw-admin")
    denied = AuditLog.objects.filter(action=Action.ACCESS_DENIED).order_by("id")
    assert denied.count() == 2  # the lock, and the refused attempt during it
    for row in denied:
        assert row.tenant == estate.tenant and row.ip == HERE
        assert (row.entity_type, row.entity_id) == ("tenancy.user", str(estate.user("admin").pk))
        assert row.details == {"path": "/login/", "reason": "too many failed sign-ins"}
    assert AuditLog.objects.filter(action=Action.LOGIN_FAILED).count() == 4
    for row in AuditLog.objects.all():
        assert "acme-admin" not in json.dumps(row.details) and "pw-admin" not in json.dumps(
            row.details
        )
    assert not AuditLog.objects.filter(action=Action.LOGIN).exists()


def test_logs_carry_no_password_name_or_address(client, estate, caplog):
    caplog.set_level(logging.DEBUG)
    fail(client, "acme-admin", 3)
    sign_in(client, "acme-admin", "pw-admin")
    sign_in(client, "jane.doe@example.com", "hunter2-secret", address=THERE)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "AXES" in text  # axes did log, through our client string
    for secret in ("pw-admin", "wrong", "hunter2-secret", "acme-admin", "jane.doe", HERE, THERE):
        assert secret not in text


def test_a_platform_operator_unlocks_an_account_with_the_management_command(client, estate):
    fail(client, "acme-admin", 3)
    call_command("axes_reset_username", "acme-admin", stdout=io.StringIO())
    assert signed_in(sign_in(client, "acme-admin", "pw-admin", address=THERE))


def test_the_api_token_path_is_not_throttled(client, estate):
    issued = create_api_token(estate.user("admin"), name="script")
    fail(client, "acme-admin", 3)
    fail(client, "nobody", 3, address="127.0.0.1")
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        answer = client.get(
            "/api/v1/alerts", HTTP_AUTHORIZATION=f"Bearer {issued.plain}", REMOTE_ADDR=HERE
        )
    assert answer.status_code == 200


def test_the_admin_sign_in_is_throttled_too(client, estate, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", "pw-root")
    for _ in range(3):
        client.post("/admin/login/", {"username": "root", "password": "wrong"}, REMOTE_ADDR=HERE)
    answer = client.post(
        "/admin/login/", {"username": "root", "password": "pw-root"}, REMOTE_ADDR=THERE
    )
    assert answer.status_code == 429
    assert "Too many failed sign-ins" in answer.content.decode()
