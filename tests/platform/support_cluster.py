"""Real Watchfloor processes on a scratch PostgreSQL database and a Redis database: web nodes
(`watchfloor serve`), a Celery `worker` and `beat`, each in a process group of its own that a
test may SIGKILL and start again. Used by test_kill9.py, test_scale_out.py and bench/kill9.py.

Fast jobs come from chaos_jobs.py (WATCHFLOOR_JOBS_SCHEDULE), not the production schedule.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "watchfloor.cli"]
START_TIMEOUT = 90.0  # a loaded 2-core machine

SEED = """
import json, django
django.setup()
from watchfloor.access.services import create_integration_key
from watchfloor.tenancy.models import Client, Site, Tenant
tenant = Tenant.objects.create(slug="chaos", name="Chaos")
client = Client.objects.create(tenant=tenant, code="CHAOS", name="Chaos client")
site = Site.objects.create(tenant=tenant, client=client, code="CHAOS-1", name="Chaos site")
key = create_integration_key(tenant, actor=None, name="chaos", source="native",
                             default_site=site).plain
print(json.dumps({"key": key}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_postgres_and_redis(pytest) -> tuple[str, str]:
    url, redis = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if url.startswith("postgres") and redis:
        return url, redis
    reason = (
        "needs DATABASE_URL (PostgreSQL) and REDIS_URL: web nodes, a Celery worker and beat "
        "share one database and broker (SQLite is one process's embedded mode)"
    )
    if os.environ.get("WATCHFLOOR_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"WATCHFLOOR_REQUIRE_POSTGRES=1 but {reason}")
    pytest.skip(reason)
    raise AssertionError  # unreachable


@dataclass
class Proc:
    name: str
    command: list[str]
    env: dict[str, str]
    home: Path
    process: subprocess.Popen | None = None
    pids: list[int] = field(default_factory=list)  # every pid it ever ran as

    def start(self) -> None:
        with (self.home / f"{self.name}.log").open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: killed by its id only
            )
        self.pids.append(self.process.pid)

    def kill9(self) -> None:
        """SIGKILL the whole group (a worker's pool children too): nothing runs a handler."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever is left of the group
        self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        path = self.home / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Web(Proc):
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start_and_wait(self) -> None:
        self.start()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url("/api/health/live"), timeout=2):  # noqa: S310
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.name} never answered:\n{self.log()[-3000:]}"
                    ) from None
                time.sleep(0.1)


class Cluster:
    """The processes share `env` (a scratch database, the Redis URL, a Celery queue of their
    own, the fast schedule)."""

    def __init__(
        self, database_url: str, redis_url: str, home: Path, schedule: str = "chaos_jobs.SCHEDULE"
    ):
        self.home = home
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DJANGO_SETTINGS_MODULE", "WATCHFLOOR_DEMO", "DJANGO_ALLOW_ASYNC_UNSAFE"}
        }
        self.env.update(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            WATCHFLOOR_HOME=str(home),
            DJANGO_SETTINGS_MODULE="watchfloor.settings",
            WATCHFLOOR_CELERY_QUEUE=f"chaos-{uuid.uuid4().hex[:12]}",
            WATCHFLOOR_JOBS_SCHEDULE=schedule,
            WATCHFLOOR_LOG_LEVEL="WARNING",
            PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            PYTHONUNBUFFERED="1",
        )
        self.procs: list[Proc] = []
        self.key = ""

    def prepare(self) -> None:
        self._run([*CLI, "migrate", "-v", "0"])
        self.key = json.loads(self._run([sys.executable, "-c", SEED]).splitlines()[-1])["key"]

    def _run(self, command: list[str]) -> str:
        done = subprocess.run(
            command, env=self.env, cwd=self.home, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command} exited {done.returncode}:\n{done.stderr[-3000:]}")
        return done.stdout

    def web(self, name: str, *extra: str) -> Web:
        port = free_port()
        command = [*CLI, "serve", "--port", str(port), "--workers", "1", *extra]
        web = Web(name, [*command, "--log-level", "warning"], self.env, self.home)
        web.port = port
        self.procs.append(web)
        web.start_and_wait()
        return web

    def job(self, command: str, *extra: str) -> Proc:
        if command == "pipeline":  # a Django command: no --log-level
            proc = Proc(command, [*CLI, command, *extra], self.env, self.home)
            self.procs.append(proc)
            proc.start()
            return proc
        proc = Proc(command, [*CLI, command, "--log-level", "warning"], self.env, self.home)
        if command == "worker":
            proc.command.insert(-2, "--concurrency=2")
        self.procs.append(proc)
        proc.start()
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


# --- ingestion load --------------------------------------------------------------------------
@dataclass
class Sent:
    keys: list[str]
    status: int | str  # the HTTP status, or the connection error's name


class Load:
    """Threads posting native batches to a web node: each batch is `new` unique fingerprints
    and `repeats` repeats of the thread's earlier ones. Every request is recorded with its
    answer (or the error that stood for one)."""

    def __init__(self, web: Web, key: str, *, threads: int = 4, new: int = 5, repeats: int = 5):
        self.web, self.key = web, key
        self.new, self.repeats = new, repeats
        self.sent: list[Sent] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, number: int) -> None:
        own: list[str] = []
        serial = 0
        while not self._stop.is_set():
            keys = []
            for _ in range(self.new):
                serial += 1
                keys.append(f"chaos-{number}-{serial}")
            keys += own[-50:][: self.repeats] if len(own) >= self.repeats else []
            status = self._post(keys)
            own.extend(keys[: self.new])
            with self._lock:
                self.sent.append(Sent(keys, status))
            if not isinstance(status, int):
                time.sleep(0.05)  # the node is down: do not spin

    def _post(self, keys: list[str]) -> int | str:
        body = json.dumps(
            [
                {"type": "DEVICE_OFFLINE", "severity": "HIGH", "title": k, "dedup_key": k}
                for k in keys
            ]
        ).encode()
        request = urllib.request.Request(  # noqa: S310 (loopback)
            self.web.url("/api/v1/integrations/native"),
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                answer.read()
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code
        except (OSError, ConnectionError, http.client.HTTPException) as error:
            # killed mid-answer (e.g. IncompleteRead after the status line): not answered
            return type(error).__name__

    def counts(self) -> tuple[Counter, Counter]:
        """Occurrences per fingerprint in requests answered 2xx, and in requests that were not."""
        answered, unanswered = Counter(), Counter()
        for sent in self.sent:
            ok = isinstance(sent.status, int) and 200 <= sent.status < 300
            (answered if ok else unanswered).update(sent.keys)
        return answered, unanswered


def verify(stored: dict[str, int], answered: Counter, unanswered: Counter) -> dict:
    """Every fingerprint answered 2xx is stored, with its occurrences counted exactly: as many
    as were answered when no unanswered request carried it, else between the answered count and
    that plus the unanswered ones (a request killed after its commit but before its answer)."""
    lost = {k: (n, stored.get(k, 0)) for k, n in answered.items() if stored.get(k, 0) < n}
    exact_keys = [k for k in answered if k not in unanswered]
    wrong = {k: (answered[k], stored.get(k)) for k in exact_keys if stored.get(k) != answered[k]}
    over = {
        k: (answered[k], unanswered[k], v)
        for k, v in stored.items()
        if v > answered[k] + unanswered[k]
    }
    return {
        "fingerprints_answered": len(answered),
        "occurrences_answered": sum(answered.values()),
        "fingerprints_stored": len(stored),
        "occurrences_stored": sum(stored.values()),
        "lost": lost,
        "wrong_counts": wrong,
        "more_than_sent": over,
        "ambiguous": len([k for k in unanswered if k in stored]),
    }


def staging_drained(database_conninfo: dict, timeout: float = 120) -> None:
    """Wait until the staging table is empty: every batch answered 2xx is folded into alerts
    (a 2xx means staged; the nodes' fold workers fold it). Raises after `timeout` (a bound on a
    hang, not a timing assertion)."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(**database_conninfo) as connection:
            [(pending,)] = connection.execute("SELECT count(*) FROM alerts_stagedbatch").fetchall()
        if not pending:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{pending} staged batches never folded")
        time.sleep(0.1)


def stored_occurrences(database_conninfo: dict) -> dict[str, int]:
    import psycopg

    with psycopg.connect(**database_conninfo) as connection:
        rows = connection.execute(
            "SELECT fingerprint, SUM(occurrence_count) FROM alerts_alert "
            "WHERE fingerprint LIKE 'chaos-%%' GROUP BY fingerprint"
        ).fetchall()
    return {fingerprint: int(total) for fingerprint, total in rows}
