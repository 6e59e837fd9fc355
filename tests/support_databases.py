"""A scratch PostgreSQL database beside the test database, for tests that start real processes
(a server, Celery workers): they cannot see pytest-django's transaction, so they get a database
of their own, created fresh and dropped afterwards."""

from __future__ import annotations

from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit


@contextmanager
def scratch_database(url: str, suffix: str):
    """Yields (the scratch database's URL, psycopg connection arguments for it) for a
    `test_<name>_<suffix>` database next to the one `url` names."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    config = dj_database_url.parse(url)
    name = f"test_{config['NAME']}_{suffix}"
    admin = {
        "host": config["HOST"] or None,
        "port": config["PORT"] or None,
        "user": config["USER"] or None,
        "password": config["PASSWORD"] or None,
        "dbname": "postgres",
        "autocommit": True,
    }

    def execute(statement: str) -> None:
        with psycopg.connect(**admin) as connection:
            connection.execute(sql.SQL(statement).format(sql.Identifier(name)))

    execute("DROP DATABASE IF EXISTS {} WITH (FORCE)")
    execute("CREATE DATABASE {}")
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}")), admin | {"dbname": name}
    finally:
        execute("DROP DATABASE IF EXISTS {} WITH (FORCE)")
