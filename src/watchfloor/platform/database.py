"""Facts about the configured database for the command line: what it is, what is unapplied."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


def describe_database(alias: str = DEFAULT_DB_ALIAS) -> str:
    """A one-line description without credentials (never the DATABASE_URL itself)."""
    conn = connections[alias]
    db = conn.settings_dict
    if conn.vendor == "sqlite":
        return f"SQLite {db['NAME']}"
    where = f"{db.get('HOST') or 'local socket'}:{db.get('PORT') or 'default port'}"
    return f"{conn.display_name} database {db['NAME']!r} on {where}"


def pending_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """`app.migration` names not applied yet, in the order migrate would apply them."""
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
