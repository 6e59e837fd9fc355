"""A page of alert list rows in one statement whose SELECT is built once per connection.

Django compiles a queryset's SELECT again for every query: for a list row (about 40 columns of
the alert, its client's and site's) that was 0.8 ms of a page's ~1.1 ms of SQL compiling, and
`get_order_by` hashes every selected column (docs/benchmarks.md, "the alerts list's CPU"). Here
the ORM still compiles what a request decides, the scope, the filters, the order and the page's
bound, but as a query of ids alone (0.3 ms); its SELECT list is then replaced by the row's
columns and joins, worked out once per connection:

    SELECT "alerts_alert"."id", …, wf_r0."name", … FROM "alerts_alert"
      LEFT OUTER JOIN "tenancy_client" wf_r0 ON … LEFT OUTER JOIN "tenancy_site" wf_r1 ON …
      <the ORM's joins, WHERE, ORDER BY and LIMIT, as compiled>

The same statement PostgreSQL planned before (one table of alerts: wrapping the query of ids
as a subquery cost the planner 0.15 ms more a page, measured). Should the ORM's text ever not
start as expected, the rows are read around it as a subquery instead. One round trip, as
before. Rows become instances through each model's `from_db` (the plain loader of
`tenancy.row_loading`), with the client and site cached on the alert as `select_related` leaves
them, except that a page builds each distinct client and site once and its alerts share it;
the columns not read stay deferred and load on access.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet

from watchfloor.alerts.models import Alert

# what a list row reads of its client and site (attnames; the id first: a null id is no row)
RELATED_COLUMNS = {
    "client": ("id", "code", "name"),
    "site": ("id", "code", "name", "city", "state"),
}
# the detail's columns, not a row's (large, and a row shows none of them)
NOT_LISTED = frozenset({"labels", "annotations", "description", "resolution_note"})
ALERT_COLUMNS = tuple(f.attname for f in Alert._meta.concrete_fields if f.name not in NOT_LISTED)


@dataclass(frozen=True)
class _Part:
    model: type[Model]
    names: tuple[str, ...]  # attnames, in the row's order
    start: int  # its first column in the row
    relation: Any = None  # the alert's foreign key it is cached under (None: the alert)


@dataclass(frozen=True)
class _Shape:
    head: str  # how the ORM's query of ids starts: its SELECT list and table
    select: str  # the row's columns and joins instead
    table: str  # the alerts table, quoted
    parts: tuple[_Part, ...]
    converters: tuple[tuple[int, tuple[Callable, ...], Any], ...]  # (column, converters, expr)


@lru_cache(maxsize=64)
def _shape(ops: Any) -> _Shape:
    """Keyed by the connection's `ops` (one per connection; the cache keeps it alive, so its
    identity is never reused while cached), as `writes._feed_columns`."""
    connection = ops.connection
    qn = ops.quote_name
    opts = Alert._meta
    table = qn(opts.db_table)
    selected: list[str] = []
    parts: list[_Part] = []
    converters = []
    joins = []

    def add(model, table_alias: str, names: Sequence[str], relation=None) -> None:
        parts.append(_Part(model, tuple(names), len(selected), relation))
        for name in names:
            field = model._meta.get_field(name)
            col = field.get_col(table_alias)
            convert = (*ops.get_db_converters(col), *col.get_db_converters(connection))
            if convert:
                converters.append((len(selected), tuple(convert), col))
            selected.append(f"{table_alias}.{qn(field.column)}")

    # the id first: the ORM's ORDER BY may name it by its position ("1 DESC")
    assert ALERT_COLUMNS[0] == "id", ALERT_COLUMNS
    add(Alert, table, ALERT_COLUMNS)
    for n, (name, columns) in enumerate(RELATED_COLUMNS.items()):
        relation = opts.get_field(name)
        model = relation.related_model
        table_alias = f"wf_r{n}"  # Django's own aliases are table names and T<n>
        target = qn(relation.target_field.column)
        joins.append(
            f"LEFT OUTER JOIN {qn(model._meta.db_table)} {table_alias}"
            f" ON ({table}.{qn(relation.column)} = {table_alias}.{target})"
        )
        add(model, table_alias, columns, relation)
    # table and column names from the models, quoted; no value is in the text
    return _Shape(
        head=f"SELECT {table}.{qn('id')} AS {qn('id')} FROM {table}",  # noqa: S608
        select=f"SELECT {', '.join(selected)} FROM {table} {' '.join(joins)}",  # noqa: S608
        table=table,
        parts=tuple(parts),
        converters=tuple(converters),
    )


class PlainRow:
    """A list row without a model instance (`list_rows(plain=True)`, the list API's): the
    columns read as attributes, the client and site as plain rows (or None), the people as
    `attach_people` sets them; nothing more loads on access. Building one is a dict; a model
    instance, read back through descriptors, was about a fifth of a served list request
    (py-spy, docs/decisions.md)."""

    def __repr__(self) -> str:
        return f"PlainRow({self.__dict__.get('id')})"


def _plain(names: tuple[str, ...], values: Sequence[Any]) -> PlainRow:
    row = PlainRow.__new__(PlainRow)
    row.__dict__ = dict(zip(names, values, strict=True))
    return row


def list_rows(
    qs: QuerySet[Alert], order: Sequence[tuple[str, bool]], count: int, *, plain: bool = False
) -> list[Any]:
    """The first `count` alerts of `qs` in `order` ((column, descending) keys ending with a
    unique one), each with what a list row shows: model instances, or `PlainRow`s if `plain`."""
    by = [f"-{column}" if descending else column for column, descending in order]
    ids = qs.order_by(*by).values_list("id", flat=True)[:count]
    db = qs.db
    connection = connections[db]
    inner, params = ids.query.get_compiler(using=db).as_sql()
    shape = _shape(connection.ops)
    sql = _statement(shape, inner, order, connection.ops.quote_name)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    related: dict[tuple[int, Any], Any] = {}
    build: Callable[[_Part, Sequence[Any]], Any] = _build_plain if plain else partial(_build, db)
    attach: Callable[[_Part, Any, Any], None] = _attach_plain if plain else _attach_cached
    return [_row(shape, row, connection, related, build, attach) for row in rows]


def _statement(shape: _Shape, inner: str, order: Sequence[tuple[str, bool]], qn) -> str:
    if inner.startswith(shape.head + " "):
        return shape.select + inner[len(shape.head) :]
    # the rows around the query of ids (its own "alerts_alert" is the subquery's)
    ordering = ", ".join(
        f"{shape.table}.{qn(_column(name))} {'DESC' if down else 'ASC'}" for name, down in order
    )
    return (
        f"{shape.select} WHERE {shape.table}.{qn(_column('id'))} IN ({inner}) ORDER BY {ordering}"
    )


def _column(name: str) -> str:
    return str(Alert._meta.get_field(name).column)


def _converted(shape: _Shape, row: tuple, connection) -> tuple:
    if not shape.converters:
        return row
    converted = list(row)
    for index, convert, expression in shape.converters:
        value = converted[index]
        for converter in convert:
            value = converter(value, expression, connection)
        converted[index] = value
    return tuple(converted)


def _build(db: str, part: _Part, values: Sequence[Any]) -> Model:
    return part.model.from_db(db, part.names, values)


def _build_plain(part: _Part, values: Sequence[Any]) -> PlainRow:
    return _plain(part.names, values)


def _attach_plain(part: _Part, alert: PlainRow, target: PlainRow | None) -> None:
    alert.__dict__[part.relation.name] = target


def _attach_cached(part: _Part, alert: Alert, target: Model | None) -> None:
    part.relation.set_cached_value(alert, target)  # as select_related leaves it


def _row(shape: _Shape, row: tuple, connection, related: dict[tuple[int, Any], Any], build, attach):
    """The alert of `row` and its client and site, each made by `build(part, values)` and
    attached by `attach(part, alert, target)`. `related` holds the page's clients and sites by
    (part, id): one each, shared by the page's alerts (one site's alerts build one site)."""
    row = _converted(shape, row, connection)
    main, *others = shape.parts
    alert = build(main, row[main.start : main.start + len(main.names)])
    for n, part in enumerate(others):
        pk = row[part.start]
        if pk is None:
            target = None
        elif (target := related.get((n, pk))) is None:
            values = row[part.start : part.start + len(part.names)]
            target = related[n, pk] = build(part, values)
        attach(part, alert, target)
    return alert
