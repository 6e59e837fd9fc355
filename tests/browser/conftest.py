"""The browser tests' harness: the real server in a process of its own, and Debian's chromium.

pytest-django's live_server is a WSGI thread: it cannot serve the dashboard's WebSocket. So the
package shares one `watchfloor serve` (HTTP and `/ws/dashboard/` on one free port: uvicorn alone on
SQLite, gunicorn's workers beside the uvicorn WebSocket process with REDIS_URL), with a
database of its own:

- SQLite (no DATABASE_URL): a file in a temporary WATCHFLOOR_HOME;
- PostgreSQL (DATABASE_URL set): a fresh database named like the test database plus `_browser`
  (`test_watchfloor_ci_browser`), dropped afterwards; REDIS_URL is kept, so live events travel
  from the ingestion request through Redis pub/sub to the page, as in production.

Before the server starts: `migrate`, then server_data.py loads the demo estate and the accounts,
tokens and integration key the tests use (in a process with the server's environment). The server
speaks plain http (WATCHFLOOR_SECURE_COOKIES=0) and has no map tile server
(WATCHFLOOR_MAP_TILE_URL=""): the map must work without one.

Everything here is skipped when /usr/bin/chromium is missing, unless WATCHFLOOR_REQUIRE_BROWSER=1
(set by .ci/run), which turns the skip into a failure. Playwright drives Debian's chromium:
never `playwright install`.

Playwright's sync API keeps an event loop in the test thread while it runs, which makes Django
refuse ORM calls in this process: the browser and the server are package-scoped (this folder is
a package for that reason), so both are gone before the rest of the suite runs, and these tests
never touch the ORM in-process (the server and server_data.py do).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest

from support_databases import scratch_database

from .support import CHROMIUM, CHROMIUM_ARGS

SERVE = [sys.executable, "-m", "watchfloor.cli", "serve"]
DATA_SCRIPT = Path(__file__).with_name("server_data.py")
START_TIMEOUT = 90.0  # seconds for the server to answer /api/health/ (a loaded 2-core machine)
COMMAND_TIMEOUT = 300.0  # seconds for migrate / seed / a direct ingest


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("WATCHFLOOR_REQUIRE_BROWSER") == "1":
        pytest.fail(f"WATCHFLOOR_REQUIRE_BROWSER=1 but the browser tests {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerError(RuntimeError):
    pass


@dataclass
class Response:
    status: int
    body: object


@dataclass
class LiveServer:
    """`watchfloor serve` in a subprocess that a test can stop and start again on its port."""

    env: dict[str, str]
    home: Path
    port: int = field(default_factory=_free_port)
    data: dict = field(default_factory=dict)  # what server_data.py seed printed
    process: subprocess.Popen | None = None
    mailbox: object = None  # demo_sinks.MailSink every email of the server goes to
    jobs: list = field(default_factory=list)  # Celery worker and beat (PostgreSQL + Redis runs)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/dashboard/"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    # --- the process -------------------------------------------------------------------
    def manage(self, *args: str) -> str:
        """`watchfloor <args>` with the server's environment; its output, or ServerError."""
        return self._run([sys.executable, "-m", "watchfloor.cli", *args])

    def data_script(self, *args: str, stdin: str | None = None) -> dict:
        """server_data.py with the server's environment; the JSON of its last line."""
        out = self._run([sys.executable, str(DATA_SCRIPT), *args], stdin=stdin)
        return json.loads(out.strip().splitlines()[-1])

    def _run(self, command: list[str], stdin: str | None = None) -> str:
        done = subprocess.run(
            command,
            env=self.env,
            cwd=self.home,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        if done.returncode != 0:
            raise ServerError(
                f"{' '.join(command[1:])} exited {done.returncode}:\n{done.stderr[-4000:]}"
            )
        return done.stdout

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        assert not self.running, "the server is already running"
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                [*SERVE, "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our own process group: stopped by its id only
            )
        finally:
            log.close()
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise ServerError(
                    f"the server exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                health = f"{self.url}/api/health/"  # a loopback http URL we build
                with urllib.request.urlopen(health, timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"no healthy answer in {START_TIMEOUT:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM (uvicorn closes the WebSockets and finishes requests), SIGKILL if it hangs."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def ensure_running(self) -> None:
        """A test that failed while the server was stopped must not take the next ones down."""
        if not self.running:
            self.process = None
            self.start()

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", "replace")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_since(max(0, self.log_size() - chars))

    # --- HTTP --------------------------------------------------------------------------
    def request(self, method: str, path: str, *, auth: str | None = None, body=None) -> Response:
        """A JSON request with `Authorization: Bearer <auth>`; HTTP errors are answers too."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {auth}"
        request = urllib.request.Request(  # noqa: S310 (a loopback http URL we build)
            self.url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return Response(status, json.loads(raw) if raw else None)

    def api(self, username: str, method: str, path: str, body=None) -> Response:
        """The REST API as one of the seeded users (by their API token)."""
        return self.request(method, path, auth=self.data["tokens"][username], body=body)

    def post_alerts(self, events: list[dict]) -> dict[str, int]:
        """Native events through the ingestion API; {title: alert id}."""
        answer = self.request(
            "POST",
            "/api/v1/integrations/native",
            auth=self.data["integration_key"],
            body=events,
        )
        assert answer.status == 202, answer.body
        # the answer says the batch is staged; the ids exist once the server has folded it
        keys = [event["dedup_key"] for event in events]
        assert [a["fingerprint"] for a in answer.body["alerts"]] == keys, answer.body
        found = self.data_script("alert-ids", self.data["integration_key"], stdin=json.dumps(keys))
        assert set(found) == set(keys), (found, self.log_tail())
        return {event["title"]: found[event["dedup_key"]] for event in events}

    def insert_alerts(self, events: list[dict]) -> dict[str, int]:
        """The same events stored by the pipeline in a separate process, without the server:
        they are never broadcast to anyone."""
        result = self.data_script("ingest", self.data["integration_key"], stdin=json.dumps(events))
        return self._ids(events, result)

    @staticmethod
    def _ids(events: list[dict], result: dict) -> dict[str, int]:
        created = [entry for entry in result["alerts"] if entry["outcome"] == "created"]
        by_key = {entry["fingerprint"]: entry["id"] for entry in created}
        assert len(by_key) == len(events), result
        return {event["title"]: by_key[event["dedup_key"]] for event in events}


def _server_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        # the test process' own switches must not reach the server
        if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "WATCHFLOOR_DEMO", "WATCHFLOOR_SECRET_KEY"}
    }
    env.update(
        WATCHFLOOR_HOME=str(home),
        DJANGO_SETTINGS_MODULE="watchfloor.settings",
        WATCHFLOOR_SECURE_COOKIES="0",  # plain http
        WATCHFLOOR_SSL_REDIRECT="0",
        WATCHFLOOR_MAP_TILE_URL="",  # no tile server: the map must still show the sites
        WATCHFLOOR_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def _database(env: dict[str, str]):
    """On PostgreSQL, a fresh `<test database>_browser` for the server, dropped afterwards."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        env.pop("DATABASE_URL", None)
        yield "sqlite"
        return
    with scratch_database(url, "browser") as (database, _conninfo):
        env["DATABASE_URL"] = database
        yield database.rsplit("/", 1)[-1]


def _start_job(server: LiveServer, command: str) -> subprocess.Popen:
    with (server.home / f"{command}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "watchfloor.cli", command, "--log-level", "warning"],
            env=server.env,
            cwd=server.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop_job(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # a worker's pool children go with it


@pytest.fixture(scope="package")
def live_server_process(tmp_path_factory):
    """The shared server, running and seeded (`.data`: accounts, tokens, key, clients, sites).

    Its email goes to a local SMTP server (`.mailbox`). Its jobs (escalation, notifications)
    run as in production: in the server's embedded scheduler on SQLite, and in a real
    `watchfloor worker` and `watchfloor beat` when REDIS_URL is set (a Celery queue of its own).
    """
    from watchfloor.demo.sinks import MailSink

    require_chromium()
    home = tmp_path_factory.mktemp("watchfloor-browser-home")
    env = _server_env(home)
    with _database(env), MailSink() as mailbox:
        server = LiveServer(env=env, home=home, mailbox=mailbox)
        env.update(
            WATCHFLOOR_SMTP_URL=mailbox.url,
            WATCHFLOOR_PUBLIC_URL=server.url,
            WATCHFLOOR_CELERY_QUEUE=f"browser-{uuid.uuid4().hex[:12]}",
        )
        server.manage("migrate", "--no-input")
        server.data = server.data_script("seed")
        if env.get("REDIS_URL"):
            server.jobs = [_start_job(server, "worker"), _start_job(server, "beat")]
        server.start()
        try:
            yield server
        finally:
            server.stop()
            for process in server.jobs:
                _stop_job(process)


@pytest.fixture
def server(live_server_process):
    """The shared server, started again if an earlier test left it stopped."""
    live_server_process.ensure_running()
    before = live_server_process.log_size()
    yield live_server_process
    # an exception inside the server (a consumer, the hub, a view) fails the test that caused it
    logged = live_server_process.log_since(before)
    assert "Traceback" not in logged, logged[-4000:]


@pytest.fixture(scope="package")
def browser():
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    # live updates travel through a server process (and Redis) on a shared 2-core machine
    expect.set_options(timeout=20_000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Tab:
    """A page with everything that went wrong in it recorded: HTTP errors, console errors,
    uncaught exceptions. `failures` should be empty at the end of a test."""

    def __init__(self, context, username: str | None):
        self.context = context
        self.username = username
        self.page = context.new_page()
        self.failures: list[str] = []
        self.page.on("response", self._response)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.failures.append(f"pageerror: {error}"))

    def _response(self, response) -> None:
        if response.status >= 400:
            self.failures.append(f"{response.status} {response.request.method} {response.url}")

    def _console(self, message) -> None:
        if message.type == "error":
            self.failures.append(f"console: {message.text}")


@pytest.fixture
def tabs(server, browser):
    """`tabs.open(username, path="/")`: a page in a new browser context signed in as that user
    (through the sign-in form once per user; later contexts reuse the session cookie)."""
    from playwright.sync_api import expect

    sessions: dict[str, dict] = _SESSIONS.setdefault(server.port, {})
    opened: list[Tab] = []

    class Tabs:
        def open(self, username: str | None, path: str = "/", **options) -> Tab:
            options.setdefault("viewport", {"width": 1440, "height": 900})
            options.setdefault("storage_state", sessions.get(username))
            context = browser.new_context(**options)
            tab = Tab(context, username)
            opened.append(tab)
            if username is not None and options["storage_state"] is None:
                # sign in straight to `path`: leaving a page while its WebSocket is still
                # connecting is a race these tests do not mean to exercise
                tab.page.goto(f"{server.url}/login/?{urlencode({'next': path})}")
                tab.page.get_by_label("Username").fill(username)
                tab.page.get_by_label("Password").fill(
                    server.data["accounts"][username]["password"]
                )
                tab.page.get_by_role("button", name="Sign in").click()
                expect(tab.page).to_have_url(server.url + path)
                # the session cookie only: localStorage (the page's last filters) stays fresh
                sessions[username] = {"cookies": context.storage_state()["cookies"], "origins": []}
            else:
                tab.page.goto(server.url + path)
            return tab

    yield Tabs()
    for tab in opened:
        tab.context.close()


# signed-in storage states per server port and username, for the whole package
_SESSIONS: dict[int, dict[str, dict]] = {}


_unique = iter(range(1, 1_000_000))


@pytest.fixture
def unique():
    """unique("Camera offline") -> "Camera offline #7": a title (and dedup key) no other alert
    of the server's fresh database has."""
    return lambda text: f"{text} #{next(_unique)}"
