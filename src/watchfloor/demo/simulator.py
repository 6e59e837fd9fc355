"""Live alert traffic for `watchfloor demo`, sent through the real ingestion HTTP API.

`watchfloor demo` starts it (unless `--no-simulate`) in a daemon thread just before it serves;
`watchfloor serve` never does. The thread waits until `/api/health/` answers, then keeps the
screen alive the way a real estate would, one request every 2–5 seconds:

- a trickle of new alerts of mixed types and severities at random demo sites, sent as native
  JSON batches (`POST /api/v1/integrations/native`), Alertmanager webhook notifications
  (`POST /api/v1/integrations/alertmanager`) and PagerDuty Events v2 (`POST /v2/enqueue`);
- repeats of alerts it opened (same fingerprint: the occurrence count goes up);
- resolves of its older alerts, more of them the more are open, so the open count stays level;
- every few minutes a storm: one type across many sites of one client, in one Alertmanager
  notification, resolved together a minute or two later;
- every ten minutes or so a maintenance window at one site, created through the API
  (`POST /api/v1/maintenance-windows`), lasting a few minutes while alerts keep arriving for
  that site (stored as SUPPRESSED, counted, never lost).

Credentials: at start it issues three integration keys (native, alertmanager, pagerduty) and an
API token for the demo admin, all named "demo simulator", through `watchfloor.access.services`
(audited like any other), after revoking the ones an earlier run left; it revokes its own when
the demo stops. They are never printed or logged. The site and alert-type vocabulary is the
demo's own (`watchfloor.demo.alerts`).

`Simulator.step()` sends one request and says what it did (tests call it against a live
server); `Simulator.run(stop_event)` is the loop. A seed makes the sequence reproducible.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from watchfloor.access.models import ApiToken, IntegrationKey, SourceKind
from watchfloor.access.services import (
    create_api_token,
    create_integration_key,
    revoke_api_token,
    revoke_integration_key,
)
from watchfloor.alerts.integrations.alertmanager import label_set_fingerprint
from watchfloor.alerts.models import Severity
from watchfloor.demo.alerts import FIELD_TYPES, MONITORING
from watchfloor.demo.feeds import FieldFeeds
from watchfloor.tenancy.models import Site, Tenant, User

log = logging.getLogger(__name__)

NAME = "demo simulator"
HEALTH = "/api/health/"
NATIVE = "/api/v1/integrations/native"
ALERTMANAGER = "/api/v1/integrations/alertmanager"
PAGERDUTY = "/v2/enqueue"
WINDOWS = "/api/v1/maintenance-windows"

# PagerDuty has four severities; LOW has none of its own and goes as `info`.
_PD_SEVERITY = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "info",
    Severity.INFO: "info",
}
_STORM = ("NodeDown", "critical", "Site gateway unreachable")

# (method, path, JSON body or None, headers) -> (HTTP status, decoded JSON answer or None)
HttpFn = Callable[[str, str, Any, dict[str, str]], tuple[int, Any]]


# --- credentials ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """The secrets the simulator sends; `repr` shows none of them."""

    native: str = field(repr=False)
    alertmanager: str = field(repr=False)
    pagerduty: str = field(repr=False)
    api_token: str = field(repr=False)
    operations: str = field(default="", repr=False)  # the field-record feeds (none: not sent)


def _revoke_own(tenant: Tenant, admin: User) -> int:
    keys = IntegrationKey.objects.usable().filter(tenant=tenant, name=NAME)
    tokens = ApiToken.objects.usable().filter(user=admin, name=NAME).select_related("user")
    revoked = 0
    for key in keys:
        revoke_integration_key(key, actor=admin)
        revoked += 1
    for token in tokens:
        revoke_api_token(token, actor=admin)
        revoked += 1
    return revoked


def issue_credentials(tenant: Tenant, admin: User) -> Credentials:
    """Fresh keys and token named "demo simulator" (earlier ones revoked first)."""
    _revoke_own(tenant, admin)
    plain = {
        source: create_integration_key(tenant, actor=admin, name=NAME, source=source).plain
        for source in (
            SourceKind.NATIVE,
            SourceKind.ALERTMANAGER,
            SourceKind.PAGERDUTY,
            SourceKind.OPERATIONS,
        )
    }
    token = create_api_token(admin, name=NAME).plain
    return Credentials(
        native=plain[SourceKind.NATIVE],
        alertmanager=plain[SourceKind.ALERTMANAGER],
        pagerduty=plain[SourceKind.PAGERDUTY],
        api_token=token,
        operations=plain[SourceKind.OPERATIONS],
    )


def revoke_credentials(tenant: Tenant, admin: User) -> int:
    """Revoke every usable key and token named "demo simulator"; how many were."""
    return _revoke_own(tenant, admin)


# --- the estate it talks about --------------------------------------------------------------


@dataclass(frozen=True)
class SimSite:
    id: int
    code: str
    client_id: int
    client_code: str
    latitude: float | None = None
    longitude: float | None = None


def load_sites(tenant: Tenant) -> list[SimSite]:
    rows = (
        Site.objects.for_tenant(tenant)
        .filter(active=True, client__active=True)
        .order_by("id")
        .values_list("id", "code", "client_id", "client__code", "latitude", "longitude")
    )
    return [SimSite(*row) for row in rows]


# --- what it sends --------------------------------------------------------------------------


@dataclass
class SimAlert:
    """One alert the simulator opened: enough to repeat or resolve it through its source."""

    source: str  # "native", "alertmanager", "pagerduty"
    key: str  # dedup_key (native, pagerduty) or fingerprint (alertmanager)
    site: SimSite
    type: str
    severity: Severity | str  # Watchfloor severity, or the Prometheus label for alertmanager
    title: str
    entity: str
    started: str


@dataclass(frozen=True)
class Schedule:
    """When the scheduled parts happen, in seconds of simulated time (the sum of the pauses)."""

    pause: tuple[float, float] = (2.0, 5.0)  # between two requests
    open_target: int = 30  # about this many of its alerts stay open
    first_burst: float = 45
    burst_every: tuple[float, float] = (150, 240)
    burst_sites: tuple[int, int] = (4, 12)
    storm_clears_after: tuple[float, float] = (60, 120)
    first_window: float = 90
    window_every: float = 600
    window_minutes: tuple[int, int] = (3, 5)
    window_share: float = 0.35  # of the trickle that goes to the site under maintenance
    repeat_share: float = 0.25  # of the rest that repeats an open alert
    # a batch of field records (tickets, devices, attendance, …) through the operations feeds
    first_feed: float = 20
    feed_every: float = 25


_INTENT = {
    "new": "created",
    "repeat": "deduplicated",
    "resolve": "resolved",
    "burst": "created",
    "storm_clear": "resolved",
}


@dataclass
class StepReport:
    action: str  # new, repeat, resolve, burst, storm_clear, maintenance, feed, error
    source: str
    status: int
    events: int
    counts: dict[str, int] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class Simulator:
    def __init__(
        self,
        *,
        http: HttpFn,
        credentials: Credentials,
        sites: list[SimSite],
        seed: int | None = None,
        schedule: Schedule | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not sites:
            raise ValueError("The simulator needs at least one site.")
        self.http = http
        self.credentials = credentials
        self.sites = sites
        self.schedule = schedule or Schedule()
        self.rng = random.Random(seed)
        self.clock = clock
        self.run_tag = f"{self.rng.getrandbits(24):06x}"  # keeps runs' identities apart
        self.sim_time = 0.0
        self._pause = 0.0
        self.serial = 0
        self.open: dict[str, SimAlert] = {}  # key → alert, in the order they opened
        self.storms: list[tuple[float, list[SimAlert]]] = []  # (clear at, alerts)
        self.next_burst = self.schedule.first_burst
        self.next_window = self.schedule.first_window
        self.next_feed = self.schedule.first_feed
        # its own random sequence, so the alert traffic of a seed does not depend on it
        self.feeds = FieldFeeds(random.Random(f"feeds-{seed}"), sites, self.run_tag)
        self.window: tuple[SimSite, float] | None = None  # (site, until) while one is on
        self.totals: Counter[str] = Counter()
        self.minute: Counter[str] = Counter()
        by_client: dict[int, list[SimSite]] = {}
        for site in sites:
            by_client.setdefault(site.client_id, []).append(site)
        self.by_client = by_client

    # --- the loop -------------------------------------------------------------------------

    def run(self, stop_event: threading.Event) -> None:
        """Step until `stop_event` is set, pausing 2–5 s between requests; one log line a
        minute with what was sent."""
        last_log = self.clock()
        while not stop_event.is_set():
            report = self.step()
            if report.action == "error" and self.minute["errors"] == 1:
                log.warning(
                    "demo simulator: %s %s answered %s; carrying on",
                    report.source,
                    report.action,
                    report.status or "no connection",
                )
            if self.clock() - last_log >= 60:
                log.info("demo simulator: %s", self.minute_summary())
                self.minute.clear()
                last_log = self.clock()
            stop_event.wait(self._pause)

    def minute_summary(self) -> str:
        m = self.minute
        return (
            f"requests {m['requests']}, events {m['events']} (created {m['created']}, "
            f"repeated {m['deduplicated']}, resolved {m['resolved']}, suppressed "
            f"{m['suppressed']}), storms {m['bursts']}, maintenance windows {m['windows']}, "
            f"field records {m['feed_records']}, errors {m['errors']}; "
            f"its open alerts {len(self.open)}"
        )

    # --- one step -------------------------------------------------------------------------

    def step(self) -> StepReport:
        """Send one request (a scheduled storm, storm end or window when one is due, otherwise
        one trickle event) and advance the simulated clock by one pause."""
        self._pause = self.rng.uniform(*self.schedule.pause)
        self.sim_time += self._pause
        if self.window and self.sim_time >= self.window[1]:
            self.window = None
        if self.storms and self.sim_time >= self.storms[0][0]:
            report = self._clear_storm(self.storms.pop(0)[1])
        elif self.sim_time >= self.next_window:
            self.next_window = self.sim_time + self.schedule.window_every
            report = self._maintenance()
        elif self.credentials.operations and self.sim_time >= self.next_feed:
            self.next_feed = self.sim_time + self.schedule.feed_every
            report = self._feed()
        elif self.sim_time >= self.next_burst:
            self.next_burst = self.sim_time + self.rng.uniform(*self.schedule.burst_every)
            report = self._burst()
        else:
            report = self._trickle()
        for counter in (self.totals, self.minute):
            counter["requests"] += 1
            counter["events"] += report.events
            counter.update(report.counts)
            if report.action == "error":
                counter["errors"] += 1
        return report

    def _trickle(self) -> StepReport:
        s = self.schedule
        if self.window and self.rng.random() < s.window_share:
            report = self._new(site=self.window[0])
            if report.action != "error":  # its window hides it: stored suppressed
                report.counts = {"suppressed": report.events}
            return report
        if self.open and self.rng.random() < s.repeat_share:
            return self._repeat(self.rng.choice(list(self.open.values())))
        pressure = len(self.open) / (2 * s.open_target)
        if self.open and self.rng.random() < min(0.95, pressure):
            oldest = list(self.open.values())[: max(1, len(self.open) // 3)]
            return self._resolve(self.rng.choice(oldest))
        return self._new()

    # --- actions --------------------------------------------------------------------------

    def _next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def _new(self, site: SimSite | None = None) -> StepReport:
        site = site or self.rng.choice(self.sites)
        n = self._next_serial()
        source = self.rng.choices(("native", "alertmanager", "pagerduty"), (5, 3, 2))[0]
        started = _iso(_now())
        if source == "alertmanager":
            name, severity, title = self.rng.choice(MONITORING)
            entity = f"{site.code}-gw-{n}"
            alert = SimAlert(source, "", site, name, severity, title, entity, started)
            alert.key = label_set_fingerprint(self._labels(alert))
        else:
            kind, severity, title = self.rng.choice(FIELD_TYPES)
            entity = f"{site.code}-{n % 7 + 1}"
            key = f"sim-{self.run_tag}-{n}"
            alert = SimAlert(
                source, key, site, str(kind), severity, title.format(n=n % 7 + 1), entity, started
            )
        report = self._send(alert, resolve=False, action="new")
        if report.action != "error":
            self.open[alert.key] = alert
        return report

    def _repeat(self, alert: SimAlert) -> StepReport:
        return self._send(alert, resolve=False, action="repeat")

    def _resolve(self, alert: SimAlert) -> StepReport:
        report = self._send(alert, resolve=True, action="resolve")
        if report.action != "error":
            self.open.pop(alert.key, None)
        return report

    def _burst(self) -> StepReport:
        """A storm: one monitoring alert across many sites of one client, one notification."""
        clients = list(self.by_client.values())
        client_sites = self.rng.choice([s for s in clients if len(s) >= 3] or clients)
        low, high = self.schedule.burst_sites
        count = min(len(client_sites), self.rng.randint(low, high))
        sites = self.rng.sample(client_sites, count)
        name, severity, title = _STORM
        started = _iso(_now())
        storm = []
        for site in sites:
            alert = SimAlert(
                "alertmanager", "", site, name, severity, title, f"{site.code}-gw-1", started
            )
            alert.key = label_set_fingerprint(self._labels(alert))
            storm.append(alert)
        report = self._alertmanager(storm, resolve=False, action="burst")
        if report.action != "error":
            clear_at = self.sim_time + self.rng.uniform(*self.schedule.storm_clears_after)
            self.storms.append((clear_at, storm))
            self.storms.sort(key=lambda item: item[0])
            report.counts["bursts"] = 1
        return report

    def _clear_storm(self, storm: list[SimAlert]) -> StepReport:
        return self._alertmanager(storm, resolve=True, action="storm_clear")

    def _maintenance(self) -> StepReport:
        site = self.rng.choice(self.sites)
        minutes = self.rng.randint(*self.schedule.window_minutes)
        now = _now()
        body = {
            "client_id": site.client_id,
            "site_id": site.id,
            "title": f"Demo: equipment swap at {site.code}",
            "reason": "Simulated planned work; alerts from the site are kept as suppressed.",
            "kind": "PLANNED",
            "starts_at": _iso(now),
            "ends_at": _iso(now + timedelta(minutes=minutes)),
        }
        status, _answer = self._call(
            "POST", WINDOWS, body, {"Authorization": f"Bearer {self.credentials.api_token}"}
        )
        if status == 201:
            self.window = (site, self.sim_time + minutes * 60)
            return StepReport("maintenance", "api", status, 0, {"windows": 1})
        return StepReport("error", "api", status, 0)

    def _feed(self) -> StepReport:
        """One batch of field records through the operations feed API."""
        kind, path, records = self.feeds.next_batch()
        status, answer = self._call(
            "POST",
            path,
            {"records": records},
            {"Authorization": f"Bearer {self.credentials.operations}"},
        )
        if status != 200 or not isinstance(answer, dict):
            return StepReport("error", "operations", status, len(records))
        counts = {"feed_records": len(records), f"feed_{kind}": len(records)}
        return StepReport("feed", "operations", status, 0, counts)

    # --- payloads -------------------------------------------------------------------------

    @staticmethod
    def _labels(alert: SimAlert) -> dict[str, str]:
        return {
            "alertname": alert.type,
            "severity": str(alert.severity),
            "client": alert.site.client_code,
            "site": alert.site.code,
            "instance": alert.entity,
        }

    def _send(self, alert: SimAlert, *, resolve: bool, action: str) -> StepReport:
        if alert.source == "native":
            return self._native(alert, resolve=resolve, action=action)
        if alert.source == "alertmanager":
            return self._alertmanager([alert], resolve=resolve, action=action)
        return self._pagerduty(alert, resolve=resolve, action=action)

    def _native(self, alert: SimAlert, *, resolve: bool, action: str) -> StepReport:
        event: dict[str, Any] = {
            "type": alert.type,
            "status": "resolved" if resolve else "firing",
            "dedup_key": alert.key,
            "client": alert.site.client_code,
            "site": alert.site.code,
            "entity_type": "device" if alert.type == "DEVICE_OFFLINE" else "post",
            "entity_id": alert.entity,
            "labels": {"generator": "demo-simulator"},
        }
        if not resolve:
            event |= {"severity": str(alert.severity), "title": alert.title}
        status, answer = self._call(
            "POST", NATIVE, [event], {"Authorization": f"Bearer {self.credentials.native}"}
        )
        return self._report(action, "native", status, 1, answer, expect=202)

    def _alertmanager(self, alerts: list[SimAlert], *, resolve: bool, action: str) -> StepReport:
        now = _iso(_now())
        items = [
            {
                "status": "resolved" if resolve else "firing",
                "labels": self._labels(a),
                "annotations": {
                    "summary": a.title,
                    "description": f"{a.title} ({a.site.code}, {a.entity}).",
                },
                "startsAt": a.started,
                "endsAt": now if resolve else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.demo.invalid/graph",
                "fingerprint": a.key,
            }
            for a in alerts
        ]
        body = {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{alerts[0].type}"}}',
            "truncatedAlerts": 0,
            "status": "resolved" if resolve else "firing",
            "receiver": "watchfloor",
            "groupLabels": {"alertname": alerts[0].type},
            "commonLabels": {"alertname": alerts[0].type},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.demo.invalid",
            "alerts": items,
        }
        status, answer = self._call(
            "POST",
            ALERTMANAGER,
            body,
            {"Authorization": f"Bearer {self.credentials.alertmanager}"},
        )
        return self._report(action, "alertmanager", status, len(items), answer, expect=200)

    def _pagerduty(self, alert: SimAlert, *, resolve: bool, action: str) -> StepReport:
        body: dict[str, Any] = {
            "routing_key": self.credentials.pagerduty,
            "event_action": "resolve" if resolve else "trigger",
            "dedup_key": alert.key,
        }
        if not resolve:
            body["payload"] = {
                "summary": alert.title,
                "source": alert.entity,
                "severity": _PD_SEVERITY[Severity(alert.severity)],
                "class": alert.type,
                "component": "field-ops",
                "timestamp": alert.started,
                "custom_details": {"client": alert.site.client_code, "site": alert.site.code},
            }
            body["client"] = "Demo field monitor"
        status, answer = self._call("POST", PAGERDUTY, body, {})
        return self._report(action, "pagerduty", status, 1, answer, expect=202)

    # --- transport ------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any, headers: dict[str, str]):
        try:
            return self.http(method, path, body, headers)
        except OSError:
            return 0, None

    @staticmethod
    def _report(action, source, status, events, answer, *, expect) -> StepReport:
        if status != expect:
            return StepReport("error", source, status, events)
        # A 2xx means the events are staged (the fold decides their outcome after the answer),
        # so the tally counts what was asked: a new key opens an alert, a known one repeats it,
        # a resolve closes it (a new alert at a site under the simulator's own window is
        # counted suppressed by `_trickle`).
        intent = _INTENT.get(action)
        return StepReport(action, source, status, events, {intent: events} if intent else {})


# --- HTTP -----------------------------------------------------------------------------------


def urllib_http(base_url: str, *, timeout: float = 10.0) -> HttpFn:
    """An `HttpFn` over urllib: JSON in and out, any HTTP status returned rather than raised."""

    def send(method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (a loopback http URL we build)
            base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "User-Agent": NAME, **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    return send


def wait_for_server(http: HttpFn, stop_event: threading.Event, *, interval: float = 0.5) -> bool:
    """Poll `/api/health/` until it answers 200 (True) or `stop_event` is set (False)."""
    while not stop_event.is_set():
        try:
            status, _ = http("GET", HEALTH, None, {})
        except OSError:
            status = 0
        if status == 200:
            return True
        stop_event.wait(interval)
    return False


def loopback_url(host: str, port: int) -> str:
    """Where this machine reaches the server it is about to start."""
    if host in ("::", "::1"):
        return f"http://[::1]:{port}"
    if host in ("", "0.0.0.0", "localhost", "127.0.0.1"):  # noqa: S104 (not binding)
        return f"http://127.0.0.1:{port}"
    return f"http://{host}:{port}"


# --- the demo's handle ----------------------------------------------------------------------


class Running:
    """A started simulator thread; `stop()` ends it and revokes its credentials."""

    def __init__(self, thread: threading.Thread, stop_event: threading.Event, tenant, admin):
        self.thread, self.stop_event = thread, stop_event
        self.tenant, self.admin = tenant, admin

    def stop(self, *, timeout: float = 5.0) -> None:
        self.stop_event.set()
        self.thread.join(timeout)
        revoke_credentials(self.tenant, self.admin)


def _body(simulator: Simulator, http: HttpFn, stop_event: threading.Event) -> None:
    if not wait_for_server(http, stop_event):
        return
    log.info("demo simulator: the server answers; sending alert traffic")
    try:
        simulator.run(stop_event)
    except Exception:  # the demo keeps serving if the simulator breaks
        log.exception("demo simulator stopped")


def start(
    *,
    host: str,
    port: int,
    tenant_slug: str,
    seed: int | None = None,
    schedule: Schedule | None = None,
) -> Running | None:
    """Issue the credentials and start the daemon thread (it waits for the server to answer).
    None, with a log line, when the tenant has no admin or no site to simulate."""
    tenant = Tenant.objects.filter(slug=tenant_slug).first()
    admin = (
        User.objects.filter(tenant=tenant, is_active=True, groups__name="admin")
        .order_by("id")
        .first()
        if tenant
        else None
    )
    sites = load_sites(tenant) if tenant else []
    if tenant is None or admin is None or not sites:
        log.warning("demo simulator: no admin or no site in tenant %r; not started", tenant_slug)
        return None
    credentials = issue_credentials(tenant, admin)
    http = urllib_http(loopback_url(host, port))
    simulator = Simulator(
        http=http, credentials=credentials, sites=sites, seed=seed, schedule=schedule
    )
    stop_event = threading.Event()
    thread = threading.Thread(
        target=_body, args=(simulator, http, stop_event), name=NAME, daemon=True
    )
    thread.start()
    return Running(thread, stop_event, tenant, admin)
