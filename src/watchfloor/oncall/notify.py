"""Deliveries: who a page reaches, on which method and when; sending them, retrying them.

`page(alert, step=…, recipients=…, channels=…, due_at=…)` is what the escalation engine calls,
inside its transaction. It writes one `Delivery` per way of reaching each person (their
notification rules on verified contact methods; every verified method at once for a person
without rules; one UNREACHABLE row for a person without a verified method: never silently
nobody) and one per active verified team channel, then queues each for its due time after
commit. Nothing is sent there: sending never happens in the ingestion or escalation path.

`deliver(delivery_id)` sends one: it claims the row with a conditional UPDATE (two workers never
send one delivery twice; a row left `sending` by a dead worker is claimed again after
`STUCK_AFTER`), cancels a page whose alert was acknowledged, resolved or suppressed meanwhile,
sends outside any transaction, and records the outcome: SENT with its latency (due → sent), or
PENDING again after a backoff, or FAILED after the last attempt. A destination whose circuit
breaker is open (watchfloor.circuit, one per destination: `channels.circuit_name`) is not tried:
its deliveries go back to PENDING, their attempt given back, due when the circuit next lets a
trial through (`circuit_open`); the outcome of every send counts for or against the circuit.

`send_due()` is the periodic safety net: every PENDING delivery whose time has come and every
stuck one, in bounded, ordered batches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from watchfloor import circuit
from watchfloor.alerts.models import Alert, Runbook, Status
from watchfloor.alerts.runbooks import runbooks_for
from watchfloor.jobs.runtime import enqueue, enqueue_many
from watchfloor.oncall import channels as channel_io
from watchfloor.oncall.ack_links import ack_url
from watchfloor.oncall.messages import (
    Message,
    incident_page_message,
    page_message,
    test_message,
)
from watchfloor.oncall.metrics import DELIVERIES
from watchfloor.oncall.models import (
    AlertEscalation,
    ContactMethod,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    EscalationState,
    NotificationRule,
    TeamChannel,
)
from watchfloor.tenancy.models import User

log = logging.getLogger(__name__)

SEND_TASK = "watchfloor.oncall.tasks.send_delivery"
# waits before the 2nd, 3rd, … attempt; past the table, its last entry
BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=1),
    timedelta(minutes=2),
    timedelta(minutes=5),
    timedelta(minutes=10),
)
BATCH = 200  # deliveries one run of send_due claims at most
# sends in flight at once in one batch: what they wait for is the network (SMTP, HTTP)
SEND_THREADS = 8
# What a delivery held back by its destination's open circuit ends in (and is counted as).
CIRCUIT_OPEN = "circuit_open"
CIRCUIT_OPEN_ERROR = (
    "Not sent yet: this destination failed several times in a row (its circuit is open); "
    "retried when the circuit lets a trial through."
)
SLOT = timedelta(milliseconds=500)  # deliveries due within one slot share one send task
# an alert in one of these no longer needs anyone: its pending pages are cancelled
SETTLED = frozenset({Status.ACKNOWLEDGED, Status.ASSIGNED, Status.RESOLVED, Status.SUPPRESSED})


def stuck_after() -> timedelta:
    """A row `sending` for longer than this was left by a worker that died."""
    return max(timedelta(minutes=2), timedelta(seconds=6 * settings.NOTIFY_TIMEOUT))


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1-based)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


# --- writing deliveries --------------------------------------------------------------------------
@dataclass(frozen=True)
class PageRequest:
    """One step's notifications about one alert (what `page` takes), for `page_many`."""

    alert: Alert
    step: int | None
    recipients: Sequence
    channels: Sequence[TeamChannel]
    due_at: datetime
    context: dict | None = None  # Delivery.context: an incident's page


def page(
    alert: Alert,
    *,
    step: int | None,
    recipients: Sequence,
    channels: Sequence[TeamChannel],
    due_at: datetime,
) -> list[Delivery]:
    """Write the deliveries of one step about `alert` and queue them after commit.

    A person reached twice by one step (on call AND officer in charge) gets one set; people of
    another tenant or inactive are skipped, as are channels that are inactive, unverified or of
    another tenant. Three queries whatever the number of people (methods, rules, one insert).
    """
    return page_many([PageRequest(alert, step, recipients, channels, due_at)])


def page_many(requests: Sequence[PageRequest]) -> list[Delivery]:
    """`page` for many alerts at once (a sweep's batch): still three queries in all."""
    now = timezone.now()
    wanted = {
        person.id
        for request in requests
        for person in request.recipients
        if person is not None and person.is_active and person.tenant_id == request.alert.tenant_id
    }
    methods: dict[int, list[ContactMethod]] = {}
    rules: dict[int, list[NotificationRule]] = {}
    if wanted:
        for method in ContactMethod.objects.filter(
            user_id__in=sorted(wanted), verified_at__isnull=False
        ).order_by("user_id", "id"):
            methods.setdefault(method.user_id, []).append(method)
        for rule in (
            NotificationRule.objects.filter(
                user_id__in=sorted(wanted), contact_method__verified_at__isnull=False
            )
            .select_related("contact_method")
            .order_by("user_id", "delay_minutes", "id")
        ):
            rules.setdefault(rule.user_id, []).append(rule)
    rows: list[Delivery] = []
    for request in requests:
        rows += _rows(request, methods, rules, now)
    if not rows:
        return []
    created = Delivery.objects.bulk_create(rows)
    # A send task sends everything due (tasks.send_delivery), so one task per SLOT of due
    # times, at the slot's last one, and one for all that are due already: not one per
    # delivery (a sweep taking 600 late steps queued 600 tasks for the same "now").
    slots: dict[int | None, Delivery] = {}
    for delivery in created:
        if delivery.status != DeliveryStatus.PENDING:
            continue
        eta = delivery.next_attempt_at
        assert eta is not None  # a pending delivery always has its next attempt
        slot = None if eta <= now else int(eta.timestamp() // SLOT.total_seconds())
        last = slots.get(slot)
        if last is None or eta > (last.next_attempt_at or eta):
            slots[slot] = delivery
    enqueue_many(
        SEND_TASK,
        [((d.id,), None if slot is None else d.next_attempt_at) for slot, d in slots.items()],
    )
    return created


def _rows(request: PageRequest, methods, rules, now: datetime) -> list[Delivery]:
    alert, due_at = request.alert, request.due_at
    tenant_id = alert.tenant_id

    def row(**values) -> Delivery:
        return Delivery(
            tenant_id=tenant_id,
            kind=DeliveryKind.PAGE,
            alert=alert,
            step=request.step,
            context=request.context or {},
            created_at=now,
            updated_at=now,
            **values,
        )

    people: dict[int, User] = {}
    for person in request.recipients:
        if person is not None and person.is_active and person.tenant_id == tenant_id:
            people.setdefault(person.id, person)
    rows: list[Delivery] = []
    for user_id, person in people.items():
        plan = [
            (r.contact_method, r.delay_minutes)
            for r in rules.get(user_id, [])
            if r.tenant_id == tenant_id
        ]
        if not plan:
            plan = [(m, 0) for m in methods.get(user_id, []) if m.tenant_id == tenant_id]
        if not plan:
            rows.append(
                row(
                    recipient=person,
                    status=DeliveryStatus.UNREACHABLE,
                    due_at=due_at,
                    last_error="No verified contact method.",
                )
            )
            continue
        for method, delay in plan:
            when = due_at + timedelta(minutes=delay)
            rows.append(
                row(
                    recipient=person,
                    contact_method=method,
                    medium=method.medium,
                    due_at=when,
                    next_attempt_at=when,
                )
            )
    seen_channels = set()
    for channel in request.channels:
        if (
            channel is None
            or channel.id in seen_channels
            or channel.tenant_id != tenant_id
            or not channel.active
            or channel.verified_at is None
        ):
            continue
        seen_channels.add(channel.id)
        rows.append(
            row(channel=channel, medium=channel.medium, due_at=due_at, next_attempt_at=due_at)
        )
    return rows


def record_direct(
    *,
    tenant_id: int,
    kind: DeliveryKind,
    recipient=None,
    contact_method: ContactMethod | None = None,
    channel: TeamChannel | None = None,
) -> Delivery:
    """A TEST or VERIFY delivery the caller sends at once (`send_now`): written `sending`."""
    now = timezone.now()
    target = contact_method or channel
    return Delivery.objects.create(
        tenant_id=tenant_id,
        kind=kind,
        recipient=recipient,
        contact_method=contact_method,
        channel=channel,
        medium=target.medium,
        status=DeliveryStatus.SENDING,
        attempts=1,
        due_at=now,
        next_attempt_at=None,
        created_at=now,
        updated_at=now,
    )


def send_now(delivery: Delivery, message: Message) -> Delivery:
    """Send a TEST or VERIFY delivery written by `record_direct` (outside any transaction: the
    person waits for the outcome) and record it. Not retried: the person asks again."""
    medium, address = _destination(delivery)
    # not held back by an open circuit (the person asked and waits to see it fail or pass);
    # its outcome counts: a test that goes through closes the destination's circuit
    result = channel_io.send(
        medium, address, subject=message.subject, text=message.text, short=message.short
    )
    circuit.record(channel_io.circuit_name(medium, address), ok=not result.destination_failed)
    _record(delivery, result.ok, result.error, retry=False)
    delivery.refresh_from_db()
    return delivery


# --- notices: messages written above oncall, to addresses of their own ---------------------------
@dataclass(frozen=True)
class Notice:
    """One message to one address (a client contact): `ref` is what the writer wants to find
    the delivery by again (`context["ref"]`, e.g. {"client_contact": id})."""

    medium: str
    address: str
    message: Message
    ref: dict


def _notice_row(tenant_id: int, notice: Notice, now: datetime, **values) -> Delivery:
    return Delivery(
        tenant_id=tenant_id,
        kind=DeliveryKind.NOTICE,
        medium=notice.medium,
        address=notice.address,
        context={
            "notice": {
                "subject": notice.message.subject,
                "text": notice.message.text,
                "short": notice.message.short,
            },
            "ref": notice.ref,
        },
        created_at=now,
        updated_at=now,
        **values,
    )


def queue_notices(tenant_id: int, notices: Sequence[Notice]) -> list[Delivery]:
    """Write one PENDING NOTICE delivery per notice (one insert) and queue their sending after
    commit: sent, retried with backoff and held by an open circuit like every delivery."""
    if not notices:
        return []
    now = timezone.now()
    created = Delivery.objects.bulk_create(
        [_notice_row(tenant_id, n, now, due_at=now, next_attempt_at=now) for n in notices]
    )
    enqueue_many(SEND_TASK, [((d.id,), None) for d in created[-1:]])
    return created


def send_notice_now(tenant_id: int, notice: Notice) -> Delivery:
    """Send one notice at once, not retried (a verification code: the person waits for the
    outcome and asks again). Call outside any transaction."""
    now = timezone.now()
    delivery = _notice_row(
        tenant_id, notice, now, status=DeliveryStatus.SENDING, attempts=1, due_at=now
    )
    delivery.save()
    return send_now(delivery, notice.message)


# --- sending -------------------------------------------------------------------------------------
def _destination(delivery: Delivery) -> tuple[str, str]:
    if delivery.kind == DeliveryKind.NOTICE:
        return delivery.medium, delivery.address
    if delivery.channel_id:
        return delivery.channel.medium, delivery.channel.address
    return delivery.contact_method.medium, delivery.contact_method.address


def _claim(delivery_id: int, now: datetime) -> bool:
    due = Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    stuck = Q(status=DeliveryStatus.SENDING, updated_at__lt=now - stuck_after())
    return bool(
        Delivery.objects.filter(pk=delivery_id)
        .filter(due | stuck)
        .update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, updated_at=now)
    )


def _settle(delivery: Delivery, status: DeliveryStatus, reason: str) -> str:
    """Close a claimed delivery without sending (the claim's attempt is given back)."""
    Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
        status=status,
        attempts=F("attempts") - 1,
        next_attempt_at=None,
        last_error=reason[: channel_io.MAX_ERROR],
        updated_at=timezone.now(),
    )
    return str(status)


def _hold(delivery: Delivery, name: str, now: datetime) -> str:
    """A claimed delivery whose destination's circuit is open: not sent, not lost. Back to
    PENDING with its attempt given back (an attempt never made does not bring it closer to
    FAILED), due again after the usual backoff or when the circuit lets a trial through,
    whichever is later, and queued for then. Counted as `circuit_open`."""
    current = circuit.state(name)
    retry_at = now + backoff(max(delivery.attempts - 1, 1))
    if current.retry_at is not None:
        retry_at = max(retry_at, datetime.fromtimestamp(current.retry_at, tz=UTC))
    held = Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.PENDING,
        attempts=F("attempts") - 1,
        next_attempt_at=retry_at,
        last_error=CIRCUIT_OPEN_ERROR,
        updated_at=now,
    )
    DELIVERIES.labels(medium=delivery.medium, outcome=CIRCUIT_OPEN).inc()
    if held:
        enqueue(SEND_TASK, delivery.pk, eta=retry_at)
    return CIRCUIT_OPEN


def _why_not(delivery: Delivery, stopped: dict[int, str]) -> tuple[DeliveryStatus, str] | None:
    """Why a claimed delivery must not be sent, if so."""
    if delivery.kind == DeliveryKind.NOTICE:
        return None  # its writer decided who gets it; nothing here can change that
    if delivery.recipient is not None and not delivery.recipient.is_active:
        return DeliveryStatus.CANCELLED, "The person's account is deactivated."
    if delivery.channel_id:
        if delivery.channel is None or not delivery.channel.active:
            return DeliveryStatus.CANCELLED, "The team channel is deactivated."
    elif delivery.contact_method_id is None or delivery.contact_method is None:
        return DeliveryStatus.FAILED, "The contact method was removed."
    elif delivery.kind == DeliveryKind.PAGE and delivery.contact_method.verified_at is None:
        return DeliveryStatus.FAILED, "The contact method is no longer verified."
    if delivery.kind == DeliveryKind.VERIFY:
        return DeliveryStatus.FAILED, "A verification code is sent once: ask for a new one."
    if delivery.kind != DeliveryKind.PAGE:
        return None
    alert = delivery.alert
    if alert is None:
        return DeliveryStatus.CANCELLED, "The alert was deleted."
    if delivery.context.get("incident"):
        return None  # an incident's page: its escalation cancels it (incidents.paging)
    if alert.status in SETTLED or alert.acknowledged_at is not None:
        return DeliveryStatus.CANCELLED, f"The alert was {alert.status.lower()} before it went out."
    if alert.id in stopped:
        return DeliveryStatus.CANCELLED, f"The escalation stopped: {stopped[alert.id]}"[:200]
    return None


def _message(delivery: Delivery, now: datetime, runbooks: dict[int, Runbook]) -> Message:
    if delivery.kind == DeliveryKind.NOTICE:
        notice = delivery.context["notice"]
        return Message(subject=notice["subject"], text=notice["text"], short=notice["short"])
    if delivery.kind == DeliveryKind.PAGE:
        assert delivery.alert is not None  # a page is always about an alert
        incident = delivery.context.get("incident")
        link = ack_url(delivery) if delivery.recipient_id else None
        if incident:
            return incident_page_message(
                incident,
                delivery.alert,
                recipient=delivery.recipient,
                step=delivery.step,
                now=now,
                ack_link=link,
                runbook=runbooks.get(delivery.alert.id),
            )
        return page_message(
            delivery.alert,
            recipient=delivery.recipient,
            step=delivery.step,
            now=now,
            ack_link=link,
            runbook=runbooks.get(delivery.alert.id),
        )
    label = delivery.channel.name if delivery.channel_id else delivery.contact_method.label
    return test_message(label=label)


def _outcome(delivery: Delivery, ok: bool, error: str, *, retry: bool, now: datetime) -> dict:
    """The values that record one attempt's outcome (the claim counted the attempt)."""
    values: dict = {"updated_at": now, "last_error": error}
    if ok:
        values.update(
            status=DeliveryStatus.SENT,
            sent_at=now,
            latency_ms=round((now - delivery.due_at).total_seconds() * 1000, 1),
            next_attempt_at=None,
        )
    elif retry and delivery.attempts < settings.NOTIFY_MAX_ATTEMPTS:
        values.update(
            status=DeliveryStatus.PENDING, next_attempt_at=now + backoff(delivery.attempts)
        )
    else:
        values.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    return values


def _record(delivery: Delivery, ok: bool, error: str, *, retry: bool) -> str:
    """Write the outcome of the attempt a claim (or `record_direct`) counted."""
    now = timezone.now()
    current = Delivery.objects.filter(pk=delivery.pk).values("attempts").first()
    delivery.attempts = current["attempts"] if current else delivery.attempts
    values = _outcome(delivery, ok, error, retry=retry, now=now)
    done = Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(**values)
    if done and values["status"] == DeliveryStatus.PENDING:
        enqueue(SEND_TASK, delivery.pk, eta=values["next_attempt_at"])
    return str(values["status"])


RELATED = (
    "alert",
    "alert__client",
    "alert__site",
    "alert__assignee",
    "recipient",
    "contact_method",
    "channel",
)


def deliver(delivery_id: int) -> str:
    """Send one delivery if it is due (or stuck); the status it ended in, or "" when there was
    nothing to do (not due yet, sent already, another worker has it)."""
    now = timezone.now()
    if not _claim(delivery_id, now):
        return ""
    delivery = Delivery.objects.select_related(*RELATED).get(pk=delivery_id)
    return _send_claimed([delivery], now)[0]


def _claim_due(now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due or stuck deliveries, oldest due first, in one transaction (rows
    another worker is claiming are skipped, never waited for)."""
    due = Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    stuck = Q(status=DeliveryStatus.SENDING, updated_at__lt=now - stuck_after())
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(due | stuck)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            Delivery.objects.filter(pk__in=ids).update(
                status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, updated_at=now
            )
    return ids


def _stopped_escalations(deliveries: list[Delivery]) -> dict[int, str]:
    alert_ids = {d.alert_id for d in deliveries if d.kind == DeliveryKind.PAGE and d.alert_id}
    if not alert_ids:
        return {}
    return dict(
        AlertEscalation.objects.filter(
            alert_id__in=alert_ids, state=EscalationState.STOPPED
        ).values_list("alert_id", "stop_reason")
    )


def _send_one(job: tuple[str, str, Message]):
    medium, address, message = job
    return channel_io.send(
        medium, address, subject=message.subject, text=message.text, short=message.short
    )


def _send_claimed(deliveries: list[Delivery], now: datetime) -> list[str]:
    """Send claimed deliveries (several at once: the network waits overlap) and record each
    outcome; the status each ended in, in order."""
    stopped = _stopped_escalations(deliveries)
    people: dict[int, User | None] = {}
    statuses: list[str | None] = [None] * len(deliveries)
    jobs: list[tuple[int, tuple[str, str, Message]]] = []
    circuits: dict[int, tuple[str, circuit.CircuitState]] = {}
    # the runbooks the pages link to, for the whole batch in one query
    runbooks = runbooks_for(
        d.alert for d in deliveries if d.kind == DeliveryKind.PAGE and d.alert is not None
    )
    for i, delivery in enumerate(deliveries):
        if delivery.recipient_id is not None:  # one user object per person: capabilities once
            delivery.recipient = people.setdefault(delivery.recipient_id, delivery.recipient)
        refusal = _why_not(delivery, stopped)
        if refusal is not None:
            statuses[i] = _settle(delivery, *refusal)
            continue
        try:
            message = _message(delivery, now, runbooks)
        except Exception as exc:  # a message that cannot be written is a failed attempt
            error = f"{type(exc).__name__}: writing the message failed"
            statuses[i] = _record(delivery, False, error, retry=True)
            continue
        destination = _destination(delivery)
        name = channel_io.circuit_name(*destination)
        admitted = circuit.admit(name)
        if admitted is None:
            statuses[i] = _hold(delivery, name, now)
            continue
        circuits[i] = (name, admitted)
        jobs.append((i, (*destination, message)))
    if len(jobs) == 1:
        results = [_send_one(jobs[0][1])]
    elif jobs:
        with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(jobs))) as pool:
            results = list(pool.map(_send_one, [job for _, job in jobs]))
    else:
        results = []
    finished = timezone.now()
    changed, retries = [], []
    for (i, _job), result in zip(jobs, results, strict=True):
        delivery = deliveries[i]
        name, admitted = circuits[i]
        circuit.record(name, ok=not result.destination_failed, before=admitted)
        for field, value in _outcome(
            delivery, result.ok, result.error, retry=True, now=finished
        ).items():
            setattr(delivery, field, value)
        changed.append(delivery)
        statuses[i] = str(delivery.status)
        if delivery.status == DeliveryStatus.PENDING:
            retries.append(delivery)
    if changed:
        Delivery.objects.bulk_update(changed, OUTCOME_FIELDS)
    for delivery in retries:
        enqueue(SEND_TASK, delivery.pk, eta=delivery.next_attempt_at)
    return [status or "" for status in statuses]


OUTCOME_FIELDS = ["status", "sent_at", "latency_ms", "next_attempt_at", "last_error", "updated_at"]


def send_due(*, now: datetime | None = None, limit: int = BATCH, batches: int = 1) -> dict:
    """Send what is due: PENDING deliveries whose next attempt has come, oldest due first, and
    deliveries stuck in `sending`; up to `batches` batches of at most `limit`, each claimed
    together and sent several at once. Counts of the statuses they ended in."""
    now = now or timezone.now()
    counts: dict[str, int] = {"picked": 0}
    for _ in range(batches):
        ids = _claim_due(now, limit)
        counts["picked"] += len(ids)
        if not ids:
            break
        deliveries = list(
            Delivery.objects.select_related(*RELATED).filter(pk__in=ids).order_by("id")
        )
        for outcome in _send_claimed(deliveries, now):
            outcome = outcome or "skipped"
            counts[outcome] = counts.get(outcome, 0) + 1
        if len(ids) < limit:
            break
    return counts
