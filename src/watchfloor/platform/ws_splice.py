"""WebSockets on the HTTP port: gunicorn's gevent workers hand `/ws/` upgrades to the ASGI process.

`watchfloor serve` (with Redis) answers HTTP from gunicorn's gevent workers (WSGI: Django's
fastest path, docs/decisions.md) and keeps one uvicorn process for the WebSockets, listening on
a Unix socket that only this user can open. A browser still talks to one origin: the worker that
reads an upgrade request for `/ws/...` connects to that socket, replays the request head and
then copies bytes both ways until either side closes (a greenlet per direction, no parsing of
the frames). The ASGI process does everything else as before: the Origin check, the session or
token, the hub, ping/pong.

The client's address and scheme travel as X-Forwarded-For / X-Forwarded-Proto, which the ASGI
process trusts (nothing but this process can reach its socket); a client's own X-Forwarded-*
headers are dropped unless gunicorn was told to trust the proxy it came through.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Iterable

from watchfloor.degrade import record_failure, record_success

log = logging.getLogger(__name__)

# the name an unreachable WebSocket process is logged under (watchfloor.degrade: once, then
# recovery)
COMPONENT = "WebSocket process"
CONNECT_TIMEOUT = 5.0
CHUNK = 65536
# hop-by-hop or rewritten here; everything else is replayed as the client sent it
_DROPPED = {"HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST"}


def is_websocket_upgrade(environ: dict) -> bool:
    return (
        environ.get("PATH_INFO", "").startswith("/ws/")
        and environ.get("HTTP_UPGRADE", "").lower() == "websocket"
        and environ.get("REQUEST_METHOD") == "GET"
    )


def _header_name(key: str) -> str:
    return "-".join(part.capitalize() for part in key[5:].split("_"))


def request_head(environ: dict, *, trust_forwarded: bool) -> bytes:
    """The upgrade request's head, for the ASGI process: request line, the client's headers
    (WSGI has them as HTTP_*; names come back capitalised, which HTTP ignores) and where the
    request came from."""
    target = environ.get("RAW_URI") or (
        environ.get("PATH_INFO", "/")
        + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
    )
    lines = [f"GET {target} HTTP/1.1"]
    for key, value in environ.items():
        if not key.startswith("HTTP_") or key in _DROPPED:
            continue
        lines.append(f"{_header_name(key)}: {value}")
    forwarded_for = environ.get("REMOTE_ADDR", "")
    if trust_forwarded and environ.get("HTTP_X_FORWARDED_FOR"):
        forwarded_for = environ["HTTP_X_FORWARDED_FOR"]
    if forwarded_for:
        lines.append(f"X-Forwarded-For: {forwarded_for}")
    lines.append(f"X-Forwarded-Proto: {environ.get('wsgi.url_scheme', 'http')}")
    # latin-1: what WSGI decoded the header bytes with, so they go back unchanged
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _pump(source, sink) -> None:
    """Copy until `source` closes (or either fails), then tell `sink` nothing more comes."""
    try:
        while True:
            data = source.recv(CHUNK)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _unavailable(start_response) -> list[bytes]:
    body = b'{"detail": "Live updates are unavailable for a moment; the page retries."}'
    start_response(
        "503 Service Unavailable",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Retry-After", "2"),
        ],
    )
    return [body]


class WebSocketSplice:
    """WSGI middleware: `/ws/` upgrades go to the ASGI process on `socket_path`, the rest to
    `app`. Only for gunicorn's gevent workers (it takes over the client's socket, and each
    spliced connection is two greenlets)."""

    def __init__(self, app: Callable, socket_path: str, *, trust_forwarded: bool = False):
        self.app = app
        self.socket_path = socket_path
        self.trust_forwarded = trust_forwarded

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        client = environ.get("gunicorn.socket")
        if client is None or not is_websocket_upgrade(environ):
            return self.app(environ, start_response)
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.settimeout(CONNECT_TIMEOUT)
        try:
            upstream.connect(self.socket_path)
            upstream.settimeout(None)
            upstream.sendall(request_head(environ, trust_forwarded=self.trust_forwarded))
        except OSError as exc:
            upstream.close()
            record_failure(COMPONENT, exc)
            return _unavailable(start_response)
        record_success(COMPONENT)
        self._splice(client, upstream)
        # The connection is finished: gunicorn's worker closes the client's socket when a
        # request raises StopIteration (its keep-alive loop would otherwise read on from it;
        # it does not look at ALREADY_HANDLED there).
        raise StopIteration

    @staticmethod
    def _splice(client, upstream) -> None:
        import gevent

        client.settimeout(None)
        back = gevent.spawn(_pump, upstream, client)
        try:
            _pump(client, upstream)
            back.join()
        finally:
            back.kill()
            upstream.close()
