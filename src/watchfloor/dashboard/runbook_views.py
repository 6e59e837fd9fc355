"""The runbooks pages: every runbook the user may read (`noc:view`: the tenant's general ones and
those of clients in scope), one runbook rendered, and (with `noc:configure`) creating, editing
and deleting them. Writes go through `alerts.runbook_services`, which validate and audit; the
Markdown is rendered by `alerts.runbooks.render_markdown` (raw HTML off, links checked) after
masking for the reader."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import CapabilityDenied, has_capability, visible_clients
from watchfloor.alerts import runbook_services as services
from watchfloor.alerts.runbooks import access_runbook, runbook_view, runbooks_visible
from watchfloor.dashboard.denied import forbidden

EVERY_CLIENT = ""


class RunbookForm(forms.Form):
    alert_type = forms.CharField(max_length=services.TYPE_MAX, label="Alert type")
    client = forms.ChoiceField(label="For", required=False)
    title = forms.CharField(max_length=services.TITLE_MAX, label="Title")
    body = forms.CharField(
        max_length=services.BODY_MAX,
        required=False,
        strip=True,
        label="Runbook (Markdown)",
        widget=forms.Textarea(attrs={"rows": 16}),
    )
    url = forms.CharField(
        max_length=services.URL_MAX, required=False, label="Or a link (http/https)"
    )

    def __init__(self, *args, clients, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["client"].choices = [(EVERY_CLIENT, "Every client")] + [
            (str(c.id), f"{c.name} ({c.code})") for c in clients
        ]


def _denied(request, capability: Capability):
    if capability == Capability.VIEW:
        return forbidden(request, capability)
    return forbidden(request, capability, template="dashboard/_runbook_denied.html", nav="runbooks")


def _errors_into(form: RunbookForm, exc: ValidationError) -> None:
    for field, texts in exc.message_dict.items():
        name = {"client_id": "client"}.get(field, field)
        for text in texts:
            form.add_error(name if name in form.fields else None, text)


@require_safe
@login_required
def runbooks(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return _denied(request, Capability.VIEW)
    pii = has_capability(user, Capability.VIEW_PII)
    rows = [
        (r, runbook_view(r, can_view_pii=pii))
        for r in runbooks_visible(user).order_by("alert_type", "client__code", "id")
    ]
    context = {
        "nav": "runbooks",
        "rows": rows,
        "configure": has_capability(user, Capability.CONFIGURE),
    }
    return render(request, "dashboard/runbooks.html", context)


@require_safe
@login_required
def runbook_detail(request, runbook_id: int):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return _denied(request, Capability.VIEW)
    runbook = access_runbook(user, runbook_id)
    pii = has_capability(user, Capability.VIEW_PII)
    context = {
        "nav": "runbooks",
        "runbook": runbook_view(runbook, can_view_pii=pii),
        "record": runbook,
        "configure": has_capability(user, Capability.CONFIGURE),
    }
    return render(request, "dashboard/runbook_detail.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def runbook_create(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return _denied(request, Capability.VIEW)
    if not has_capability(user, Capability.CONFIGURE):
        return _denied(request, Capability.CONFIGURE)
    clients = list(visible_clients(user).order_by("code"))
    initial = {"alert_type": request.GET.get("alert_type", "")[: services.TYPE_MAX]}
    form = RunbookForm(request.POST or None, clients=clients, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        client = next((c for c in clients if str(c.id) == data["client"]), None)
        try:
            runbook = services.create_runbook(
                actor=user,
                alert_type=data["alert_type"],
                client=client,
                title=data["title"],
                body=data["body"],
                url=data["url"],
            )
        except CapabilityDenied:
            return _denied(request, Capability.CONFIGURE)
        except ValidationError as exc:
            _errors_into(form, exc)
        else:
            messages.success(request, "Runbook saved.")
            return redirect("dashboard:runbook", runbook.id)
    status = 422 if request.method == "POST" else 200
    return render(
        request, "dashboard/runbook_form.html", {"nav": "runbooks", "form": form}, status=status
    )


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def runbook_edit(request, runbook_id: int):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return _denied(request, Capability.VIEW)
    runbook = access_runbook(user, runbook_id)
    if not has_capability(user, Capability.CONFIGURE):
        return _denied(request, Capability.CONFIGURE)
    client = runbook.client
    clients = [client] if client is not None else []
    initial = {
        "alert_type": runbook.alert_type,
        "client": str(client.id) if client is not None else EVERY_CLIENT,
        "title": runbook.title,
        "body": runbook.body,
        "url": runbook.url,
    }
    form = RunbookForm(request.POST or None, clients=clients, initial=initial)
    form.fields["client"].disabled = True  # the client stays: create another for another
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.update_runbook(
                runbook,
                actor=user,
                alert_type=data["alert_type"],
                title=data["title"],
                body=data["body"],
                url=data["url"],
            )
        except CapabilityDenied:
            return _denied(request, Capability.CONFIGURE)
        except ValidationError as exc:
            _errors_into(form, exc)
        else:
            messages.success(request, "Runbook saved.")
            return redirect("dashboard:runbook", runbook.id)
    status = 422 if request.method == "POST" else 200
    context = {"nav": "runbooks", "form": form, "record": runbook}
    return render(request, "dashboard/runbook_form.html", context, status=status)


@require_POST
@login_required
def runbook_delete(request, runbook_id: int):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return _denied(request, Capability.VIEW)
    runbook = access_runbook(user, runbook_id)
    if not has_capability(user, Capability.CONFIGURE):
        return _denied(request, Capability.CONFIGURE)
    try:
        services.delete_runbook(runbook, actor=user)
    except CapabilityDenied:
        return _denied(request, Capability.CONFIGURE)
    messages.success(request, "Runbook deleted.")
    return redirect("dashboard:runbooks")
