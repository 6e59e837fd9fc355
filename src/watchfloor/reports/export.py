"""The reports as CSV rows, section by section, for a streamed download.

`csv_rows` is a generator: each section's grouped query runs only when the writer reaches it,
and rows leave one by one, so the response never holds the file. Every cell that a spreadsheet
would run as a formula (= + - @, tab, carriage return first) is prefixed with a quote; the
officer in charge is masked for readers without `noc:view_pii` (by `queries.noisy_sites`,
through the one masking function).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from watchfloor.alerts.overview_queries import OverviewFilters
from watchfloor.reports import availability, queries
from watchfloor.reports.queries import ReportRange

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> object:
    """Text a spreadsheet would run as a formula starts with a quote instead; numbers stay."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def _when(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _blank(value: object) -> object:
    return "" if value is None else value


def _sections(user, f: OverviewFilters, r: ReportRange, now: datetime) -> Iterator[list]:
    yield ["report", "Watchfloor reports"]
    yield ["since", _when(r.since)]
    yield ["until", _when(r.until)]
    yield []
    times = queries.response_times(user, f, r, now=now)
    yield ["section", "measure", "by", "key", "count", "mean_seconds"]
    for measure in ("mtta", "mttr"):
        block = times[measure]
        overall = block["overall"]
        yield ["response_times", measure, "overall", "", overall["count"],
               _blank(overall["mean_seconds"])]  # fmt: skip
        for row in block["by_severity"]:
            yield ["response_times", measure, "severity", row["severity"], row["count"],
                   _blank(row["mean_seconds"])]  # fmt: skip
        for row in block["by_client"]:
            yield ["response_times", measure, "client", row["client"], row["count"],
                   _blank(row["mean_seconds"])]  # fmt: skip
    yield []
    freq = queries.frequency(user, f, r, now=now)
    yield ["section", "type", "alerts", "occurrences"]
    for row in freq["by_type"]:
        yield ["frequency", row["type"], row["alerts"], row["occurrences"]]
    yield []
    trend = freq["trend"]
    yield ["section", "day", "total", *(s["type"] for s in trend["series"])]
    for i, day in enumerate(trend["days"]):
        yield ["daily_trend", day, trend["total"][i], *(s["counts"][i] for s in trend["series"])]
    yield []
    sla = queries.sla_compliance(user, f, r, now=now)
    yield ["section", "severity", "ack_target_minutes", "resolve_target_minutes", "alerts",
           "ack_met", "ack_breached", "ack_pending", "ack_compliance_percent", "resolve_met",
           "resolve_breached", "resolve_pending", "resolve_compliance_percent"]  # fmt: skip
    for row in [*sla["by_severity"], {**sla["overall"], "severity": "ALL"}]:
        yield ["sla", row["severity"], row.get("ack_target_minutes", ""),
               row.get("resolve_target_minutes", ""), row["total"], row["ack_met"],
               row["ack_breached"], row["ack_pending"], _blank(row["ack_compliance_percent"]),
               row["resolve_met"], row["resolve_breached"], row["resolve_pending"],
               _blank(row["resolve_compliance_percent"])]  # fmt: skip
    yield []
    yield ["section", "site", "site_name", "client", "city", "state", "officer", "alerts",
           "occurrences", "suppressed_alerts", "suppressed_repeats"]  # fmt: skip
    for row in queries.noisy_sites(user, f, r, now=now):
        yield ["noisy_sites", row["site"], row["site_name"], row["client"], row["city"],
               row["state"], _blank(row["officer"]), row["alerts"], row["occurrences"],
               row["suppressed_alerts"], row["suppressed_repeats"]]  # fmt: skip
    yield from _availability_sections(user, f, r)


def _availability_sections(user, f: OverviewFilters, r: ReportRange) -> Iterator[list]:
    """Attendance and device availability from the KPI snapshots: overall, by client, the
    lowest sites, per UTC day."""
    found = availability.availability(user, f, r)
    att, dev = found["attendance"], found["devices"]
    att_cols = ["snapshots", "expected_mean", "present_mean", "late_mean", "missing_mean",
                "present_percent", "late_percent", "missing_percent"]  # fmt: skip
    dev_cols = ["snapshots", "total_mean", "offline_mean", "online_percent"]
    for name, block, cols in (("attendance", att, att_cols), ("devices", dev, dev_cols)):
        yield []
        yield ["section", "by", "key", "name", *cols]
        yield [name, "overall", "", "", *(_blank(block["overall"][c]) for c in cols)]
        for row in block["by_client"]:
            yield [name, "client", row["client"], row["client_name"],
                   *(_blank(row[c]) for c in cols)]  # fmt: skip
        for row in block["lowest_sites"]:
            yield [name, "site", row["site"], row["site_name"], *(_blank(row[c]) for c in cols)]
        for row in block["daily"]:
            yield [name, "day", row["day"], "", *(_blank(row[c]) for c in cols)]


def csv_rows(user, f: OverviewFilters, r: ReportRange, *, now: datetime) -> Iterator[list]:
    """Every section's rows, each cell guarded against formula injection."""
    for row in _sections(user, f, r, now):
        yield [csv_safe(cell) for cell in row]
