"""Rows of tenant-scoped models load without Model.__init__ (tenancy.row_loading), and come out
as Django's own loading makes them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import models
from django.db.models.signals import post_init

from support_alerts import key_for, trigger
from watchfloor.alerts.models import Alert
from watchfloor.alerts.pipeline import ingest
from watchfloor.tenancy import row_loading
from watchfloor.tenancy.models import Site

__all__ = ["key_for"]


def _loaded(instance) -> dict:
    return {k: v for k, v in instance.__dict__.items() if k != "_state"}


def _django_loaded(queryset):
    """The same rows through Django's own from_db (a post_init receiver makes the fast path step
    aside)."""
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=queryset.model)
    try:
        rows = list(queryset.all())
    finally:
        post_init.disconnect(receiver, sender=queryset.model)
    assert len(seen) == len(rows)  # every row went through Model.__init__
    return rows


@pytest.fixture
def alerts(estate, key_for):
    key = key_for(estate)
    ingest([trigger(site=estate.sites[0].code), trigger("LINK_DOWN")], key=key)
    return Alert.objects.filter(tenant=estate.tenant).order_by("id")


def test_rows_load_as_django_loads_them(alerts, estate):
    for queryset in (
        alerts,
        alerts.only("id", "title", "first_seen_at", "site_id"),
        alerts.select_related("client", "site", "assignee"),
    ):
        fast, slow = list(queryset.all()), _django_loaded(queryset)
        assert [_loaded(a) for a in fast] == [_loaded(a) for a in slow]
        for a, b in zip(fast, slow, strict=True):
            assert (
                (a._state.adding, a._state.db)
                == (b._state.adding, b._state.db)
                == (False, "default")
            )
            assert a == b and type(a) is Alert
    joined = alerts.select_related("site").get(site__isnull=False)
    assert joined.site == estate.sites[0] and type(joined.site) is Site
    assert _loaded(joined.site) == _loaded(Site.objects.get(pk=estate.sites[0].pk))


def test_deferred_columns_load_on_access_and_saves_write_what_changed(alerts):
    alert = alerts.only("id", "title").first()
    assert "description" not in alert.__dict__
    assert alert.description == Alert.objects.get(pk=alert.pk).description  # loaded on access
    alert.title = "renamed"
    alert.save(update_fields=["title"])
    assert Alert.objects.get(pk=alert.pk).title == "renamed"
    full = alerts.get(pk=alert.pk)
    full.occurrence_count = 41
    full.save()
    assert Alert.objects.get(pk=alert.pk).occurrence_count == 41


def test_a_foreign_key_set_after_loading_clears_the_joined_instance(alerts, estate):
    alert = alerts.select_related("site").get(site__isnull=False)
    alert.site_id = estate.sites[1].pk
    assert alert.site == estate.sites[1]


def test_a_model_with_a_setter_or_its_own_init_is_not_plain():
    field = SimpleNamespace(attname="x")

    class Plain:
        __init__ = models.Model.__init__
        _meta = SimpleNamespace(concrete_fields=[field])

    class WithSetter(Plain):
        x = property(lambda self: 1, lambda self, value: None)

    class WithInit(Plain):
        def __init__(self, *args):
            pass

    assert row_loading.is_plain(Plain)
    assert not row_loading.is_plain(WithSetter)
    assert not row_loading.is_plain(WithInit)
    assert row_loading.is_plain(Alert) and row_loading.is_plain(Site)
