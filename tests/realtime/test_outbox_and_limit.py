"""The pure parts of a connection: coalescing per alert, and the message rate limit."""

from __future__ import annotations

from watchfloor.realtime.outbox import Chunk, Outbox, encode
from watchfloor.realtime.ratelimit import SlidingWindowLimit
from watchfloor.realtime.viewer import mask_event


def alert_event(kind: str, alert_id: int, **row) -> dict:
    return {"type": kind, "tenant_id": 1, "alert": {"id": alert_id, **row}}


def test_one_entry_per_alert_with_its_latest_row_under_the_most_telling_type():
    box = Outbox()
    box.add(alert_event("alert.created", 1, status="NEW"))
    box.add(alert_event("alert.updated", 1, status="ACKNOWLEDGED"))
    box.add(alert_event("alert.updated", 2, status="NEW"))
    box.add(alert_event("alert.resolved", 2, status="RESOLVED"))
    box.add(alert_event("alert.updated", 2, status="RESOLVED"))
    update = box.take(10)
    assert update.truncated == 0
    assert [(e["type"], e["alert"]["id"], e["alert"]["status"]) for e in update.events] == [
        ("alert.resolved", 2, "RESOLVED"),  # newest change first
        ("alert.created", 1, "ACKNOWLEDGED"),
    ]
    assert len(box) == 0


def test_past_the_limit_the_oldest_changes_are_counted_not_sent():
    box = Outbox()
    for i in range(10):
        box.add(alert_event("alert.updated", i))
    box.add({"type": "maintenance.started", "tenant_id": 1, "window": {"id": 5}})
    box.add(alert_event("alert.updated", 0))  # alert 0 changed last: it is the newest now
    update = box.take(3)
    assert update.truncated == 7
    assert update.events[0]["type"] == "maintenance.started"  # never dropped
    assert [e["alert"]["id"] for e in update.events[1:]] == [0, 9, 8]


def test_alerts_that_open_or_resolve_go_before_any_number_of_counter_bumps():
    """A flood of repeats moves thousands of alerts' counters in every update; a new alert
    (or one that resolved) among them still goes out, with its latest row."""
    box = Outbox()
    box.add(alert_event("alert.created", 7000, occurrence_count=1))
    box.add(alert_event("alert.resolved", 7001, status="RESOLVED"))
    for _ in range(3):  # three dispatches of a flood of repeats
        box.add_chunk(
            Chunk.of(
                [(e, encode(e)) for e in (alert_event("alert.updated", n) for n in range(2000))]
            )
        )
    box.add(alert_event("alert.updated", 7000, occurrence_count=2))  # the new one repeated
    update = box.take(50)
    first = [(e["type"], e["alert"]["id"]) for e in update.events[:2]]
    assert first == [("alert.resolved", 7001), ("alert.created", 7000)]  # newest first
    assert update.events[1]["alert"]["occurrence_count"] == 2  # its latest row
    assert len(update.events) == 50
    assert update.truncated == 2002 - 50
    # the rest are the newest counter bumps, one per alert
    assert [e["alert"]["id"] for e in update.events[2:5]] == [1999, 1998, 1997]


def test_past_the_limit_the_newest_openings_go_first():
    box = Outbox()
    for i in range(10):
        box.add(alert_event("alert.created", i))
    box.add(alert_event("alert.updated", 0))
    update = box.take(3)
    assert [e["alert"]["id"] for e in update.events] == [9, 8, 7]
    assert update.truncated == 7


def test_the_rate_limit_counts_messages_in_a_sliding_minute():
    now = [0.0]
    limit = SlidingWindowLimit(3, 60.0, clock=lambda: now[0])
    assert [limit.allow() for _ in range(3)] == [True, True, True]
    assert not limit.allow()
    now[0] = 59.9
    assert not limit.allow()
    now[0] = 60.1  # the first three have left the window
    assert limit.allow()


def test_masking_an_event_leaves_the_original_alone():
    event = {
        "type": "alert.updated",
        "tenant_id": 1,
        "actor_id": 4,
        "alert": {
            "id": 1,
            "title": "Call +1 (415) 555-0100 or jane.doe@example.com",
            "assignee_name": "Jane Doe",
        },
    }
    masked = mask_event(event)
    assert "555-0100" not in masked["alert"]["title"]
    assert "jane.doe@example.com" not in masked["alert"]["title"]
    assert masked["alert"]["assignee_name"] != "Jane Doe"
    assert "actor_id" not in masked
    assert event["alert"]["assignee_name"] == "Jane Doe" and event["actor_id"] == 4


def test_an_update_message_is_the_events_json_assembled():
    import json

    box = Outbox()
    box.add(alert_event("alert.created", 1, title='é " </script>'))
    box.add({"type": "maintenance.ended", "tenant_id": 1, "window": {"id": 2}}, '{"pre":1}')
    message = json.loads(box.take(10).message())
    assert message == {
        "type": "events",
        "events": [{"pre": 1}, alert_event("alert.created", 1, title='é " </script>')],
        "truncated": 0,
    }


def test_viewers_of_the_same_scope_share_a_group_until_one_subscribes():
    from watchfloor.access.scope import ScopeKind
    from watchfloor.realtime.viewer import Viewer

    def viewer(**kw):
        base = dict(
            user_id=1,
            tenant_id=1,
            kind=ScopeKind.ASSIGNED_CLIENTS,
            capabilities=frozenset({"noc:view"}),
            client_ids=frozenset({1, 2}),
            site_ids=frozenset({10, 20}),
            client_codes={"A": 1, "B": 2},
        )
        return Viewer(**{**base, **kw})

    one, two = viewer(), viewer(user_id=2)
    assert one.group == two.group  # same events, shared work
    assert viewer(capabilities=frozenset({"noc:view", "noc:view_pii"})).group != one.group
    assert viewer(tenant_id=2).group != one.group
    two.subscribe_to(frozenset({1}))
    assert two.group != one.group
    two.subscribe_to(None)
    assert two.group == one.group


def test_chunks_shared_by_reference_coalesce_across_dispatches():
    from watchfloor.realtime.outbox import Chunk, encode

    first = Chunk.of([(e, encode(e)) for e in (alert_event("alert.created", 1, n=1),)])
    second = Chunk.of(
        [
            (e, encode(e))
            for e in (alert_event("alert.updated", 1, n=2), alert_event("alert.updated", 2))
        ]
    )
    a, b = Outbox(), Outbox()
    for box in (a, b):
        box.add_chunk(first)
        box.add_chunk(second)
    update = a.take(1)
    assert update.truncated == 1
    # the new alert before the other change, with its latest row, under the most telling type
    assert [(e["type"], e["alert"]) for e in update.events] == [
        ("alert.created", {"id": 1, "n": 2})
    ]
    update = b.take(5)
    assert [(e["type"], e["alert"]) for e in update.events] == [
        ("alert.created", {"id": 1, "n": 2}),
        ("alert.updated", {"id": 2}),
    ]


def test_an_alert_event_is_rendered_when_an_update_takes_it_once_for_every_connection():
    """A flood dispatches thousands of events an update never sends: each is masked and
    encoded only when taken, and once for all the connections sharing the chunk."""
    rendered: list[int] = []

    def render(event: dict) -> tuple[dict, str]:
        rendered.append(event["alert"]["id"])
        shown = {**event, "alert": {**event["alert"], "title": "masked"}}
        return shown, encode(shown)

    flood = Chunk.of(
        [(alert_event("alert.updated", n, title="Call 555-0100"), None) for n in range(2000)],
        render,
    )
    assert rendered == []  # nothing rendered on arrival
    a, b = Outbox(), Outbox()
    for box in (a, b):
        box.add_chunk(flood)
    first, second = a.take(50), b.take(50)
    assert sorted(rendered) == list(range(1950, 2000))  # the 50 sent, once for both
    for update in (first, second):
        assert [e["alert"]["id"] for e in update.events] == list(range(1999, 1949, -1))
        assert {e["alert"]["title"] for e in update.events} == {"masked"}
        assert "555-0100" not in update.message()
        assert update.truncated == 1950


def test_a_rendered_event_keeps_its_masking_under_the_more_telling_type():
    def render(event: dict) -> tuple[dict, str]:
        if "alert" not in event:
            shown = {**event, "rendered": True}
        else:
            shown = {**event, "alert": {**event["alert"], "title": "masked"}}
        return shown, encode(shown)

    box = Outbox()
    box.add_chunk(
        Chunk.of([(alert_event("alert.created", 1, title="jane@example.com"), None)], render)
    )
    box.add_chunk(
        Chunk.of([(alert_event("alert.updated", 1, title="jane@example.com"), None)], render)
    )
    box.add_chunk(
        Chunk.of(
            [({"type": "maintenance.started", "tenant_id": 1, "window": {"id": 3}}, None)], render
        )
    )
    update = box.take(10)
    assert [e["type"] for e in update.events] == ["maintenance.started", "alert.created"]
    assert update.events[0]["rendered"]  # the other events are rendered on arrival
    assert update.events[1]["alert"]["title"] == "masked"
    assert "jane@example.com" not in update.message()


def _viewer(pii: bool):
    from watchfloor.access.scope import ScopeKind
    from watchfloor.realtime.viewer import Viewer

    caps = {"noc:view", "noc:view_pii"} if pii else {"noc:view"}
    return Viewer(
        user_id=1,
        tenant_id=1,
        kind=ScopeKind.ALL_CLIENTS,
        capabilities=frozenset(caps),
        client_ids=frozenset({1}),
        site_ids=frozenset({10}),
        client_codes={"A": 1},
    )


def test_a_cache_entry_is_used_only_for_the_object_it_was_made_for():
    """The dispatch's cache outlives it (updates render later): an id freed and reused by
    another object must never hand that object the first one's masked copy or JSON."""
    from watchfloor.realtime.consumers import _render

    event = alert_event("alert.updated", 1, client_id=1, site_id=10, title="jane@example.com")
    stale = alert_event("alert.updated", 1, title="jane@example.com")
    cache = {id(event): (stale, stale)}  # as if another object had had this id
    masked = _viewer(pii=False).shown(event, cache)
    assert masked is not stale and "jane@example.com" not in masked["alert"]["title"]

    shared = {("json", id(event)): (stale, '{"leaked":true}')}
    shown, text = _render(_viewer(pii=True), shared, event)
    assert shown is event and text == encode(event)
    again, text_again = _render(_viewer(pii=True), shared, event)  # now a hit, the same JSON
    assert again is event and text_again is text
