"""Publishing in the background (the fold worker's events): sent by one publisher thread, in
commit order, deferred builds expanded in place; a failure is logged and the next batch still
goes out."""

from __future__ import annotations

import threading

import pytest

from watchfloor import events


class _ThreadRecorder(events.RecordingPublisher):
    def __init__(self, fail_first: bool = False):
        super().__init__()
        self.threads: list[str] = []
        self.fail_first = fail_first

    def send(self, batch):
        self.threads.append(threading.current_thread().name)
        if self.fail_first:
            self.fail_first = False
            raise ConnectionError("the channel is down")
        super().send(batch)


@pytest.fixture
def recorder():
    rec = _ThreadRecorder()
    events.set_publisher(rec)
    yield rec
    events.set_publisher(None)


def _publish(items, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        events.publish_on_commit(items)


@pytest.mark.django_db
def test_in_background_the_publisher_thread_sends_in_order_with_deferred_builds_in_place(
    recorder, django_capture_on_commit_callbacks
):
    built_on: list[str] = []

    def later():
        built_on.append(threading.current_thread().name)
        return [{"type": "b", "tenant_id": 1}, {"type": "c", "tenant_id": 1}]

    with events.publishing_in_background():
        _publish(
            [{"type": "a", "tenant_id": 1}, later, {"type": "d", "tenant_id": 1}],
            django_capture_on_commit_callbacks,
        )
        _publish([{"type": "e", "tenant_id": 1}], django_capture_on_commit_callbacks)
    assert events.flush_background(10)
    assert [e["type"] for e in recorder.events] == ["a", "b", "c", "d", "e"]
    assert set(recorder.threads) == {"watchfloor-publish"} and built_on == ["watchfloor-publish"]
    assert all("published_at" in e for e in recorder.events)


@pytest.mark.django_db
def test_without_background_the_committing_thread_sends(
    recorder, django_capture_on_commit_callbacks
):
    _publish(
        [{"type": "a", "tenant_id": 1}, lambda: [{"type": "b", "tenant_id": 1}]],
        django_capture_on_commit_callbacks,
    )
    assert [e["type"] for e in recorder.events] == ["a", "b"]
    assert recorder.threads == [threading.current_thread().name]


@pytest.mark.django_db
def test_a_failed_send_is_logged_and_the_next_one_goes_out(
    django_capture_on_commit_callbacks, caplog
):
    rec = _ThreadRecorder(fail_first=True)
    events.set_publisher(rec)
    try:
        with events.publishing_in_background():
            _publish([{"type": "lost", "tenant_id": 1}], django_capture_on_commit_callbacks)
            _publish([{"type": "sent", "tenant_id": 1}], django_capture_on_commit_callbacks)
        assert events.flush_background(10)
    finally:
        events.set_publisher(None)
    assert [e["type"] for e in rec.events] == ["sent"]
    assert "publishing 1 real-time events failed" in caplog.text
