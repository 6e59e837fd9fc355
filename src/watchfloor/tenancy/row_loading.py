"""Model instances from database rows without `Model.__init__`'s per-field work.

Django builds every fetched row through `Model.__init__`, which sets each column through
`setattr` (a descriptor call per foreign key) and sends two signals. For a row of a model whose
fields are plain (no data descriptor but Django's foreign-key id, no `__init__` of its own, no
init signal receivers), that is exactly putting the columns in the instance's `__dict__`: this
does that, three times faster. A 50-row alerts page builds 153 instances (each alert with its
client and site); profiled, they were the list's largest cost (docs/benchmarks.md, "the alerts
list's CPU"). Anything else goes through Django's own `from_db`.
"""

from __future__ import annotations

from django.db import models
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.signals import post_init, pre_init

# per model: its concrete fields' attribute names when its rows may load plainly, else None
_PLAIN: dict[type, tuple[str, ...] | None] = {}


def _attribute(cls: type, name: str):
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def is_plain(cls: type[models.Model]) -> bool:
    """Whether `Model.__init__` would do no more for a row of `cls` than store its values."""
    if cls.__init__ is not models.Model.__init__:
        return False
    for field in cls._meta.concrete_fields:
        kind = type(_attribute(cls, field.attname))
        if kind is not ForeignKeyDeferredAttribute and hasattr(kind, "__set__"):
            return False
    return True


def _init_receivers(cls) -> bool:
    # the lists are empty in this product: two attribute reads instead of two cache lookups
    if not pre_init.receivers and not post_init.receivers:
        return False
    return pre_init.has_listeners(cls) or post_init.has_listeners(cls)


def from_db(cls, base_from_db, db: str | None, field_names, values):
    """`cls.from_db`: the row's values under their attribute names (`field_names`, the loaded
    columns; deferred ones stay absent and load on access, as Django's own instances do)."""
    if cls not in _PLAIN:
        _PLAIN[cls] = tuple(f.attname for f in cls._meta.concrete_fields) if is_plain(cls) else None
    attnames = _PLAIN[cls]
    if attnames is None or _init_receivers(cls):
        return base_from_db(db, field_names, values)
    instance = cls.__new__(cls)
    state = ModelState()
    state.adding = False
    state.db = db
    instance.__dict__["_state"] = state
    if len(values) == len(attnames):  # every column, in the model's order (as Django reads it)
        field_names = attnames
    instance.__dict__.update(zip(field_names, values, strict=True))
    return instance
