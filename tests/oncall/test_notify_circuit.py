"""A destination that keeps failing opens its circuit (watchfloor.circuit): its deliveries are
not tried while it is open, never lost (back to PENDING, the attempt given back, due when the
circuit lets a trial through), counted `circuit_open`; one failing destination holds back no
other; a trial that goes through closes the circuit and the held deliveries go out."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from support_alerts import key_for
from support_notify import T0, channel, open_alert
from support_sinks import queued, webhook
from watchfloor import circuit
from watchfloor.oncall import channels as channel_io
from watchfloor.oncall import notify
from watchfloor.oncall.metrics import DELIVERIES
from watchfloor.oncall.models import DeliveryStatus

__all__ = ["key_for", "queued", "webhook"]

DUE = T0 + timedelta(minutes=2)


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.CIRCUIT_FAILURES = 2
    settings.CIRCUIT_COOLDOWN = 300
    settings.NOTIFY_MAX_ATTEMPTS = 3


@pytest.fixture
def alert(estate, key_for):
    return open_alert(estate, key_for(estate))


def page_at(alert, channels, at=DUE):
    with time_machine.travel(at, tick=False):
        return notify.page(alert, step=0, recipients=[], channels=channels, due_at=at)


def deliver_at(delivery, at):
    with time_machine.travel(at, tick=False):
        outcome = notify.deliver(delivery.id)
    delivery.refresh_from_db()
    return outcome


def state_at(name, at):
    with time_machine.travel(at, tick=False):
        return circuit.state(name).state


def held() -> float:
    return DELIVERIES.labels(medium="webhook", outcome="circuit_open")._value.get()


def test_an_open_circuit_reschedules_the_delivery_without_losing_it(
    estate, alert, webhook, queued, django_capture_on_commit_callbacks
):
    broken = channel(estate.tenant, webhook.url("/broken"), name="Broken")
    fine = channel(estate.tenant, webhook.url("/fine"), name="Fine")
    name = channel_io.circuit_name("webhook", broken.address)
    first, second, third = (page_at(alert, [broken])[0] for _ in range(3))
    webhook.fail_next(2)

    # two failures to the broken destination open its circuit
    assert deliver_at(first, DUE) == "pending"
    assert deliver_at(second, DUE) == "pending"
    assert state_at(name, DUE) == circuit.OPEN

    # the third is not tried: back to pending, its attempt given back, due after the cooldown
    before = held()
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver_at(third, DUE) == notify.CIRCUIT_OPEN
    assert third.status == DeliveryStatus.PENDING
    assert third.attempts == 0
    assert third.next_attempt_at == DUE + timedelta(seconds=300)
    assert "circuit is open" in third.last_error
    assert queued[-1] == (notify.SEND_TASK, (third.id,), DUE + timedelta(seconds=300))
    assert held() == before + 1
    assert len(webhook.requests) == 0  # the two failures were refused by the sink, not received

    # a retry of the first while open is held too, and does not move it closer to FAILED
    assert deliver_at(first, DUE + timedelta(seconds=30)) == notify.CIRCUIT_OPEN
    assert first.attempts == 1
    assert first.next_attempt_at == DUE + timedelta(seconds=300)

    # another destination is not held back by it
    (other,) = page_at(alert, [fine])
    assert deliver_at(other, DUE) == "sent"

    # after the cooldown: one trial goes through and closes the circuit; the rest follow
    later = DUE + timedelta(seconds=300)
    assert deliver_at(third, later) == "sent"
    assert state_at(name, later) == circuit.CLOSED
    assert deliver_at(first, later) == "sent"
    assert deliver_at(second, later + timedelta(minutes=1)) == "sent"
    assert sorted(h.path for h in webhook.wait_for(4)) == ["/broken"] * 3 + ["/fine"]


def test_send_due_holds_a_batch_for_an_open_circuit_and_counts_it(estate, alert, webhook):
    broken = channel(estate.tenant, webhook.url("/broken"), name="Broken")
    rows = [page_at(alert, [broken])[0] for _ in range(5)]
    webhook.fail_next(100)
    name = channel_io.circuit_name("webhook", broken.address)
    with time_machine.travel(DUE, tick=False):
        # all five go out together (the circuit was closed when the batch was claimed)
        assert notify.send_due() == {"picked": 5, "pending": 5}
    assert state_at(name, DUE) == circuit.OPEN
    with time_machine.travel(DUE + timedelta(seconds=30), tick=False):
        assert notify.send_due() == {"picked": 5, notify.CIRCUIT_OPEN: 5}
    for row in rows:
        row.refresh_from_db()
        assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1)
        assert row.next_attempt_at == DUE + timedelta(seconds=300)
    # the trial fails: open again, the others still held, only the trial's attempt counted
    with time_machine.travel(DUE + timedelta(seconds=300), tick=False):
        outcome = notify.send_due()
    assert outcome == {"picked": 5, "pending": 1, notify.CIRCUIT_OPEN: 4}
    assert state_at(name, DUE + timedelta(seconds=300)) == circuit.OPEN
    attempts = sorted(
        type(rows[0]).objects.filter(pk__in=[r.pk for r in rows]).values_list("attempts", flat=True)
    )
    assert attempts == [1, 1, 1, 1, 2]
