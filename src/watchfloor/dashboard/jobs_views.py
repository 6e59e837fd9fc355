"""The jobs page (`/jobs/`): each periodic job of the schedule, when it last ran and how, stale
ones in red, and the latest failures. Needs `noc:configure`; error texts and the node that ran a
job are shown to platform superusers only (jobs work across tenants), like the jobs API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import has_capability
from watchfloor.dashboard.denied import forbidden
from watchfloor.jobs.queries import JobState, job_states, recent_failures

FAILURES_SHOWN = 20


def _utc(moment: datetime | None) -> str:
    """The moment in the person's zone (PersonTimeZoneMiddleware; UTC by default), labelled."""
    if moment is None:
        return ""
    mine = timezone.localtime(moment)
    return f"{mine:%Y-%m-%d %H:%M:%S} {mine.tzname()}"


def _every(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@dataclass(frozen=True)
class JobRow:
    name: str
    every: str
    stale_after: str
    stale: bool
    running: bool
    last_at: str
    last_outcome: str
    last_duration: str
    last_ok_at: str
    next_at: str
    failures: int
    error: str

    @classmethod
    def of(cls, state: JobState, full: bool) -> JobRow:
        last = state.last_run
        return cls(
            name=state.name,
            every=_every(state.job.every.total_seconds()),
            stale_after=_every(state.job.stale_period.total_seconds()),
            stale=state.stale,
            running=state.running,
            last_at=_utc(last.started_at) if last else "",
            last_outcome=last.outcome if last else "",
            last_duration=(
                f"{last.duration_ms:.0f} ms" if last and last.duration_ms is not None else ""
            ),
            last_ok_at=_utc(state.last_ok_at),
            next_at=_utc(state.next_expected_at),
            failures=state.failures,
            error=(last.error if full and last else ""),
        )


@require_safe
@login_required
def jobs_page(request):
    user = request.user
    if not has_capability(user, Capability.CONFIGURE):
        return forbidden(request, Capability.CONFIGURE)
    full = user.is_superuser
    rows = [JobRow.of(state, full) for state in job_states()]
    failures = [
        {
            "job": run.job,
            "at": _utc(run.started_at),
            "duration": f"{run.duration_ms:.0f} ms" if run.duration_ms is not None else "",
            "error": run.error if full else "",
            "node": run.node if full else "",
        }
        for run in recent_failures(FAILURES_SHOWN)
    ]
    context = {
        "nav": "jobs",
        "rows": rows,
        "stale": [r.name for r in rows if r.stale],
        "failures": failures,
        "full": full,
        "now": _utc(timezone.now()),
    }
    return render(request, "dashboard/jobs.html", context)
