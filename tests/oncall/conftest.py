"""Fixtures shared by the oncall tests (pytest finds fixtures imported into a conftest)."""

from support_alerts import key_for, publisher  # noqa: F401
from support_jobs import task_queue  # noqa: F401
