"""The escalation pages: the tenant's policies in plain words, one policy with its history, and
(with `noc:configure`) creating a client's policy, editing any policy and deleting a client's.

Reading needs `noc:view` and shows `oncall.policy_queries.policies_for` (the default and the
policies of the clients in the user's scope; any other id is a 404). Writes go through
`oncall.policy_services`, which validate the steps, store a new immutable version and audit.

The edit form is plain HTML: each step is a row of fields named `s<i>-…`. Adding, removing and
moving a step are submit buttons (`op`) that re-render the posted form changed and store nothing;
only `op=save` (or no `op`) writes. Errors the services name (`steps[1].targets[0].id`) are shown
on the step they belong to and in a list at the top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import person_view
from watchfloor.access.scope import CapabilityDenied, has_capability, visible_clients
from watchfloor.dashboard.alert_views import When
from watchfloor.dashboard.denied import forbidden
from watchfloor.oncall import policy_services as services
from watchfloor.oncall.models import (
    MAX_DELAY_MINUTES,
    MAX_REPEAT,
    MAX_STEPS,
    EscalationPolicy,
    PolicyVersion,
    Schedule,
    TeamChannel,
)
from watchfloor.oncall.policies import SEVERITIES, TargetKind
from watchfloor.oncall.policy_queries import TargetLabels, access_policy, policies_for
from watchfloor.tenancy.models import User

NOTIFY_AFTER_MAX = 1440
VERSIONS_SHOWN = 50  # the newest versions on a policy's page
NEW_STEP_DELAY = "15"
DELAY_DIGITS = 9  # more digits than this is not a number of minutes: refused before int()
# the order targets are sent in (and so the order of `steps[i].targets[j]`)
FIXED_TARGETS = (TargetKind.OFFICER, TargetKind.CLIENT_OWNER)
STEP_KEY = re.compile(r"^steps\[(\d+)\](?:\.(\w+))?(?:\[(\d+)\])?(?:\.(\w+))?$")
OP = re.compile(r"^(add|up|down|remove)(?:-(\d{1,3}))?$")
FIELD_LABELS = {
    "name": "Name",
    "repeat": "Repeat",
    "notify_after_minutes": "Notify only if still firing after",
    "client": "Client",
    "client_id": "Client",
    "is_default": "Policy",
    "steps": "Steps",
}


# --- plain words ---------------------------------------------------------------------------------


def _minutes(value) -> str:
    value = int(value) if float(value).is_integer() else value
    if isinstance(value, int) and value and value % 60 == 0:
        hours = value // 60
        return f"{hours} h"
    return f"{value} min"


def _severity_words(severities: list[str]) -> str:
    if not severities or set(severities) == set(SEVERITIES):
        return ""
    if len(severities) == 1:
        return f"{severities[0]} only"
    return f"{', '.join(severities[:-1])} and {severities[-1]} only"


def _target_words(target: dict) -> str:
    text = target["label"]
    if target["kind"] != TargetKind.USER and text:
        text = text[0].lower() + text[1:]
    return text


def step_sentence(index: int, step: dict) -> str:
    """`After 15 min, CRITICAL only: the site's officer in charge` (the first step) or
    `then after 15 min: on call in NOC Day` (the ones after it); targets already labelled."""
    when = f"{'After' if index == 0 else 'then after'} {_minutes(step['delay_minutes'])}"
    if step["delay_minutes"] == 0:
        when = "At once" if index == 0 else "then at once"
    severity = _severity_words(step["severities"])
    targets = "; ".join(_target_words(t) for t in step["targets"])
    return f"{when}{', ' + severity if severity else ''}: {targets}"


def _who(user, pii: bool) -> str:
    view = person_view(user, pii)
    if view is None:
        return "Watchfloor"
    return view["full_name"] or view["username"]


@dataclass
class PolicyRow:
    id: int
    name: str
    is_default: bool
    client: dict | None
    version: int
    sentences: list[str]
    steps: list[dict]
    repeat: int
    notify_after: int
    changed_by: str
    changed: When | None


def _row(policy: EscalationPolicy, labels: TargetLabels, pii: bool) -> PolicyRow:
    version = policy.current
    steps = [
        {
            "delay_minutes": s["delay_minutes"],
            "severities": s["severities"],
            "targets": [labels.label(t) for t in s["targets"]],
        }
        for s in version.steps
    ]
    return PolicyRow(
        id=policy.id,
        name=policy.name,
        is_default=policy.is_default,
        client=(
            {"id": policy.client.id, "code": policy.client.code, "name": policy.client.name}
            if policy.client_id
            else None
        ),
        version=version.number,
        sentences=[step_sentence(i, s) for i, s in enumerate(steps)],
        steps=steps,
        repeat=version.repeat,
        notify_after=version.notify_after_minutes,
        changed_by=_who(version.created_by, pii),
        changed=When.of(version.created_at, None),
    )


# --- the edit form -------------------------------------------------------------------------------


class PolicyFields(forms.Form):
    """The policy's own fields; the steps are parsed by `_posted_steps`."""

    name = forms.CharField(max_length=services.NAME_MAX, label="Name")
    repeat = forms.IntegerField(
        min_value=0,
        max_value=MAX_REPEAT,
        initial=0,
        label="Repeat the chain",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    notify_after_minutes = forms.IntegerField(
        min_value=0,
        max_value=NOTIFY_AFTER_MAX,
        initial=0,
        label="Notify only if still firing after (minutes)",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    client = forms.ChoiceField(label="Client", required=False)

    def __init__(self, *args, clients=None, **kwargs):
        super().__init__(*args, **kwargs)
        if clients is None:
            del self.fields["client"]
        else:
            self.fields["client"].required = True
            self.fields["client"].choices = [("", "Choose a client")] + [
                (str(c.id), f"{c.name} ({c.code})") for c in clients
            ]


@dataclass
class StepForm:
    """One step row as posted (strings), and the errors that belong to it."""

    delay: str = NEW_STEP_DELAY
    severities: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # "officer", "schedule:3", "user:7"
    errors: dict[str, list[str]] = field(default_factory=dict)  # delay/severities/targets/step
    people: list = field(default_factory=list)  # the person picker, the ticked ones first

    def add_error(self, where: str, text: str) -> None:
        self.errors.setdefault(where, []).append(text)


def _target_value(target: dict) -> str:
    return target["kind"] if "id" not in target else f"{target['kind']}:{target['id']}"


def _steps_of(steps: list[dict]) -> list[StepForm]:
    return [
        StepForm(
            delay=str(s["delay_minutes"]),
            severities=list(s.get("severities") or []),
            targets=[_target_value(t) for t in s["targets"]],
        )
        for s in steps
    ]


def _posted_steps(post) -> list[StepForm]:
    try:
        count = int(post.get("step_count", "0"))
    except ValueError:
        count = 0
    count = max(0, min(count, MAX_STEPS + 1))  # one too many, so the service can say so
    return [
        StepForm(
            delay=post.get(f"s{i}-delay", "").strip(),
            severities=post.getlist(f"s{i}-sev"),
            targets=post.getlist(f"s{i}-target"),
        )
        for i in range(count)
    ]


def _as_initial(post) -> dict:
    """The posted policy fields, shown again unchecked while steps are being rearranged."""
    return {name: post.get(name, "") for name in PolicyFields.base_fields}


def _apply_op(op: str, steps: list[StepForm]) -> str:
    """Add, remove or move a step in place; returns what happened (for the status line)."""
    match = OP.match(op)
    if not match:
        return ""
    verb, index = match.group(1), match.group(2)
    i = int(index) if index is not None else -1
    if verb == "add":
        if len(steps) >= MAX_STEPS:
            return f"A policy has at most {MAX_STEPS} steps."
        steps.append(StepForm())
        return f"Step {len(steps)} added: choose its targets, then save."
    if not 0 <= i < len(steps):
        return ""
    if verb == "remove":
        steps.pop(i)
        if not steps:
            steps.append(StepForm())
        return f"Step {i + 1} removed (not saved yet)."
    j = i - 1 if verb == "up" else i + 1
    if 0 <= j < len(steps):
        steps[i], steps[j] = steps[j], steps[i]
        return f"Step {i + 1} moved to position {j + 1} (not saved yet)."
    return ""


def _parse_target(value: str) -> dict | None:
    kind, sep, ident = value.partition(":")
    if not sep and kind in FIXED_TARGETS:
        return {"kind": kind}
    if sep and kind in TargetKind.WITH_ID and ident.isdigit() and len(ident) <= 19:
        return {"kind": kind, "id": int(ident)}
    return None


def _order_targets(targets: list[str]) -> list[str]:
    """The kinds in a fixed order (fixed ones first), each once, as the form shows them."""
    rank = {kind: n for n, kind in enumerate((*FIXED_TARGETS, *TargetKind.WITH_ID))}
    unique = list(dict.fromkeys(targets))
    return sorted(unique, key=lambda v: rank.get(v.partition(":")[0], len(rank)))


def _clean_steps(steps: list[StepForm]) -> list[dict] | None:
    """The steps as the service takes them, or None after marking what cannot be read."""
    out = []
    ok = True
    for step in steps:
        delay = None
        if not step.delay:
            step.add_error("delay", "Give a delay in whole minutes (0 for at once).")
        elif not step.delay.isdigit() or len(step.delay) > DELAY_DIGITS:
            step.add_error("delay", f"Whole minutes between 0 and {MAX_DELAY_MINUTES}.")
        else:
            delay = int(step.delay)
        targets = []
        for value in _order_targets(step.targets):
            target = _parse_target(value)
            if target is None:
                step.add_error("targets", "Unknown target: choose from the lists.")
            else:
                targets.append(target)
        if not step.targets:
            step.add_error("targets", "Give at least one target.")
        if step.errors:
            ok = False
            continue
        step.targets = [_target_value(t) for t in targets]
        out.append({"delay_minutes": delay, "severities": step.severities, "targets": targets})
    return out if ok else None


def _place_errors(exc: ValidationError, form: PolicyFields, steps: list[StepForm]) -> list[str]:
    """Put each error the service named next to its field; return those that have none."""
    loose = []
    for key, texts in exc.message_dict.items():
        match = STEP_KEY.match(key)
        if match and int(match.group(1)) < len(steps):
            step = steps[int(match.group(1))]
            part, target = match.group(2), match.group(3)
            where = {"delay_minutes": "delay", "severities": "severities"}.get(part, "targets")
            if part is None:
                where = "step"
            for text in texts:
                if target is not None:
                    value = step.targets[int(target)] if int(target) < len(step.targets) else ""
                    text = f"Target {int(target) + 1}{f' ({value})' if value else ''}: {text}"
                step.add_error(where, text)
            continue
        name = "client" if key == "client_id" else key
        if name in form.fields:
            for text in texts:
                form.add_error(name, text)
        else:
            loose += [f"{FIELD_LABELS.get(key, key)}: {t}" for t in texts]
    return loose


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


def _choices(user, pii: bool, steps: list[StepForm]) -> dict:
    """What a step can notify: the tenant's schedules, active people and channels (3 queries)."""
    tenant_id = user.tenant_id
    schedules = [
        Choice(f"schedule:{s.id}", s.name)
        for s in Schedule.objects.filter(tenant_id=tenant_id).only("id", "name")
    ]
    people = [
        Choice(f"user:{u.id}", _who(u, pii))
        for u in User.objects.filter(tenant_id=tenant_id, is_active=True)
        .only("id", "username", "first_name", "last_name")
        .order_by("first_name", "last_name", "username")
    ]
    channels = [
        Choice(f"channel:{c.id}", c.name if c.active else f"{c.name} (inactive)")
        for c in TeamChannel.objects.filter(tenant_id=tenant_id).only("id", "name", "active")
    ]
    known = {c.value for c in (*schedules, *people, *channels)}
    known.update(FIXED_TARGETS)
    # a target the policy names that is no longer offered (a deleted schedule, a person who
    # left) stays visible and ticked, so saving never drops it silently
    extra = {
        value
        for step in steps
        for value in step.targets
        if value not in known and _parse_target(value) is not None
    }
    for value in sorted(extra):
        kind, _, ident = value.partition(":")
        choice = Choice(value, f"{kind} #{ident} (no longer available)")
        {"schedule": schedules, "user": people, "channel": channels}[kind].append(choice)
    return {
        "fixed": [
            Choice(TargetKind.OFFICER, "The site's officer in charge"),
            Choice(TargetKind.CLIENT_OWNER, "The client's owner"),
        ],
        "schedules": schedules,
        "people": people,
        "channels": channels,
        "severities": SEVERITIES,
    }


def _open_clients(user):
    """Clients in the user's scope that have no policy of their own yet."""
    taken = EscalationPolicy.objects.filter(tenant_id=user.tenant_id, client__isnull=False).values(
        "client_id"
    )
    return list(
        visible_clients(user).exclude(id__in=taken).only("id", "code", "name").order_by("name")
    )


def _form_context(request, *, policy, form, steps, errors=(), status_line="") -> dict:
    user = request.user
    pii = has_capability(user, Capability.VIEW_PII)
    choices = _choices(user, pii, steps)
    for step in steps:
        # a long list scrolls in its box: who is ticked shows without scrolling
        step.people = sorted(choices["people"], key=lambda c: c.value not in step.targets)
    return {
        "nav": "escalation",
        "policy": policy,
        "form": form,
        "steps": steps,
        "step_count": len(steps),
        "max_steps": MAX_STEPS,
        "errors": list(errors),
        "status_line": status_line,
        "choices": choices,
        "can_view_pii": pii,
    }


def _all_errors(form: PolicyFields, steps: list[StepForm], loose: list[str]) -> list[dict]:
    """Every error as {text, href}: the list at the top links to the field (or step) it names."""
    out = []
    for name, texts in form.errors.items():
        label = form.fields[name].label if name in form.fields else FIELD_LABELS.get(name, name)
        href = f"#id_{name}" if name in form.fields else ""
        out += [{"text": f"{label}: {text}", "href": href} for text in texts]
    for i, step in enumerate(steps):
        for where, texts in step.errors.items():  # type: ignore[assignment]  # list[str]
            label = where if where in ("delay", "severities", "targets") else "step"
            href = f"#s{i}-delay" if where == "delay" else f"#step-{i + 1}"
            out += [{"text": f"Step {i + 1}, {label}: {t}", "href": href} for t in texts]
    return out + [{"text": text, "href": ""} for text in loose]


# --- views ---------------------------------------------------------------------------------------


def _view_denied(request):
    return forbidden(request, Capability.VIEW)


def _configure_denied(request):
    return forbidden(
        request, Capability.CONFIGURE, template="dashboard/_policy_denied.html", nav="escalation"
    )


@require_safe
@login_required
def policies(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return _view_denied(request)
    pii = has_capability(user, Capability.VIEW_PII)
    rows = list(
        policies_for(user)
        .filter(current__isnull=False)
        .select_related("client", "current", "current__created_by")
    )
    labels = TargetLabels(user.tenant_id, [p.current.steps for p in rows], pii)
    configure = has_capability(user, Capability.CONFIGURE)
    return render(
        request,
        "dashboard/policies.html",
        {
            "nav": "escalation",
            "rows": [_row(p, labels, pii) for p in rows],
            "configure": configure,
            "can_create": configure and bool(_open_clients(user)),
            "can_view_pii": pii,
        },
    )


@require_safe
@login_required
def policy_detail(request, policy_id: int):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return _view_denied(request)
    return render(request, "dashboard/policy_detail.html", _detail_context(request, policy_id))


def _detail_context(request, policy_id: int, *, error: str = "") -> dict:
    user = request.user
    pii = has_capability(user, Capability.VIEW_PII)
    policy = access_policy(user, policy_id)
    history = list(
        PolicyVersion.objects.filter(policy=policy)
        .select_related("created_by")
        .order_by("-number")[: VERSIONS_SHOWN + 1]
    )
    labels = TargetLabels(
        policy.tenant_id, [policy.current.steps, *(v.steps for v in history)], pii
    )
    versions = []
    for v in history[:VERSIONS_SHOWN]:
        steps = [{**s, "targets": [labels.label(t) for t in s["targets"]]} for s in v.steps or []]
        versions.append(
            {
                "number": v.number,
                "when": When.of(v.created_at, None),
                "who": _who(v.created_by, pii),
                "sentences": [step_sentence(i, s) for i, s in enumerate(steps)],
                "repeat": v.repeat,
                "notify_after": v.notify_after_minutes,
            }
        )
    return {
        "nav": "escalation",
        "row": _row(policy, labels, pii),
        "versions": versions,
        "more_versions": len(history) > VERSIONS_SHOWN,
        "configure": has_capability(user, Capability.CONFIGURE),
        "error": error,
        "can_view_pii": pii,
    }


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def policy_create(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return _view_denied(request)
    if not has_capability(user, Capability.CONFIGURE):
        return _configure_denied(request)
    clients = _open_clients(user)
    if request.method != "POST":
        form = PolicyFields(initial={"repeat": 0, "notify_after_minutes": 0}, clients=clients)
        steps = [StepForm(targets=[TargetKind.OFFICER])]
        return render(
            request,
            "dashboard/policy_form.html",
            _form_context(request, policy=None, form=form, steps=steps),
        )
    form = PolicyFields(request.POST, clients=clients)
    steps = _posted_steps(request.POST)
    op = request.POST.get("op", "save")
    if op != "save":
        status_line = _apply_op(op, steps)
        form = PolicyFields(initial=_as_initial(request.POST), clients=clients)
        context = _form_context(
            request, policy=None, form=form, steps=steps, status_line=status_line
        )
        return render(request, "dashboard/policy_form.html", context)
    cleaned = _clean_steps(steps)
    loose: list[str] = []
    if form.is_valid() and cleaned is not None:
        client = next(c for c in clients if str(c.id) == form.cleaned_data["client"])
        try:
            policy = services.create_policy(
                user.tenant,
                actor=user,
                name=form.cleaned_data["name"],
                client=client,
                steps=cleaned,
                repeat=form.cleaned_data["repeat"],
                notify_after_minutes=form.cleaned_data["notify_after_minutes"],
            )
        except CapabilityDenied:
            return _configure_denied(request)
        except ValidationError as exc:
            loose = _place_errors(exc, form, steps)
        else:
            messages.success(request, f"Policy “{policy.name}” created (version 1).")
            return redirect("dashboard:policy", policy_id=policy.id)
    context = _form_context(
        request, policy=None, form=form, steps=steps, errors=_all_errors(form, steps, loose)
    )
    return render(request, "dashboard/policy_form.html", context, status=422)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def policy_edit(request, policy_id: int):
    """Scope first (404 for a policy the user cannot see), then the capability (403)."""
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return _view_denied(request)
    policy = access_policy(user, policy_id)
    if not has_capability(user, Capability.CONFIGURE):
        return _configure_denied(request)
    version = policy.current
    if request.method != "POST":
        form = PolicyFields(
            initial={
                "name": policy.name,
                "repeat": version.repeat,
                "notify_after_minutes": version.notify_after_minutes,
            }
        )
        steps = _steps_of(version.steps)
        return render(
            request,
            "dashboard/policy_form.html",
            _form_context(request, policy=policy, form=form, steps=steps),
        )
    form = PolicyFields(request.POST)
    steps = _posted_steps(request.POST)
    op = request.POST.get("op", "save")
    if op != "save":
        status_line = _apply_op(op, steps)
        form = PolicyFields(initial=_as_initial(request.POST))
        context = _form_context(
            request, policy=policy, form=form, steps=steps, status_line=status_line
        )
        return render(request, "dashboard/policy_form.html", context)
    cleaned = _clean_steps(steps)
    loose: list[str] = []
    if form.is_valid() and cleaned is not None:
        try:
            services.update_policy(
                policy,
                actor=user,
                name=form.cleaned_data["name"],
                steps=cleaned,
                repeat=form.cleaned_data["repeat"],
                notify_after_minutes=form.cleaned_data["notify_after_minutes"],
            )
        except CapabilityDenied:
            return _configure_denied(request)
        except ValidationError as exc:
            loose = _place_errors(exc, form, steps)
        else:
            policy = access_policy(user, policy_id)
            if policy.current_id != version.id:
                text = (
                    f"Saved as version {policy.current.number}: alerts that open from now on "
                    f"follow it; alerts already escalating keep version {version.number}."
                )
            else:
                text = "Saved. The steps did not change, so the version stays the same."
            messages.success(request, text)
            return redirect("dashboard:policy", policy_id=policy.id)
    context = _form_context(
        request, policy=policy, form=form, steps=steps, errors=_all_errors(form, steps, loose)
    )
    return render(request, "dashboard/policy_form.html", context, status=422)


@require_POST
@login_required
def policy_delete(request, policy_id: int):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return _view_denied(request)
    policy = access_policy(user, policy_id)
    if not has_capability(user, Capability.CONFIGURE):
        return _configure_denied(request)
    if request.POST.get("confirm") != "yes":
        context = _detail_context(
            request, policy_id, error="Tick the box to confirm you want to delete this policy."
        )
        return render(request, "dashboard/policy_detail.html", context, status=422)
    name = policy.name
    try:
        services.delete_policy(policy, actor=user)
    except CapabilityDenied:
        return _configure_denied(request)
    except services.PolicyInUse as exc:
        context = _detail_context(request, policy_id, error=str(exc))
        return render(request, "dashboard/policy_detail.html", context, status=409)
    except ValidationError as exc:
        text = " ".join(t for texts in exc.message_dict.values() for t in texts)
        context = _detail_context(request, policy_id, error=text)
        return render(request, "dashboard/policy_detail.html", context, status=409)
    messages.success(request, f"Policy “{name}” deleted; its client follows the default policy.")
    return redirect("dashboard:policies")
