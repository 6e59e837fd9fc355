"""alerts.hooks: what the apps above alerts are told after a committed write, and that a hook
that fails never fails the write."""

from __future__ import annotations

import logging

import pytest

from support_alerts import key_for, resolve, trigger
from watchfloor import degrade
from watchfloor.alerts import hooks, services
from watchfloor.alerts.models import Alert, Severity
from watchfloor.alerts.pipeline import ingest

__all__ = ["key_for"]

SEEN: list = []


def remember(changes) -> None:
    SEEN.append(changes)


def explode(changes) -> None:
    raise RuntimeError("the hook is broken")


@pytest.fixture(autouse=True)
def _recording(settings):
    SEEN.clear()
    degrade.reset()
    settings.ALERT_CHANGE_HOOKS = [f"{__name__}.remember"]
    yield
    degrade.reset()


@pytest.fixture
def key(estate, key_for):
    return key_for(estate)


def test_ingestion_tells_created_changed_and_resolved_ids_after_commit(
    estate, key, django_capture_on_commit_callbacks
):
    site = estate.sites[0].code
    with django_capture_on_commit_callbacks(execute=False) as pending:
        ingest([trigger(site=site, entity_id="a"), trigger(site=site, entity_id="b")], key=key)
    assert SEEN == []  # nothing before the commit
    for callback in pending:
        callback()
    [first] = SEEN
    a, b = (Alert.objects.get(entity_id=e) for e in "ab")
    assert (first.tenant_id, sorted(first.created), first.changed, first.resolved) == (
        estate.tenant.id,
        sorted([a.id, b.id]),
        (),
        (),
    )
    SEEN.clear()
    with django_capture_on_commit_callbacks(execute=True):
        # a plain repeat says nothing; a severity change and a resolve do
        ingest([trigger(site=site, entity_id="a")], key=key)
    assert SEEN == []
    with django_capture_on_commit_callbacks(execute=True):
        ingest(
            [
                trigger(site=site, entity_id="a", severity=Severity.CRITICAL),
                resolve(b.fingerprint),
            ],
            key=key,
        )
    [second] = SEEN
    assert (second.created, second.changed, second.resolved) == ((), (a.id,), (b.id,))


def test_people_resolving_alerts_one_by_one_or_in_bulk_are_told(
    estate, key, django_capture_on_commit_callbacks
):
    site = estate.sites[0].code
    with django_capture_on_commit_callbacks(execute=True):
        ingest([trigger(site=site, entity_id=str(i)) for i in range(3)], key=key)
    a, b, c = Alert.objects.order_by("id")
    SEEN.clear()
    admin = estate.user("admin")
    with django_capture_on_commit_callbacks(execute=True):
        services.resolve_alert(a, actor=admin, note="fixed")
    with django_capture_on_commit_callbacks(execute=True):
        services.bulk_resolve([b.id, c.id], actor=admin, note="fixed")
    assert [s.resolved for s in SEEN] == [(a.id,), (b.id, c.id)]


def test_a_failing_hook_never_fails_the_ingestion_and_is_logged_once(
    estate, key, settings, caplog, django_capture_on_commit_callbacks
):
    settings.ALERT_CHANGE_HOOKS = [f"{__name__}.explode", f"{__name__}.remember"]
    site = estate.sites[0].code
    with caplog.at_level(logging.WARNING, logger="watchfloor.outage"):
        for i in range(3):
            with django_capture_on_commit_callbacks(execute=True):
                result = ingest([trigger(site=site, entity_id=f"x{i}")], key=key)
            assert result.created == 1
    assert Alert.objects.count() == 3
    assert len(SEEN) == 3  # the next hook still ran
    outages = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outages) == 1 and "explode" in outages[0].getMessage()
    settings.ALERT_CHANGE_HOOKS = [f"{__name__}.remember"]


# --- coalescing on a fold worker -------------------------------------------------------------


def test_a_coalescing_thread_hands_the_changes_over_merged_per_tenant_when_flushed(
    estate, other_estate, key, key_for, settings, django_capture_on_commit_callbacks
):
    settings.HOOK_COALESCE_SECONDS = 3600
    settings.HOOK_COALESCE_IDS = 10_000
    other = key_for(other_estate)
    site, far = estate.sites[0].code, other_estate.sites[0].code
    with hooks.coalescing():
        with django_capture_on_commit_callbacks(execute=True):
            ingest([trigger(site=site, entity_id="a")], key=key)
        with django_capture_on_commit_callbacks(execute=True):
            ingest([trigger(site=site, entity_id="b")], key=key)
        with django_capture_on_commit_callbacks(execute=True):
            ingest([trigger(site=far, entity_id="z")], key=other)
        a = Alert.objects.get(entity_id="a")
        with django_capture_on_commit_callbacks(execute=True):
            ingest([resolve(a.fingerprint)], key=key)
        assert SEEN == []  # collected, not told
        assert hooks.flush() == 0  # not due yet
        assert SEEN == []
        assert hooks.flush(force=True) == 2  # the worker went idle
    mine = next(c for c in SEEN if c.tenant_id == estate.tenant.id)
    theirs = next(c for c in SEEN if c.tenant_id == other_estate.tenant.id)
    b = Alert.objects.get(entity_id="b")
    assert sorted(mine.created) == sorted([a.id, b.id]) and mine.resolved == (a.id,)
    assert theirs.created == (Alert.objects.get(entity_id="z").id,)
    assert len(SEEN) == 2  # nothing left for the end of the block


@pytest.mark.parametrize("bound", ["ids", "age"])
def test_changes_are_due_by_count_or_age(
    estate, key, settings, bound, django_capture_on_commit_callbacks
):
    settings.HOOK_COALESCE_SECONDS = 0 if bound == "age" else 3600
    settings.HOOK_COALESCE_IDS = 2 if bound == "ids" else 10_000
    site = estate.sites[0].code
    with hooks.coalescing():
        with django_capture_on_commit_callbacks(execute=True):
            ingest([trigger(site=site, entity_id="a"), trigger(site=site, entity_id="b")], key=key)
        assert hooks.flush() == 1
        assert len(SEEN) == 1 and len(SEEN[0].created) == 2


def test_what_is_left_when_the_block_ends_is_handed_over(
    estate, key, settings, django_capture_on_commit_callbacks
):
    settings.HOOK_COALESCE_SECONDS = 3600
    with hooks.coalescing():
        with django_capture_on_commit_callbacks(execute=True):
            ingest([trigger(site=estate.sites[0].code, entity_id="a")], key=key)
        assert SEEN == []
    assert [c.created for c in SEEN] == [(Alert.objects.get().id,)]
    # outside a coalescing block the hooks are called at the commit, as before
    with django_capture_on_commit_callbacks(execute=True):
        ingest([trigger(site=estate.sites[0].code, entity_id="b")], key=key)
    assert len(SEEN) == 2


# --- preloading ----------------------------------------------------------------------------------


def test_preload_imports_each_hook_and_records_one_that_cannot_be_imported(settings, caplog):
    settings.ALERT_CHANGE_HOOKS = [
        "json.dumps",  # importable: nothing to record
        "watchfloor.no_such_module.hook",
    ]
    with caplog.at_level(logging.WARNING, logger="watchfloor.outage"):
        hooks.preload()  # never raises: a broken hook must not stop a server or a fold
        hooks.preload()
    outages = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outages) == 1 and "no_such_module" in outages[0].getMessage()
    assert degrade.is_down("alert hook watchfloor.no_such_module.hook")
    assert not degrade.is_down("alert hook json.dumps")


def test_a_fold_worker_preloads_the_hooks_before_its_first_fold(settings, monkeypatch):
    from watchfloor.alerts import staging

    calls: list[str] = []
    monkeypatch.setattr(hooks, "preload", lambda: calls.append("preload"))
    monkeypatch.setattr(staging.FoldWorker, "_run", lambda self: calls.append("fold"))
    staging.FoldWorker(poll=0.01).run()
    assert calls == ["preload", "fold"]
