"""`/clients/contacts/`: who at each client gets its incidents' status updates (#11 §5), for
`noc:configure`. The page is the API's client contacts (`incidents.contacts`) in a browser: add a
contact, send it a 6-digit code, enter the code it read back, pause or resume its updates, remove
it. Every form posts here with an `action` and comes back (post/redirect/get); the services check
capability, scope and input again. Names and addresses are masked without `noc:view_pii`, and an
apprise URL's secrets are never shown back.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import masked_for
from watchfloor.access.scope import access_client, has_capability, visible_clients
from watchfloor.dashboard.denied import forbidden
from watchfloor.incidents import contacts as services
from watchfloor.oncall.channels import display_address
from watchfloor.oncall.models import DeliveryStatus, Medium

ACTIONS = ("add", "send_code", "verify", "subscribe", "unsubscribe", "delete")


def _row(contact, pii: bool) -> dict:
    shown = masked_for(
        None,
        {"name": contact.name, "address": display_address(contact.medium, contact.address)},
        can_view_pii=pii,
    )
    return {
        "id": contact.id,
        "name": shown["name"],
        "medium": dict(Medium.choices).get(contact.medium, contact.medium),
        "address": shown["address"],
        "verified_at": contact.verified_at,
        "code_sent_at": contact.verification_sent_at,
        "subscribed": contact.subscribed,
    }


def _errors(exc: ValidationError) -> dict[str, str]:
    if hasattr(exc, "message_dict"):
        return {field: " ".join(texts) for field, texts in exc.message_dict.items()}
    return {"__all__": " ".join(exc.messages)}


def _page(request, client, *, errors=None, form=None, status=200):
    user = request.user
    pii = has_capability(user, Capability.VIEW_PII)
    rows = []
    if client is not None:
        rows = [_row(c, pii) for c in services.contacts_of(user, client).order_by("name", "id")]
    context = {
        "nav": "incidents",
        "clients": list(visible_clients(user).order_by("code")),
        "client": client,
        "contacts": rows,
        "media": Medium.choices,
        "errors": errors or {},
        "form": form or {"medium": Medium.EMAIL, "subscribed": True},
        "max_contacts": services.MAX_CONTACTS,
    }
    response = render(request, "dashboard/client_contacts.html", context, status=status)
    response["Cache-Control"] = "private, no-store"
    return response


def _back(client) -> object:
    return redirect(f"{reverse('dashboard:client_contacts')}?client={client.id}")


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def client_contacts(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    if not has_capability(user, Capability.CONFIGURE):
        return forbidden(request, Capability.CONFIGURE)
    source = request.POST if request.method == "POST" else request.GET
    raw_client = source.get("client", "")
    client = None
    if raw_client:
        if not raw_client.isdigit() or len(raw_client) > 18:
            raise Http404("Not found.")
        client = access_client(user, int(raw_client))  # another tenant's or unseen: 404
    if request.method != "POST":
        return _page(request, client)
    if client is None:
        return _page(request, None, errors={"client": "Choose a client."}, status=422)
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        return _page(request, client, errors={"action": "Unknown action."}, status=422)
    if action == "add":
        form = {
            "name": request.POST.get("name", ""),
            "medium": request.POST.get("medium", ""),
            "address": request.POST.get("address", ""),
            "subscribed": request.POST.get("subscribed") == "on",
        }
        try:
            contact = services.add_contact(client, actor=user, **form)
        except ValidationError as exc:
            return _page(request, client, errors=_errors(exc), form=form, status=422)
        return _sent_first_code(request, client, contact)
    raw_id = request.POST.get("contact", "")
    if not raw_id.isdigit() or len(raw_id) > 18:
        raise Http404("Not found.")
    contact = services.access_contact(user, client, int(raw_id))
    try:
        if action == "send_code":
            return _sent_first_code(request, client, contact)
        if action == "verify":
            services.verify_contact(contact, actor=user, code=request.POST.get("code", ""))
            messages.success(request, "Contact verified: it now gets this client's updates.")
        elif action in ("subscribe", "unsubscribe"):
            services.update_contact(contact, actor=user, subscribed=action == "subscribe")
            messages.success(
                request, "Updates resumed." if action == "subscribe" else "Updates paused."
            )
        else:
            services.delete_contact(contact, actor=user)
            messages.success(request, "Contact removed.")
    except ValidationError as exc:
        errors = {f"{contact.id}:{k}": v for k, v in _errors(exc).items()}
        return _page(request, client, errors=errors, status=422)
    return _back(client)


def _sent_first_code(request, client, contact):
    """Send a code (the add sends the first at once); the outcome is said on the page."""
    try:
        delivery = services.send_contact_code(contact, actor=request.user)
    except services.TooSoon as exc:
        messages.warning(request, str(exc))
        return _back(client)
    if delivery.status == DeliveryStatus.SENT:
        messages.success(request, "Code sent: enter the 6 digits the contact reads back.")
    else:
        messages.error(
            request, "The code could not be sent; check the address, then send a new code."
        )
    return _back(client)
