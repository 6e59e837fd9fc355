"""What one WebSocket connection has yet to send: events coalesced per alert.

During a burst the pipeline may change the same alert many times, and a storm may touch
thousands of alerts; a browser only needs each alert's latest state. The outbox keeps one entry
per alert (its latest row, under the most telling event type) and hands out at most `limit`
entries per update, newest first, saying how many it left out so the page can resync instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

# When an alert had several events since the last update, the one sent is the most telling:
# created-then-updated is still "created"; anything-then-resolved is "resolved".
RANK = {"alert.updated": 0, "alert.created": 1, "alert.resolved": 2}


@dataclass
class Update:
    events: list[dict]
    texts: list[str]  # each event as JSON, in the same order
    truncated: int  # alerts whose change was left out of this update

    def message(self) -> str:
        """The `events` message, assembled from JSON each event was encoded to once (shared by
        every connection that received the same event) instead of encoding per connection."""
        events = ",".join(self.texts)
        return f'{{"type":"events","events":[{events}],"truncated":{int(self.truncated)}}}'


Entry = tuple[dict, str]  # an event and its JSON


def encode(event: dict) -> str:
    return json.dumps(event, separators=(",", ":"), default=str)


@dataclass
class Outbox:
    alerts: dict[int, Entry] = field(default_factory=dict)  # alert id -> entry, arrival order
    others: list[Entry] = field(default_factory=list)  # maintenance and other events, in order

    def __len__(self) -> int:
        return len(self.alerts) + len(self.others)

    def add(self, event: dict, text: str | None = None) -> None:
        """Keep `event` (`text` is its JSON, when the caller already has it)."""
        alert = event.get("alert")
        if alert is None:
            self.others.append((event, text or encode(event)))
            return
        key = alert["id"]
        previous = self.alerts.pop(key, None)
        if previous is not None and RANK[previous[0]["type"]] > RANK[event["type"]]:
            event, text = {**event, "type": previous[0]["type"]}, None
        # re-inserted: the dict stays in order of last change
        self.alerts[key] = (event, text or encode(event))

    def take(self, limit: int) -> Update:
        """Everything pending, at most `limit` alert events (the most recently changed)."""
        entries = list(self.alerts.values())
        truncated = max(0, len(entries) - limit)
        if truncated:
            entries = entries[truncated:]
        entries.reverse()  # newest first, as the feed shows them
        entries = [*self.others, *entries]
        self.alerts = {}
        self.others = []
        return Update(
            events=[e for e, _ in entries], texts=[t for _, t in entries], truncated=truncated
        )
