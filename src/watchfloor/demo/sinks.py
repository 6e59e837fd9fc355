"""Local notification sinks: an SMTP server and a webhook receiver on 127.0.0.1.

The demo starts them so its notifications are real (SMTP and HTTP on the loopback) and readable
without anything leaving the machine; the tests start them to receive what Watchfloor sends.

- `MailSink`: an aiosmtpd SMTP server (no authentication) on 127.0.0.1 that keeps every message
  in memory and, given a folder, also appends it to `mail.jsonl` there.
- `WebhookSink`: a threaded `http.server` that keeps every POSTed JSON body (or text) in memory
  and, given a folder, appends it to `webhooks.jsonl` there. `fail_next(n)` makes the next n
  requests answer 500, for retry tests.

Both take port 0 by default (a free port, read back from `.port` after `start()`).
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
MAX_KEPT = 10_000  # the newest messages kept in memory by each sink
MAX_FILE_BYTES = 5 * 1024 * 1024  # past it a sink's file is moved to `<name>.1` (one kept)
FOLDER_NAME = "demo-sinks"  # under WATCHFLOOR_HOME: where the demo's sinks write
MAIL_FILE = "mail.jsonl"
HOOK_FILE = "webhooks.jsonl"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Mail:
    received_at: str
    mail_from: str
    rcpt_to: list[str]
    subject: str
    body: str
    headers: dict = field(default_factory=dict)


class _Handler:
    """aiosmtpd handler: parse the message, keep it."""

    def __init__(self, sink: MailSink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        body_part = message.get_body(preferencelist=("plain", "html"))
        body = body_part.get_content() if body_part is not None else ""
        self.sink._keep(
            Mail(
                received_at=_now(),
                mail_from=envelope.mail_from or "",
                rcpt_to=list(envelope.rcpt_tos),
                subject=str(message.get("Subject", "")),
                body=body,
                headers={k: str(v) for k, v in message.items()},
            )
        )
        return "250 Message accepted for delivery"


class MailSink:
    def __init__(self, *, port: int = 0, folder: Path | None = None):
        self.port = port
        self.folder = Path(folder) if folder else None
        self.messages: list[Mail] = []
        self._lock = threading.Lock()
        self._controller: Any = None  # aiosmtpd's Controller once started
        self._received = threading.Condition(self._lock)

    @property
    def url(self) -> str:
        """The `WATCHFLOOR_SMTP_URL` that reaches this sink."""
        return f"smtp://{HOST}:{self.port}"

    def start(self) -> MailSink:
        from aiosmtpd.controller import Controller

        # aiosmtpd logs every envelope (addresses: personal data) at INFO
        logging.getLogger("mail.log").setLevel(logging.WARNING)

        port = self.port or _free_port()
        self._controller = Controller(
            _Handler(self), hostname=HOST, port=port, ready_timeout=10, server_hostname="localhost"
        )
        self._controller.start()
        self.port = port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _keep(self, mail: Mail) -> None:
        with self._received:
            self.messages.append(mail)
            del self.messages[:-MAX_KEPT]
            if self.folder is not None:
                self.folder.mkdir(parents=True, exist_ok=True)
                _append(self.folder / MAIL_FILE, json.dumps(asdict(mail)))
            self._received.notify_all()

    def to(self, address: str) -> list[Mail]:
        with self._lock:
            return [m for m in self.messages if address in m.rcpt_to]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Mail]:
        """Block until at least `count` messages arrived (or the timeout); returns them all."""
        with self._received:
            self._received.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return list(self.messages)

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Hook:
    received_at: str
    path: str
    body: object  # the parsed JSON, or the text
    headers: dict = field(default_factory=dict)


class WebhookSink:
    def __init__(self, *, port: int = 0, folder: Path | None = None):
        self.port = port
        self.folder = Path(folder) if folder else None
        self.requests: list[Hook] = []
        self._lock = threading.Lock()
        self._received = threading.Condition(self._lock)
        self._failures = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/hook", scheme: str = "json") -> str:
        """An apprise URL (`json://127.0.0.1:port/hook`) that posts to this sink."""
        return f"{scheme}://{HOST}:{self.port}{path}"

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures = count

    def start(self) -> WebhookSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = min(int(self.headers.get("Content-Length") or 0), 1_000_000)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                with sink._lock:
                    failing = sink._failures > 0
                    if failing:
                        sink._failures -= 1
                if failing:
                    self.send_response(500)
                    self.end_headers()
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                sink._keep(Hook(_now(), self.path, body, dict(self.headers.items())))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, format, *args):  # quiet: no request lines on stderr
                return

        self._server = ThreadingHTTPServer((HOST, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="watchfloor-webhook-sink", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _keep(self, hook: Hook) -> None:
        with self._received:
            self.requests.append(hook)
            del self.requests[:-MAX_KEPT]
            if self.folder is not None:
                self.folder.mkdir(parents=True, exist_ok=True)
                _append(self.folder / HOOK_FILE, json.dumps(asdict(hook), default=str))
            self._received.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Hook]:
        with self._received:
            self._received.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)

    def __enter__(self) -> WebhookSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _append(path: Path, line: str) -> None:
    if path.exists() and path.stat().st_size > MAX_FILE_BYTES:
        path.replace(path.with_name(path.name + ".1"))
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _tail(path: Path, limit: int) -> list[dict]:
    """The last `limit` JSON lines of a file (read from its last 1 MB at most)."""
    if not path.exists():
        return []
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 1024 * 1024))
        lines = handle.read().decode("utf-8", "replace").splitlines()
    out = []
    for line in lines[-limit:]:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut by the 1 MB window or a write in progress
    return out


def read_received(folder: Path, limit: int = 50) -> list[dict]:
    """What the sinks writing to `folder` received, newest first: `{"sink": "email" |
    "webhook", "received_at", "to", "subject", "body"}` (the demo's deliveries page shows it)."""
    folder = Path(folder)
    items = [
        {
            "sink": "email",
            "received_at": m.get("received_at", ""),
            "to": ", ".join(m.get("rcpt_to", [])),
            "subject": m.get("subject", ""),
            "body": m.get("body", ""),
        }
        for m in _tail(folder / MAIL_FILE, limit)
    ]
    for h in _tail(folder / HOOK_FILE, limit):
        body = h.get("body")
        if isinstance(body, dict):
            subject, text = str(body.get("title", "")), str(body.get("message", ""))
        else:
            subject, text = "", str(body)
        items.append(
            {
                "sink": "webhook",
                "received_at": h.get("received_at", ""),
                "to": h.get("path", ""),
                "subject": subject,
                "body": text,
            }
        )
    items.sort(key=lambda item: item["received_at"], reverse=True)
    return items[:limit]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Sinks:
    """Both sinks, as the demo runs them: `Sinks(folder).start()`; `.smtp_url`, `.webhook_url`."""

    def __init__(self, folder: Path | None = None, *, smtp_port: int = 0, webhook_port: int = 0):
        self.mail = MailSink(port=smtp_port, folder=folder)
        self.webhook = WebhookSink(port=webhook_port, folder=folder)

    @property
    def smtp_url(self) -> str:
        return self.mail.url

    def webhook_url(self, path: str = "/hook") -> str:
        return self.webhook.url(path)

    def start(self) -> Sinks:
        self.mail.start()
        try:
            self.webhook.start()
        except Exception:
            self.mail.stop()
            raise
        return self

    def stop(self) -> None:
        self.webhook.stop()
        self.mail.stop()

    def __enter__(self) -> Sinks:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
