"""`/settings/notifications/`: my contact methods and notification rules, and (for admins with
`noc:configure`) the team channels. Every form posts here with an `action` and comes back
(post/redirect/get); the services check ownership, capability and input again."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import has_capability
from watchfloor.dashboard.denied import forbidden
from watchfloor.oncall import contact_services as services
from watchfloor.oncall.contact_queries import (
    access_channel,
    access_contact_method,
    access_rule,
    channel_out,
    channels_of,
    method_out,
    methods_of,
    rule_out,
    rules_of,
)
from watchfloor.oncall.models import DeliveryStatus, Medium

HELP = {
    Medium.EMAIL: "name@example.com",
    Medium.SMS: "twilio://SID:TOKEN@FROM/TO (any apprise SMS gateway URL)",
    Medium.SLACK: "slack://TokenA/TokenB/TokenC",
    Medium.TEAMS: "msteams://… or workflows://…",
    Medium.TELEGRAM: "tgram://bottoken/ChatID",
    Medium.WEBHOOK: "json://host:port/path (jsons:// for https)",
    Medium.APPRISE: "any apprise URL",
}


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(
            f"{'' if k in ('body', '__all__') else k.replace('_', ' ').capitalize() + ': '}"
            + " ".join(m for e in v for m in e.messages)
            for k, v in exc.error_dict.items()
        )
    return " ".join(exc.messages)


def _int(value) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError("Invalid number.") from None
    if not 0 <= number <= 2**63 - 1:
        raise ValidationError("Invalid number.")
    return number


def _sent(request, delivery, what: str) -> None:
    if delivery.status == DeliveryStatus.SENT:
        messages.success(request, f"{what} sent.")
    else:
        messages.error(request, f"{what} could not be sent: {delivery.last_error or 'failed'}.")


def _act(request, action: str) -> None:
    """Run one posted action; outcomes become messages."""
    user, post = request.user, request.POST
    if action == "add_method":
        method = services.add_contact_method(
            actor=user,
            medium=post.get("medium", ""),
            label=post.get("label", ""),
            address=post.get("address", ""),
        )
        _sent(request, services.send_verification(method, actor=user), "A verification code")
        return
    if action in {"send_code", "verify", "test", "delete_method", "add_rule"}:
        method = access_contact_method(user, _int(post.get("method_id")))
        if action == "send_code":
            _sent(request, services.send_verification(method, actor=user), "A new code")
        elif action == "verify":
            services.verify_contact_method(method, actor=user, code=post.get("code", ""))
            messages.success(request, f"“{method.label}” is verified: pages can reach you there.")
        elif action == "test":
            _sent(request, services.send_test(method, actor=user), "A test message")
        elif action == "delete_method":
            services.delete_contact_method(method, actor=user)
            messages.success(request, f"“{method.label}” is removed.")
        else:
            services.add_rule(
                actor=user, contact_method=method, delay_minutes=_int(post.get("delay_minutes"))
            )
            messages.success(request, "The rule is added.")
        return
    if action == "delete_rule":
        services.delete_rule(access_rule(user, _int(post.get("rule_id"))), actor=user)
        messages.success(request, "The rule is removed.")
        return
    if not has_capability(user, Capability.CONFIGURE):
        raise PermissionError
    if action == "add_channel":
        services.create_channel(
            actor=user,
            name=post.get("name", ""),
            medium=post.get("medium", ""),
            address=post.get("address", ""),
        )
        messages.success(request, "The channel is added: send it a code to verify it.")
        return
    channel = access_channel(user, _int(post.get("channel_id")))
    if action == "channel_code":
        _sent(request, services.send_channel_verification(channel, actor=user), "A code")
    elif action == "channel_verify":
        services.verify_channel(channel, actor=user, code=post.get("code", ""))
        messages.success(request, f"“{channel.name}” is verified.")
    elif action == "channel_test":
        _sent(request, services.send_channel_test(channel, actor=user), "A test message")
    elif action == "channel_toggle":
        services.update_channel(channel, actor=user, active=not channel.active)
        messages.success(request, f"“{channel.name}” is {'off' if channel.active else 'on'}.")
    elif action == "delete_channel":
        services.delete_channel(channel, actor=user)
        messages.success(request, f"“{channel.name}” is removed.")
    else:
        raise ValidationError("Unknown action.")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def notifications_page(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    configure = has_capability(user, Capability.CONFIGURE)
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            _act(request, action)
        except PermissionError:
            return forbidden(request, Capability.CONFIGURE)
        except Http404:
            messages.error(request, "Not found.")
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        except services.TooSoon as exc:
            messages.error(request, str(exc))
        except services.NotVerified as exc:
            messages.error(request, str(exc))
        return redirect("dashboard:notifications")
    methods = [method_out(m) for m in methods_of(user)]
    context = {
        "nav": "settings",
        "methods": methods,
        "verified_methods": [m for m in methods if m["verified"]],
        "rules": [rule_out(r) for r in rules_of(user)],
        "mediums": Medium.choices,
        "help": [(Medium(k).label, v) for k, v in HELP.items()],
        "configure": configure,
        "channels": [channel_out(c, user) for c in channels_of(user)] if configure else [],
        "verify_minutes": services.VERIFY_MINUTES,
        "max_delay": services.MAX_RULE_DELAY,
    }
    return render(request, "dashboard/notifications.html", context)
