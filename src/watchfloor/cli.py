"""The `watchfloor` console script: Django's management commands under one name.

`watchfloor integration-key create ...` runs the command `integration_key`; `watchfloor demo`
turns on demo mode (WATCHFLOOR_DEMO=1) before the settings are read.
"""

from __future__ import annotations

import os
import sys

SETTINGS_MODULE = "watchfloor.settings"


def command_name(word: str) -> str:
    """The management command for a CLI word: hyphens become underscores."""
    return word if word.startswith("-") else word.replace("-", "_")


def translate(args: list[str]) -> list[str]:
    args = list(args)
    if args:
        args[0] = command_name(args[0])
        if args[0] == "help" and len(args) > 1:
            args[1] = command_name(args[1])
    return args


def _prepare_metrics() -> None:
    """Several worker processes serve one node: prometheus-client's multiprocess mode must be on
    before the first metric is created (settings are read, no app is loaded yet)."""
    from django.conf import settings

    from watchfloor.platform.metrics_dir import prepare_multiprocess_dir

    if not settings.METRICS_ENABLED:  # WATCHFLOOR_METRICS=off: nothing is exposed
        return
    prepare_multiprocess_dir(settings.WATCHFLOOR_HOME)


def _patch_for_gevent() -> None:
    """`serve --wsgi` runs gunicorn's gevent workers: the standard library is patched before
    Django (or anything else) is imported, so every thread-local (Django's connections through
    asgiref's Local, psycopg's pool) is per greenlet in the workers this process forks.

    Never in a process where Django is loaded already (a program, or a test, calling `main`):
    patching then would swap the threads its open connections belong to, and every later
    database call there fails ("DatabaseWrapper objects created in a thread…")."""
    if "django.db" in sys.modules:
        return
    from gevent import monkey

    monkey.patch_all()


SERVE_CHILD_ENV = "WATCHFLOOR_SERVE_CHILD"  # platform.server.CHILD_ENV (no Django import here)


def _serves_from_gunicorn(serve_args: list[str]) -> bool:
    """`serve --wsgi`, or the default `serve` with Redis (gunicorn for HTTP, uvicorn for
    WebSockets): the same rule as the command's `serve_mode`, read before Django loads."""
    if "--wsgi" in serve_args:
        return True
    if (
        "--asgi" in serve_args
        or "--uds" in serve_args
        or any(a.startswith("--uds=") for a in serve_args)
    ):
        return False
    return bool(os.environ.get("REDIS_URL", "").strip())


def main(argv: list[str] | None = None) -> None:
    args = translate(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"] and _serves_from_gunicorn(args[1:]):
        _patch_for_gevent()
    if args[:1] == ["demo"]:
        # settings.py reads it once, at import: it must be set before anything loads them
        os.environ["WATCHFLOOR_DEMO"] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    if args[:1] == ["serve"] and not os.environ.get(SERVE_CHILD_ENV):
        # the split server's WebSocket process shares its parent's folder (already prepared)
        _prepare_metrics()

    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["watchfloor", *args])
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted.\n")
        raise SystemExit(130) from None
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly instead of a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
