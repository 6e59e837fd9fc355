"""What one WebSocket connection has yet to send: events coalesced per alert.

During a burst the pipeline may change the same alert many times, and a storm may touch
thousands of alerts; a browser only needs each alert's latest state. The outbox hands out one
entry per alert (its latest row, under the most telling event type), at most `limit` per update,
saying how many it left out so the page can re-read its feed instead: first the alerts that
opened or resolved, newest first, then the other changes, newest first. Under a flood of repeats
(every repeat moves an alert's counters) a new alert is never crowded out by counter bumps: with
the newest changes first, a new alert's update lost to them, and the page's re-read waits for
the flood to calm (bench/live_under_load.py).

Events arrive in chunks (what one dispatch gave one group of identical viewers, see
`realtime.viewer`), filtered once per group and shared by reference: adding is O(1) per
connection, and the coalescing work at `take()` is bounded by `limit`, not by the storm's size.
An alert event is masked and encoded for the group only when an update takes it, once for every
connection of the group (`Chunk.shown`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

# When an alert had several events since the last update, the one sent is the most telling:
# created-then-updated is still "created"; anything-then-resolved is "resolved".
RANK = {"alert.updated": 0, "alert.created": 1, "alert.resolved": 2}
TYPE_OF_RANK = {rank: kind for kind, rank in RANK.items()}


def encode(event: dict) -> str:
    return json.dumps(event, separators=(",", ":"), default=str)


def as_is(event: dict) -> tuple[dict, str]:
    """An event shown as it is, with its JSON."""
    return event, encode(event)


# What a group of viewers is shown of an event, with its JSON (masking, then encoding).
Render = Callable[[dict], tuple[dict, str]]


@dataclass
class Chunk:
    """Events in arrival order; shared by the connections of one group, never changed once
    built but for the alert entries rendered so far.

    An alert event is rendered (masked for the group, encoded) only when an update takes it:
    a flood of repeats dispatches thousands of events a fold and an update sends at most
    `limit` of them, so rendering each on arrival cost a storm's dispatch ~100 ms of the event
    loop for events no page was sent (bench/profile_ws.py, docs/decisions.md). The other
    events (maintenance, incidents: few, never coalesced) are rendered on arrival."""

    alerts: list[tuple[dict, int]] = field(default_factory=list)  # event as dispatched, alert id
    others: list[tuple[dict, str]] = field(default_factory=list)  # shown, JSON
    ids: frozenset[int] = frozenset()
    ranks: dict[int, int] = field(default_factory=dict)  # alert id -> highest rank in chunk
    latest: dict[int, int] = field(default_factory=dict)  # alert id -> index of its last entry
    pivotal: tuple[int, ...] = ()  # alerts that opened or resolved here, newest first
    render: Render = as_is
    rendered: dict[int, tuple[dict, str]] = field(default_factory=dict)  # index -> shown, JSON

    @classmethod
    def of(cls, entries: list[tuple[dict, str | None]], render: Render = as_is) -> Chunk:
        """`entries` are (event, its JSON as shown, or None to render it when taken)."""
        chunk = cls(render=render)
        pivotal: list[int] = []
        for event, text in entries:
            alert = event.get("alert")
            if alert is None:
                chunk.others.append(render(event) if text is None else (event, text))
                continue
            key, rank = alert["id"], RANK[event["type"]]
            index = len(chunk.alerts)
            chunk.latest[key] = index
            chunk.alerts.append((event, key))
            if text is not None:
                chunk.rendered[index] = (event, text)
            if rank:
                pivotal.append(key)
            if rank > chunk.ranks.get(key, -1):
                chunk.ranks[key] = rank
        chunk.ids = frozenset(chunk.ranks)
        chunk.pivotal = tuple(dict.fromkeys(reversed(pivotal)))
        return chunk

    def shown(self, index: int) -> tuple[dict, str]:
        """The alert entry at `index` as the group sees it, with its JSON: rendered once, by
        the first update that takes it, for every connection holding this chunk."""
        done = self.rendered.get(index)
        if done is None:
            done = self.rendered[index] = self.render(self.alerts[index][0])
        return done

    def __len__(self) -> int:
        return len(self.alerts) + len(self.others)


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


@dataclass
class Outbox:
    chunks: list[Chunk] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)

    def add_chunk(self, chunk: Chunk) -> None:
        if len(chunk):
            self.chunks.append(chunk)

    def add(self, event: dict, text: str | None = None) -> None:
        """One event on its own (`text` is its JSON, when the caller already has it)."""
        self.add_chunk(Chunk.of([(event, text or encode(event))]))

    def take(self, limit: int) -> Update:
        """Everything pending, at most `limit` alert events: the alerts that opened or resolved
        first, then the most recently changed. Bounded by `limit` and the number of chunks."""
        chunks, self.chunks = self.chunks, []
        taken: list[tuple[Chunk, int]] = []  # (chunk, index of the alert entry)
        seen: set[int] = set()
        newest_first = chunks[::-1]
        for chunk in newest_first:
            for key in chunk.pivotal:
                if len(taken) >= limit:
                    break
                if key not in seen:
                    seen.add(key)
                    taken.append(_latest(newest_first, key))
            if len(taken) >= limit:
                break
        for chunk in newest_first:  # newest first: the first sight of an id is its latest
            alerts = chunk.alerts
            for index in range(len(alerts) - 1, -1, -1):
                if len(taken) >= limit:
                    break
                key = alerts[index][1]
                if key not in seen:
                    seen.add(key)
                    taken.append((chunk, index))
            if len(taken) >= limit:
                break
        truncated = len(frozenset().union(*(chunk.ids for chunk in chunks))) - len(taken)
        events, texts = [], []
        for chunk in chunks:
            for event, text in chunk.others:
                events.append(event)
                texts.append(text)
        for chunk, index in taken:
            event, text = chunk.shown(index)
            key = chunk.alerts[index][1]
            best = max(c.ranks.get(key, -1) for c in chunks)
            if best > RANK[event["type"]]:
                event = {**event, "type": TYPE_OF_RANK[best]}
                text = encode(event)
            events.append(event)
            texts.append(text)
        return Update(events=events, texts=texts, truncated=truncated)


def _latest(newest_first: list[Chunk], key: int) -> tuple[Chunk, int]:
    """The alert's latest entry: in the newest chunk that holds it."""
    for chunk in newest_first:
        index = chunk.latest.get(key)
        if index is not None:
            return chunk, index
    raise KeyError(key)
