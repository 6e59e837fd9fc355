"""Targets of the test schedules (tests/jobs is on sys.path, so `job_targets.<name>`)."""

from __future__ import annotations

CALLS: list[str] = []


def ok() -> dict:
    CALLS.append("ok")
    return {"done": 3, "note": "text is dropped", "flag": True}


def number() -> int:
    CALLS.append("number")
    return 7


def boom() -> None:
    CALLS.append("boom")
    raise ValueError("boom " + "x" * 3000)


def wait_for_renewal() -> dict:
    """Runs until its lease was renewed eight times by the runtime (every third of the lease:
    the run lasts longer than its lease)."""
    import time

    from watchfloor.jobs.models import JobLease

    first = JobLease.objects.get(job="test.long").expires_at
    seen = {first}
    deadline = time.monotonic() + 15
    while len(seen) < 9:
        assert time.monotonic() < deadline, "the lease was never renewed"
        time.sleep(0.05)
        seen.add(JobLease.objects.get(job="test.long").expires_at)
    CALLS.append("long")
    return {"renewals": len(seen) - 1}
