"""What one WebSocket connection has yet to send: events coalesced per alert.

During a burst the pipeline may change the same alert many times, and a storm may touch
thousands of alerts; a browser only needs each alert's latest state. The outbox keeps one entry
per alert (its latest row, under the most telling event type) and hands out at most `limit`
entries per update, newest first, saying how many it left out so the page can resync instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# When an alert had several events since the last update, the one sent is the most telling:
# created-then-updated is still "created"; anything-then-resolved is "resolved".
RANK = {"alert.updated": 0, "alert.created": 1, "alert.resolved": 2}


@dataclass
class Update:
    events: list[dict]
    truncated: int  # alerts whose change was left out of this update


@dataclass
class Outbox:
    alerts: dict[int, dict] = field(default_factory=dict)  # alert id -> event, in arrival order
    others: list[dict] = field(default_factory=list)  # maintenance and other events, in order

    def __len__(self) -> int:
        return len(self.alerts) + len(self.others)

    def add(self, event: dict) -> None:
        alert = event.get("alert")
        if alert is None:
            self.others.append(event)
            return
        key = alert["id"]
        previous = self.alerts.pop(key, None)
        if previous is not None and RANK[previous["type"]] > RANK[event["type"]]:
            event = {**event, "type": previous["type"]}
        self.alerts[key] = event  # re-inserted: the dict stays in order of last change

    def take(self, limit: int) -> Update:
        """Everything pending, at most `limit` alert events (the most recently changed)."""
        events = list(self.alerts.values())
        truncated = max(0, len(events) - limit)
        if truncated:
            events = events[truncated:]
        events.reverse()  # newest first, as the feed shows them
        update = Update(events=[*self.others, *events], truncated=truncated)
        self.alerts = {}
        self.others = []
        return update
