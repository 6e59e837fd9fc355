"""A page of alert list rows in one statement whose SELECT is built once per connection.

Django compiles a queryset's SELECT again for every query: for a list row (about 40 columns of
the alert, its client's and site's) that was 0.8 ms of a page's ~1.1 ms of SQL compiling, and
`get_order_by` hashes every selected column (docs/benchmarks.md, "the alerts list's CPU"). Here
the ORM still compiles what a request decides, the scope, the filters, the order and the page's
bound, but as a query of ids alone (0.3 ms); the columns, joins and converters of a row are
worked out once per connection and wrapped around it:

    SELECT <row columns> FROM alerts_alert a LEFT JOIN client c … LEFT JOIN site s …
    WHERE a.id IN (<the ORM's ordered, limited query of ids>) ORDER BY <the same keys>

One round trip, as before. Rows become instances through each model's `from_db` (the plain
loader of `tenancy.row_loading`), with the client and site cached on the alert as
`select_related` leaves them; the columns not read stay deferred and load on access.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet

from watchfloor.alerts.models import Alert

# what a list row reads: the relation and its columns (attnames), the alert's first
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
    select: str
    tables: str
    alias: str  # the outer alert table's alias
    parts: tuple[_Part, ...]
    converters: tuple[tuple[int, tuple[Callable, ...], Any], ...]  # (column, converters, expr)


@lru_cache(maxsize=64)
def _shape(ops: Any) -> _Shape:
    """Keyed by the connection's `ops` (one per connection; the cache keeps it alive, so its
    identity is never reused while cached), as `writes._feed_columns`."""
    connection = ops.connection
    qn = ops.quote_name
    opts = Alert._meta
    selected: list[str] = []
    parts: list[_Part] = []
    converters = []
    tables = [f"{qn(opts.db_table)} a"]

    def add(model, table_alias: str, names: Sequence[str], relation=None) -> None:
        parts.append(_Part(model, tuple(names), len(selected), relation))
        for name in names:
            field = model._meta.get_field(name)
            col = field.get_col(table_alias)
            convert = (*ops.get_db_converters(col), *col.get_db_converters(connection))
            if convert:
                converters.append((len(selected), tuple(convert), col))
            selected.append(f"{table_alias}.{qn(field.column)}")

    add(Alert, "a", ALERT_COLUMNS)
    for n, (name, columns) in enumerate(RELATED_COLUMNS.items()):
        relation = opts.get_field(name)
        model = relation.related_model
        table_alias = f"r{n}"
        target = qn(relation.target_field.column)
        tables.append(
            f"LEFT OUTER JOIN {qn(model._meta.db_table)} {table_alias}"
            f" ON (a.{qn(relation.column)} = {table_alias}.{target})"
        )
        add(model, table_alias, columns, relation)
    return _Shape(", ".join(selected), " ".join(tables), "a", tuple(parts), tuple(converters))


def list_rows(qs: QuerySet[Alert], order: Sequence[tuple[str, bool]], count: int) -> list[Alert]:
    """The first `count` alerts of `qs` in `order` ((column, descending) keys ending with a
    unique one), each with what a list row shows."""
    by = [f"-{column}" if descending else column for column, descending in order]
    ids = qs.order_by(*by).values_list("id", flat=True)[:count]
    db = qs.db
    connection = connections[db]
    inner, params = ids.query.get_compiler(using=db).as_sql()
    shape = _shape(connection.ops)
    qn = connection.ops.quote_name
    ordering = ", ".join(
        f"{shape.alias}.{qn(_column(name))} {'DESC' if down else 'ASC'}" for name, down in order
    )
    sql = (
        f"SELECT {shape.select} FROM {shape.tables}"  # noqa: S608  (names from the models)
        f" WHERE {shape.alias}.{qn(_column('id'))} IN ({inner}) ORDER BY {ordering}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [_instance(shape, row, connection, db) for row in rows]


def _column(name: str) -> str:
    return str(Alert._meta.get_field(name).column)


def _instance(shape: _Shape, row: tuple, connection, db: str) -> Alert:
    if shape.converters:
        converted = list(row)
        for index, convert, expression in shape.converters:
            value = converted[index]
            for converter in convert:
                value = converter(value, expression, connection)
            converted[index] = value
        row = tuple(converted)
    main, *related = shape.parts
    alert = Alert.from_db(db, main.names, row[main.start : main.start + len(main.names)])
    for part in related:
        values = row[part.start : part.start + len(part.names)]
        target = None if values[0] is None else part.model.from_db(db, part.names, values)
        part.relation.set_cached_value(alert, target)
    return alert
