"""The pub/sub message a node publishes decodes to what `json.dumps(default=str)` wrote: the
other nodes' pages see the same values whichever encoder the publisher used."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from watchfloor.alerts.models import Severity
from watchfloor.realtime.hub import encode_events


@dataclass
class Opaque:
    name: str


def test_published_events_decode_as_json_wrote_them():
    batch = [
        {
            "type": "alert.updated",
            "tenant_id": 7,
            "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "severity": Severity.CRITICAL,
            "at": datetime(2026, 12, 5, 7, 0, 1, 500, tzinfo=UTC),
            "ratio": Decimal("0.25"),
            "by_site": {3: 1, 4: 2},
            "labels": {"site": "são-paulo", "emoji": "🚨"},
            "place": ("city", None, True, 1.5),
            "other": Opaque("x"),
        }
    ]
    assert json.loads(encode_events(batch)) == json.loads(json.dumps(batch, default=str))
