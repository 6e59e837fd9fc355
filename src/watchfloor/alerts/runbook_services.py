"""Runbooks, writes: create, change, delete. `noc:configure`, each one audited (the audit entry
names the type, the client and which fields changed, never the text)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.alerts.models import Runbook
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.bounds import text_problem

TYPE_MAX = 100
TITLE_MAX = 200
BODY_MAX = 50_000
URL_MAX = 1000
FIELDS = ("alert_type", "title", "body", "url")
_URL = URLValidator(schemes=["http", "https"])


def _text(value, field: str, *, limit: int, required: bool) -> str:
    if not isinstance(value, str):
        raise ValidationError({field: "Give a text."})
    value = value.strip()
    if required and not value:
        raise ValidationError({field: "This field is required."})
    if len(value) > limit:
        raise ValidationError({field: f"At most {limit} characters."})
    if problem := text_problem(value):
        raise ValidationError({field: problem})
    return value


def _url(value) -> str:
    url = _text(value, "url", limit=URL_MAX, required=False)
    if url:
        try:
            _URL(url)
        except ValidationError:
            raise ValidationError({"url": "Give an http:// or https:// address."}) from None
    return url


def _clean(values: dict) -> dict:
    cleaned = {}
    if "alert_type" in values:
        cleaned["alert_type"] = _text(
            values["alert_type"], "alert_type", limit=TYPE_MAX, required=True
        )
    if "title" in values:
        cleaned["title"] = _text(values["title"], "title", limit=TITLE_MAX, required=True)
    if "body" in values:
        cleaned["body"] = _text(values["body"], "body", limit=BODY_MAX, required=False)
    if "url" in values:
        cleaned["url"] = _url(values["url"])
    return cleaned


def _audit(runbook: Runbook, *, actor, change: str, **details) -> None:
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=runbook.tenant_id,
        entity=runbook,
        details={
            "change": change,
            "alert_type": runbook.alert_type,
            "client_id": runbook.client_id,
            **details,
        },
    )


def _taken() -> ValidationError:
    return ValidationError(
        {"alert_type": "A runbook for this alert type (and client) exists already."}
    )


def _save(runbook: Runbook, fields: list[str] | None = None) -> None:
    try:
        with transaction.atomic():
            runbook.save(update_fields=fields)
    except IntegrityError:
        raise _taken() from None


@transaction.atomic
def create_runbook(
    *, actor, alert_type: str, title: str, client=None, body: str = "", url: str = ""
) -> Runbook:
    """A runbook for an alert type, for every client (`client` None) or one client (a client of
    the actor's tenant; the caller checks it is in the actor's scope). Body or URL, or both."""
    require_capability(actor, Capability.CONFIGURE)
    values = _clean({"alert_type": alert_type, "title": title, "body": body, "url": url})
    if not values["body"] and not values["url"]:
        raise ValidationError({"body": "Write the runbook or give its url."})
    if client is not None and client.tenant_id != actor.tenant_id:
        raise ValidationError({"client_id": "No such client in your scope."})
    now = timezone.now()
    runbook = Runbook(
        tenant_id=actor.tenant_id,
        client=client,
        created_at=now,
        updated_at=now,
        updated_by=actor,
        **values,
    )
    _save(runbook)
    _audit(runbook, actor=actor, change="runbook.create")
    return runbook


@transaction.atomic
def update_runbook(runbook: Runbook, *, actor, **changes) -> Runbook:
    """Change the type, title, body or url (the client stays: create another for another)."""
    require_capability(actor, Capability.CONFIGURE)
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValidationError({f: "Unknown field." for f in sorted(unknown)})
    values = _clean(changes)
    runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
    changed = [f for f, v in values.items() if getattr(runbook, f) != v]
    for field in changed:
        setattr(runbook, field, values[field])
    if not runbook.body and not runbook.url:
        raise ValidationError({"body": "Write the runbook or give its url."})
    if changed:
        runbook.updated_at = timezone.now()
        runbook.updated_by = actor
        _save(runbook, [*changed, "updated_at", "updated_by"])
        _audit(runbook, actor=actor, change="runbook.update", fields=sorted(changed))
    return runbook


@transaction.atomic
def delete_runbook(runbook: Runbook, *, actor) -> None:
    require_capability(actor, Capability.CONFIGURE)
    _audit(runbook, actor=actor, change="runbook.delete")
    runbook.delete()
