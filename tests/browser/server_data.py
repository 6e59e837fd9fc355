"""Data for the browser tests' server, written in a process of its own with the server's env.

Run by tests/browser/conftest.py, never collected by pytest:

- `python server_data.py seed`: the demo estate plus the accounts, tokens and integration key
  the tests use; prints one JSON object on its last line of stdout.
- `python server_data.py snapshot CLIENT`: field records (tickets, work orders, shifts, devices)
  at the client's first sites, then the KPI snapshot of the latest closed window (what the
  `snapshots.compute` job writes every 5 minutes); prints the window and the counts it put there.
- `python server_data.py ingest KEY`: reads a JSON list of native events on stdin and stores them
  through the real pipeline (`watchfloor.alerts.pipeline.ingest`) in this process, as the
  integration API would, but without the web server: used while the server is stopped, so the
  events are never broadcast and only a page's resync can show them. Prints the IngestResult.
"""

from __future__ import annotations

import json
import os
import secrets
import sys


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    import django

    django.setup()


def seed() -> dict:
    from django.contrib.auth.models import Group

    from watchfloor.access.services import assign_scope, create_api_token, create_integration_key
    from watchfloor.demo import data as demo_data
    from watchfloor.tenancy.models import Client, Site, User

    result = demo_data.load_demo()
    if result is None:
        raise SystemExit("the demo estate is already loaded: the server needs a fresh database")
    tenant = result.tenant
    accounts = {a.username: {"password": a.password, "role": a.role} for a in result.accounts}
    admin = User.objects.get(username="admin")

    clients = list(Client.objects.filter(tenant=tenant).order_by("code"))
    sites = {c.code: [] for c in clients}
    for code, client_code in Site.objects.filter(tenant=tenant).values_list("code", "client__code"):
        sites[client_code].append(code)
    for codes in sites.values():
        codes.sort()
    # the two clients the scope tests use: the two largest, so that each has sites to alert on
    own, other = sorted(clients, key=lambda c: (-len(sites[c.code]), c.code))[:2]

    def make_user(username: str, role: str, **scope) -> User:
        password = secrets.token_urlsafe(12)
        user = User.objects.create_user(
            username=username,
            password=password,
            tenant=tenant,
            email=f"{username}@browser.example.com",
            first_name=username.title(),
            last_name="Tester",
        )
        user.groups.add(Group.objects.get(name=role))
        if scope:
            assign_scope(user, actor=admin, **scope)
        accounts[username] = {"password": password, "role": role}
        return user

    # a viewer (no noc:ack_alerts) who sees every site of `own`
    make_user("bt-viewer", "viewer", sites=list(Site.objects.filter(client=own)))
    # an operator (noc:ack_alerts) scoped to the one client `own`
    make_user("bt-scoped", "operator", clients=[own])
    # a platform operator: staff without a tenant (the /platform/ pages)
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser("bt-platform", "platform@browser.example.com", password)
    accounts["bt-platform"] = {"password": password, "role": ""}

    tokens = {
        username: create_api_token(User.objects.get(username=username), name="browser tests").plain
        for username in ("admin", "supervisor", "bt-viewer", "bt-scoped")
    }
    key = create_integration_key(tenant, actor=admin, name="browser tests", source="native").plain
    return {
        "accounts": accounts,
        "tokens": tokens,
        "integration_key": key,
        "clients": {c.code: c.name for c in clients},
        "sites": sites,
        "site_count": result.counts["sites"],
        "own_client": own.code,
        "other_client": other.code,
    }


def ingest(key_plain: str, events: list[dict]) -> dict:
    from watchfloor.access.services import authenticate_integration_key
    from watchfloor.alerts.integrations.native import parse_native
    from watchfloor.alerts.pipeline import ingest as run_pipeline

    key = authenticate_integration_key(key_plain, source="native")
    if key is None:
        raise SystemExit("unknown integration key")
    return run_pipeline(parse_native(events), key=key).as_dict()


def alert_ids(key_plain: str, fingerprints: list[str], timeout: float = 20.0) -> dict:
    """{fingerprint: id} of the active alerts these fingerprints opened, once the server's fold
    worker has folded them (ingestion answers when a batch is staged, not folded)."""
    import time

    from watchfloor.access.services import authenticate_integration_key
    from watchfloor.alerts.models import Alert

    key = authenticate_integration_key(key_plain, source="native")
    if key is None:
        raise SystemExit("unknown integration key")
    wanted = set(fingerprints)
    deadline = time.monotonic() + timeout
    while True:
        found = dict(
            Alert.objects.active()
            .filter(tenant_id=key.tenant_id, fingerprint__in=wanted)
            .values_list("fingerprint", "id")
        )
        if set(found) == wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def snapshot(client_code: str) -> dict:
    from datetime import timedelta
    from itertools import count

    from django.utils import timezone

    from watchfloor.operations.models import AttendanceRecord, Device, Ticket, WorkOrder
    from watchfloor.snapshots import compute
    from watchfloor.tenancy.models import Site

    now = timezone.now()
    ids = count(1)
    stamp = now.strftime("%H%M%S%f")
    sites = list(Site.objects.filter(client__code=client_code).order_by("code")[:2])

    def common(site) -> dict:
        return {
            "tenant_id": site.tenant_id,
            "client_id": site.client_id,
            "site": site,
            "external_id": f"bt-{stamp}-{next(ids)}",
            "received_at": now,
            "created_at": now,
        }

    for site in sites:
        Ticket.objects.create(**common(site), title="Gate stuck", priority="P1", status="OPEN",
                              opened_at=now - timedelta(hours=6),
                              sla_due_at=now - timedelta(hours=1))  # fmt: skip
        Ticket.objects.create(**common(site), title="Light out", priority="P3", status="OPEN",
                              opened_at=now, sla_due_at=now + timedelta(hours=8))  # fmt: skip
        WorkOrder.objects.create(**common(site), title="Service panel", status="PENDING",
                                 deadline_at=now - timedelta(hours=2))  # fmt: skip
        for status in ("PRESENT", "LATE", "MISSING"):
            AttendanceRecord.objects.create(**common(site), person_ref=f"guard-{next(ids)}",
                                            shift_start=now - timedelta(hours=1),
                                            shift_end=now + timedelta(hours=7),
                                            status=status)  # fmt: skip
        for status in ("ONLINE", "OFFLINE"):
            Device.objects.create(**common(site), name="cam", device_type="camera", status=status,
                                  last_seen_at=now, last_sync_at=now)  # fmt: skip
    end = compute.latest_closed_window(now)
    compute.compute_window(end)
    return {"window_end": end.isoformat(), "sites": [s.code for s in sites]}


def main(argv: list[str]) -> None:
    _setup()
    if argv[:1] == ["seed"]:
        out = seed()
    elif argv[:1] == ["snapshot"] and len(argv) == 2:
        out = snapshot(argv[1])
    elif argv[:1] == ["ingest"] and len(argv) == 2:
        out = ingest(argv[1], json.load(sys.stdin))
    elif argv[:1] == ["alert-ids"] and len(argv) == 2:
        out = alert_ids(argv[1], json.load(sys.stdin))
    else:
        raise SystemExit(
            "usage: server_data.py seed | snapshot CLIENT | ingest KEY < events.json"
            " | alert-ids KEY < fingerprints.json"
        )
    sys.stdout.write("\n" + json.dumps(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
