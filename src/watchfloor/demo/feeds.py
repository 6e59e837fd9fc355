"""Field records for the demo: what an operations team's ticketing, work-order, device and
attendance systems would send, as batches for the operations feed API
(`POST /api/v1/operations/<kind>`, an `operations` integration key).

`FieldFeeds.next_batch()` gives the next (path, records) in a fixed rotation — tickets, devices,
attendance, work orders, geofence events — so a few minutes of the simulator show every kind:

- tickets with weighted priorities, opened up to 30 hours ago (so some pass their SLA:
  SLA_BREACH), some escalated, older ones resolved later;
- devices of a fixed fleet at a few sites that report in every round, except a few that fell
  silent (DEVICE_OFFLINE) and one that now and then reports from the other side of the country
  (DEVICE_SPOOF);
- shifts with mostly present guards, some late, a few missing (ATTENDANCE_MISSING);
- work orders with deadlines before and after now (WORK_ORDER_OVERDUE);
- geofence enters, exits and a breach now and then (GEOFENCE_BREACH).

Pure: no HTTP, no database; a seeded `random.Random` makes the sequence reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

PATH = "/api/v1/operations/"
ROTATION = ("tickets", "devices", "attendance", "work-orders", "geofence-events")

_TICKETS = (
    "Gate barrier stuck open",
    "CCTV camera blurred",
    "Access card reader failing",
    "Perimeter light out",
    "Alarm panel low battery",
    "Guard booth AC broken",
)
_WORK = ("Replace lock cylinder", "Service fire panel", "Trim fence line", "Re-aim camera")
_DEVICE_TYPES = ("camera", "panic_button", "guard_phone", "access_panel")
_GUARDS = (
    "Ana Souza",
    "Ravi Patel",
    "Chen Wei",
    "Maria Lopez",
    "John Okafor",
    "Elena Petrova",
    "Tom Becker",
    "Aisha Khan",
)


class Place(Protocol):
    code: str
    client_code: str


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@dataclass
class FieldFeeds:
    rng: random.Random
    sites: list[Any]  # SimSite: code, client_code, latitude, longitude
    run_tag: str
    turn: int = 0
    serial: int = 0
    open_tickets: dict[str, dict] = field(default_factory=dict)
    fleet: list[dict] = field(default_factory=list)

    def next_batch(self, now: datetime | None = None) -> tuple[str, str, list[dict]]:
        """(kind, path, records) of the next batch in the rotation."""
        now = now or datetime.now(UTC)
        kind = ROTATION[self.turn % len(ROTATION)]
        self.turn += 1
        make = {
            "tickets": self._tickets,
            "devices": self._devices,
            "attendance": self._attendance,
            "work-orders": self._work_orders,
            "geofence-events": self._geofence,
        }[kind]
        return kind, PATH + kind, make(now)

    def _id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.run_tag}-{self.serial}"

    def _site(self):
        return self.rng.choice(self.sites)

    def _tickets(self, now: datetime) -> list[dict]:
        records = []
        # close some of the older ones first, then open new ones
        for external_id in list(self.open_tickets)[: self.rng.randint(0, 2)]:
            ticket = self.open_tickets.pop(external_id)
            records.append(
                ticket
                | {"status": "RESOLVED", "resolved_at": _iso(now), "source_updated_at": _iso(now)}
            )
        for _ in range(self.rng.randint(3, 8)):
            site = self._site()
            opened = now - timedelta(minutes=self.rng.randint(5, 30 * 60))
            ticket = {
                "external_id": self._id("TCK"),
                "site": site.code,
                "title": self.rng.choice(_TICKETS),
                "category": "facilities",
                "priority": self.rng.choices(("P1", "P2", "P3", "P4"), (1, 3, 4, 2))[0],
                "status": self.rng.choice(("OPEN", "OPEN", "IN_PROGRESS")),
                "opened_at": _iso(opened),
                "escalation_level": 1 if self.rng.random() < 0.1 else 0,
                "assignee_name": self.rng.choice(_GUARDS),
                "source_updated_at": _iso(now),
            }
            self.open_tickets[ticket["external_id"]] = ticket
            records.append(ticket)
        return records

    def _devices(self, now: datetime) -> list[dict]:
        if not self.fleet:
            for site in self.sites[:6]:
                for device_type in _DEVICE_TYPES[: self.rng.randint(2, 4)]:
                    lat = site.latitude if site.latitude is not None else 30.27
                    lon = site.longitude if site.longitude is not None else -97.74
                    self.fleet.append(
                        {
                            "external_id": self._id("DEV"),
                            "site": site.code,
                            "name": f"{device_type.replace('_', ' ').title()} {site.code}",
                            "device_type": device_type,
                            "silent": self.rng.random() < 0.15,
                            "home": (lat, lon),
                        }
                    )
        records = []
        for device in self.fleet:
            lat, lon = device["home"]
            jump = device["device_type"] == "guard_phone" and self.rng.random() < 0.05
            if jump:  # a phone "reporting" from 2,000 km away minutes later: a spoof
                lat, lon = max(-90.0, min(90.0, lat + 18)), max(-180.0, min(180.0, lon + 12))
            seen = now - timedelta(minutes=45) if device["silent"] else now
            records.append(
                {
                    "external_id": device["external_id"],
                    "site": device["site"],
                    "name": device["name"],
                    "device_type": device["device_type"],
                    "status": "OFFLINE" if device["silent"] else "ONLINE",
                    "last_seen_at": _iso(seen),
                    "last_sync_at": _iso(seen),
                    "battery_percent": self.rng.randint(20, 100),
                    "latitude": round(lat + self.rng.uniform(-0.0005, 0.0005), 6),
                    "longitude": round(lon + self.rng.uniform(-0.0005, 0.0005), 6),
                    "located_at": _iso(seen),
                    "source_updated_at": _iso(seen),
                }
            )
        return records

    def _attendance(self, now: datetime) -> list[dict]:
        records = []
        start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        for _ in range(self.rng.randint(4, 10)):
            site = self._site()
            status = self.rng.choices(("PRESENT", "LATE", "MISSING", "EXPECTED"), (70, 15, 10, 5))[
                0
            ]
            person = self.rng.randrange(len(_GUARDS))
            checked_in = {
                "PRESENT": start - timedelta(minutes=self.rng.randint(0, 10)),
                "LATE": start + timedelta(minutes=self.rng.randint(16, 50)),
            }.get(status)
            records.append(
                {
                    "external_id": self._id("SHIFT"),
                    "site": site.code,
                    "person_ref": f"G-{person:03d}",
                    "person_name": _GUARDS[person],
                    "shift_start": _iso(start),
                    "shift_end": _iso(start + timedelta(hours=8)),
                    "status": status,
                    "checked_in_at": _iso(checked_in) if checked_in else None,
                }
            )
        return records

    def _work_orders(self, now: datetime) -> list[dict]:
        records = []
        for _ in range(self.rng.randint(2, 5)):
            site = self._site()
            deadline = now + timedelta(hours=self.rng.randint(-48, 72))
            records.append(
                {
                    "external_id": self._id("WO"),
                    "site": site.code,
                    "title": self.rng.choice(_WORK),
                    "category": "maintenance",
                    "priority": self.rng.choice(("P2", "P3", "P3", "P4")),
                    "status": self.rng.choice(("PENDING", "SCHEDULED", "IN_PROGRESS")),
                    "scheduled_for": _iso(deadline - timedelta(hours=4)),
                    "deadline_at": _iso(deadline),
                    "assignee_name": self.rng.choice(_GUARDS),
                }
            )
        return records

    def _geofence(self, now: datetime) -> list[dict]:
        records = []
        for _ in range(self.rng.randint(2, 6)):
            site = self._site()
            kind = self.rng.choices(("ENTER", "EXIT", "BREACH"), (5, 4, 1))[0]
            lat = site.latitude if site.latitude is not None else 30.27
            lon = site.longitude if site.longitude is not None else -97.74
            records.append(
                {
                    "external_id": self._id("GEO"),
                    "site": site.code,
                    "person_ref": f"G-{self.rng.randrange(len(_GUARDS)):03d}",
                    "kind": kind,
                    "occurred_at": _iso(now - timedelta(seconds=self.rng.randint(0, 120))),
                    "latitude": round(lat + self.rng.uniform(-0.01, 0.01), 6),
                    "longitude": round(lon + self.rng.uniform(-0.01, 0.01), 6),
                    "distance_m": self.rng.randint(80, 900) if kind == "BREACH" else None,
                }
            )
        return records
