"""The retention page (/settings/retention/): how long the tenant's rows are kept, per kind,
and the form to change it (`noc:configure`, CSRF, audited as config_change)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import CapabilityDenied, has_capability
from watchfloor.dashboard.alert_views import When
from watchfloor.dashboard.denied import forbidden
from watchfloor.snapshots import retention_services as services
from watchfloor.snapshots.models import KINDS

NUMBER_MAX_CHARS = 10


def _parse(post) -> tuple[dict[str, int], dict[str, str]]:
    values: dict[str, int] = {}
    errors: dict[str, str] = {}
    for kind in KINDS:
        raw = post.get(kind.field, "").strip()[:NUMBER_MAX_CHARS]
        if not raw.isdigit():
            errors[kind.field] = "A whole number of days."
            continue
        values[kind.field] = int(raw)
    return values, errors


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def retention_page(request):
    user = request.user
    if not has_capability(user, Capability.CONFIGURE):
        return forbidden(request, Capability.CONFIGURE)
    if user.tenant_id is None:
        raise Http404("No tenant.")
    policy = services.policy_for(user.tenant_id)
    errors: dict[str, str] = {}
    shown = {kind.field: str(getattr(policy, kind.field)) for kind in KINDS}
    if request.method == "POST":
        values, errors = _parse(request.POST)
        shown = {kind.field: request.POST.get(kind.field, "")[:NUMBER_MAX_CHARS] for kind in KINDS}
        if not errors:
            try:
                services.update_policy(user.tenant_id, actor=user, **values)
            except CapabilityDenied as exc:
                return forbidden(request, exc.capability)
            except services.RetentionError as exc:
                errors = exc.fields
            else:
                messages.success(request, "Retention saved.")
                return HttpResponseRedirect(reverse("dashboard:retention"))
    rows = [
        {
            "field": kind.field,
            "label": kind.label,
            "value": shown[kind.field],
            "default": kind.default,
            "minimum": kind.minimum,
            "maximum": kind.maximum,
            "error": errors.get(kind.field, ""),
        }
        for kind in KINDS
    ]
    context = {
        "nav": "settings",
        "rows": rows,
        "errors": errors,
        "updated": When.of(policy.updated_at, None) if policy.pk else None,
    }
    return render(request, "dashboard/retention.html", context, status=422 if errors else 200)
