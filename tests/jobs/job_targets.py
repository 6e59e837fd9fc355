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
