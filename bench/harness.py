"""Shared plumbing for the bench/ scripts: machine facts, services, Watchfloor setup, wrk, reports.

Nothing here is imported by Watchfloor itself; the scripts run it from the outside, as an operator
would: the `watchfloor` CLI on production settings (PostgreSQL, Redis, debug off) and HTTP on
loopback. The load generator is `wrk` (Debian package), driven by `bench/wrk/cycle.lua`, which
cycles through pre-generated requests and prints its latency percentiles as one JSON line.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
CYCLE_LUA = BENCH / "wrk" / "cycle.lua"

PG_HOST = "127.0.0.1"
PG_USER = "postgres"
BENCH_DB = os.environ.get("BENCH_DB", "watchfloor_bench")  # one per engineer on a shared machine
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "12"))


def _terminate(signum, _frame) -> None:
    # SIGTERM (e.g. `timeout`) unwinds like Ctrl-C, so every `with Server(...)` stops its
    # server: the servers run in their own sessions and would otherwise outlive the script
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _terminate)


def log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def run(cmd: Sequence[str], *, env: dict[str, str] | None = None, check: bool = True, **kw):
    """Run a command, capture its output, raise with stderr shown when it fails."""
    proc = subprocess.run(  # noqa: S603 — fixed argument lists built here
        list(cmd), env=env, capture_output=True, text=True, check=False, **kw
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-2000:]}\n"
            f"{proc.stderr[-4000:]}"
        )
    return proc


def free_port() -> int:
    """A free port: the first free one of BENCH_PORTS ("8770-8779", an engineer's own range
    on a shared machine) when set, else any the system gives."""
    low, _, high = os.environ.get("BENCH_PORTS", "").partition("-")
    candidates = range(int(low), int(high or low) + 1) if low else [0]
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError(f"no free port in BENCH_PORTS={os.environ['BENCH_PORTS']}")


# --- tools -----------------------------------------------------------------------------------


def ensure_debian_package(binary: str, package: str) -> str:
    """Path of `binary`; installs the Debian package when it is missing (waits for dpkg's lock)."""
    found = shutil.which(binary)
    if found:
        return found
    log(f"{binary} missing: apt-get install -y {package}")
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", package]
    if os.geteuid() != 0:
        apt = ["sudo", "-n", *apt]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(apt, env=env)
    found = shutil.which(binary)
    if not found:
        raise RuntimeError(f"{package} installed but {binary} is not on PATH")
    return found


# --- machine facts ---------------------------------------------------------------------------


def _first_line(cmd: Sequence[str]) -> str:
    try:
        out = run(cmd, check=False)
    except FileNotFoundError:
        return "not installed"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def machine_facts(extra_versions: dict[str, Sequence[str]] | None = None) -> dict[str, Any]:
    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    os_name = platform.platform()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    pg = psql_value("SELECT version()", db="postgres")
    pg_settings = {
        name: psql_value(f"SHOW {name}", db="postgres")
        for name in ("synchronous_commit", "shared_buffers", "max_connections", "fsync")
    }
    redis_info = run(["redis-cli", "-h", "127.0.0.1", "INFO", "server"], check=False).stdout
    redis_version = re.search(r"redis_version:(\S+)", redis_info or "")
    facts = {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg.split(" on ")[0] if pg else "unknown",
        "postgresql_settings": pg_settings,
        "redis": redis_version.group(1) if redis_version else "unknown",
        "wrk": _first_line(["wrk", "-v"]).split(" [")[0],
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "commit": git_commit(),
        "packages": python_packages(),
    }
    for name, cmd in (extra_versions or {}).items():
        facts[name] = _first_line(cmd)
    return facts


def python_packages() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("django", "django-ninja", "pydantic", "uvicorn", "psycopg", "channels"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> str:
    head = run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], check=False)
    commit = head.stdout.strip() or "unknown"
    dirty = run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], check=False)
    return commit + ("+uncommitted-src" if dirty.stdout.strip() else "")


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"{m['nproc']} cores ({m['cpu_model']}), {m['ram_gib']} GiB RAM, {m['os']} "
        f"(kernel {m['kernel']}), Python {m['python']}, {m['postgresql']} "
        f"(synchronous_commit={m['postgresql_settings']['synchronous_commit']}, "
        f"shared_buffers={m['postgresql_settings']['shared_buffers']}), Redis {m['redis']}, "
        f"{m['wrk']}"
    )


# --- PostgreSQL and Redis --------------------------------------------------------------------


def psql(sql: str, *, db: str = BENCH_DB, timeout: float | None = None) -> str:
    out = run(
        [
            "psql",
            "-h",
            PG_HOST,
            "-U",
            PG_USER,
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-c",
            sql,
        ],
        timeout=timeout,
    )
    return out.stdout.strip()


def psql_value(sql: str, *, db: str = BENCH_DB) -> str:
    try:
        return psql(sql, db=db)
    except (RuntimeError, FileNotFoundError):
        return ""


def reset_database() -> None:
    """Drop and recreate the bench database, flush the bench Redis db."""
    log(f"drop and recreate database {BENCH_DB}, flush Redis db {REDIS_DB}")
    psql(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)", db="postgres")
    psql(f"CREATE DATABASE {BENCH_DB}", db="postgres")
    run(["redis-cli", "-h", "127.0.0.1", "-n", str(REDIS_DB), "FLUSHDB"])


# --- Watchfloor --------------------------------------------------------------------------------


@dataclass
class Estate:
    clients: list[str]
    sites: list[tuple[str, str]]  # (client code, site code)
    admin: str = "benchadmin"
    secrets: dict[str, str] = field(default_factory=dict)


def watchfloor_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATCHFLOOR_", "DJANGO_"))}
    env.update(
        DATABASE_URL=f"postgres://{PG_USER}@{PG_HOST}:5432/{BENCH_DB}",
        REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
        WATCHFLOOR_HOME=str(home),
        WATCHFLOOR_SECRET_KEY="bench-" + os.urandom(24).hex(),
        WATCHFLOOR_ALLOWED_HOSTS="127.0.0.1,localhost",
        WATCHFLOOR_DEBUG="false",
    )
    return env


def watchfloor(args: Sequence[str], env: dict[str, str], **kw) -> str:
    """Run `uv run watchfloor ARGS` in the checkout; returns stdout."""
    return run(["uv", "run", "--frozen", "watchfloor", *args], env=env, cwd=ROOT, **kw).stdout


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1].strip()


_ESTATE_SNIPPET = """
from watchfloor.tenancy.models import Tenant
from watchfloor.tenancy.services import create_client, create_site
tenant = Tenant.objects.get(slug="bench")
for c in range({clients}):
    client = create_client(tenant, actor=None, code=f"C{{c:03d}}", name=f"Client {{c}}")
    for s in range({sites}):
        create_site(
            tenant, actor=None, client=client, code=f"C{{c:03d}}-S{{s:02d}}",
            name=f"Site {{c}}.{{s}}", city=f"City {{s % 7}}", state=f"State {{c % 5}}",
        )
"""


def setup_watchfloor(
    env: dict[str, str], *, clients: int = 20, sites_per_client: int = 10, key_sources=()
) -> Estate:
    """Migrate the fresh database, create the bench tenant, its estate and credentials."""
    log("watchfloor migrate")
    watchfloor(["migrate", "--noinput"], env)
    out = watchfloor(
        ["tenant", "create", "--slug", "bench", "--name", "Bench", "--admin", "benchadmin"], env
    )
    estate = Estate(
        clients=[f"C{c:03d}" for c in range(clients)],
        sites=[
            (f"C{c:03d}", f"C{c:03d}-S{s:02d}")
            for c in range(clients)
            for s in range(sites_per_client)
        ],
    )
    estate.secrets["admin_password"] = last_line(out)
    log(f"create {clients} clients x {sites_per_client} sites")
    watchfloor(
        ["shell", "-c", _ESTATE_SNIPPET.format(clients=clients, sites=sites_per_client)], env
    )
    for source in key_sources:
        out = watchfloor(
            ["integration-key", "create", "--tenant", "bench", "--source", source], env
        )
        estate.secrets[f"key_{source}"] = last_line(out)
    out = watchfloor(["token", "create", "--user", "benchadmin", "--name", "bench"], env)
    estate.secrets["api_token"] = last_line(out)
    return estate


# --- servers ---------------------------------------------------------------------------------


class Server:
    """A server process group started by a bench script, stopped by its own id."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        port: int,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ):
        self.name = name
        self.cmd = list(cmd)
        self.port = port
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 — closed in stop()
        log(f"start {name}: {' '.join(self.cmd)}")
        self.proc = subprocess.Popen(  # noqa: S603
            self.cmd,
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited {self.proc.returncode}; see "
                    f"{self.log_path}:\n{self.tail()}"
                )
            try:
                with urllib.request.urlopen(self.base_url + path, timeout=2) as resp:  # noqa: S310
                    if resp.status < 500:
                        return
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.tail()}")

    def processes(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def tail(self, n: int = 30) -> str:
        self._log.flush()
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            log(f"stop {self.name}")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def http(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- CPU accounting --------------------------------------------------------------------------


def _cpu_by_pid(procs: Sequence[psutil.Process]) -> dict[int, float]:
    out = {}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
    return out


def _named(names: Sequence[str]) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] in names]


def _postgres_procs() -> list[psutil.Process]:
    """The postmaster, its auxiliary processes and the backends of the bench database only
    (other databases' backends, e.g. a test suite running beside, count as "other")."""
    out = []
    for p in _named(["postgres"]):
        with contextlib.suppress(psutil.Error):
            title = " ".join(p.cmdline())
            backend = "(" in title or "[local]" in title
            if not backend or f" {BENCH_DB} " in title:
                out.append(p)
    return out


def _delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two snapshots: processes born in between count whole; processes
    that exited in between are lost (a small undercount, e.g. a closed database connection)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


class CpuMeter:
    """CPU seconds used during a phase by the server, wrk, PostgreSQL, Redis and the machine."""

    def __init__(self, server: Server):
        self.server = server

    def _snapshot(self) -> dict[str, dict[int, float]]:
        return {
            "server": _cpu_by_pid(self.server.processes()),
            "postgres": _cpu_by_pid(_postgres_procs()),
            "redis": _cpu_by_pid(_named(["redis-server"])),
        }

    def start(self) -> None:
        self.before = self._snapshot()
        self.t0 = time.monotonic()
        self.m0 = psutil.cpu_times()

    def stop(self, wrk_cpu_seconds: float) -> dict[str, float]:
        wall = time.monotonic() - self.t0
        m1 = psutil.cpu_times()
        after = self._snapshot()
        busy = sum(
            getattr(m1, f) - getattr(self.m0, f)
            for f in m1._fields
            if f not in ("idle", "iowait", "guest", "guest_nice")
        )

        def pct(seconds: float) -> float:
            return round(100 * seconds / wall, 1)

        # percent of ONE core (200 % = both cores of a 2-core machine busy)
        out = {
            "server_pct": pct(_delta(self.before["server"], after["server"])),
            "postgres_pct": pct(_delta(self.before["postgres"], after["postgres"])),
            "redis_pct": pct(_delta(self.before["redis"], after["redis"])),
            "wrk_pct": pct(wrk_cpu_seconds),
            "machine_busy_pct": pct(busy),
            "machine_capacity_pct": 100 * (os.cpu_count() or 1),
        }
        ours = sum(out[k] for k in ("server_pct", "postgres_pct", "redis_pct", "wrk_pct"))
        # everything else: the kernel's softirq work for loopback, and any other process
        out["other_pct"] = round(max(0.0, out["machine_busy_pct"] - ours), 1)
        return out


def cpu_by_process(server: Server) -> dict[str, float]:
    """CPU seconds so far of each server process (by its command line, shortened) and of the
    bench database's PostgreSQL processes together: two snapshots' difference says which
    process a phase's work went to (`cpu_spent`)."""
    out: dict[str, float] = {}
    for p in server.processes():
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            name = " ".join(p.cmdline()[1:4])[-60:] + f" [{p.pid}]"
            out[name] = t.user + t.system
    out["postgres"] = sum(_cpu_by_pid(_postgres_procs()).values())
    return out


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(v - before.get(k, 0.0), 2) for k, v in after.items() if v - before.get(k, 0.0)}


def machine_busy_pct(seconds: float = 2.0) -> float:
    """Percent of one core the whole machine used over `seconds` (idle and iowait excluded)."""
    a = psutil.cpu_times()
    time.sleep(seconds)
    b = psutil.cpu_times()
    busy = sum(
        getattr(b, f) - getattr(a, f)
        for f in b._fields
        if f not in ("idle", "iowait", "guest", "guest_nice")
    )
    return round(100 * busy / seconds, 1)


# how long wait_quiet waits by default; a script may lower it (`--quiet-timeout`)
QUIET_TIMEOUT = float(os.environ.get("BENCH_QUIET_TIMEOUT", "300"))  # seconds


def wait_quiet(max_busy_pct: float = 30.0, timeout: float | None = None) -> float:
    """Wait (bounded) until the machine is nearly idle before a measurement; returns busy %.

    Other work on a shared machine (a test suite, a build) would take CPU from the servers under
    test; the figure recorded next to each run says how busy the machine was just before it.
    """
    timeout = QUIET_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    busy = machine_busy_pct()
    while busy > max_busy_pct and time.monotonic() < deadline:
        log(f"machine busy ({busy:.0f} % of one core) before a measurement: waiting")
        time.sleep(5)
        busy = machine_busy_pct()
    if busy > max_busy_pct:
        log(f"machine still busy ({busy:.0f} %) after {timeout:.0f}s: measuring anyway")
    return busy


# --- wrk -------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    errors: dict[str, int]
    latency_ms: dict[str, float]
    cpu: dict[str, float]
    command: str
    pg_sessions: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "requests_per_s": round(self.rps, 1),
            "errors": self.errors,
            "latency_ms": self.latency_ms,
            "cpu_pct_of_one_core": self.cpu,
            "pg_sessions": self.pg_sessions,
            "command": self.command,
        }


class PgActivity:
    """Samples what the bench database's sessions are doing (pg_stat_activity) during a run.

    The summary is the average number of sessions per state: running a statement on the CPU
    (`active`), waiting for a lock (`Lock:transactionid`, `Lock:tuple`…), waiting on I/O or the
    WAL (`IO:…`, `LWLock:…`), and idle in or out of a transaction (the server holds them).
    """

    SQL = (
        "SELECT CASE WHEN state = 'active' AND wait_event_type IS NOT NULL "
        "THEN 'active, waiting ' || wait_event_type || ':' || wait_event ELSE state END, count(*) "
        "FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend' "
        "AND pid <> pg_backend_pid() GROUP BY 1"
    )

    def __init__(self) -> None:
        self.samples = 0
        self.totals: dict[str, int] = {}
        try:
            import psycopg

            self.conn = psycopg.connect(
                f"host={PG_HOST} user={PG_USER} dbname=postgres", autocommit=True
            )
        except Exception as exc:  # sampling is optional
            log(f"pg_stat_activity sampling off: {exc}")
            self.conn = None

    def sample(self) -> None:
        if self.conn is None:
            return
        self.samples += 1
        for state, n in self.conn.execute(self.SQL, (BENCH_DB,)).fetchall():
            self.totals[state or "unknown"] = self.totals.get(state or "unknown", 0) + n

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {}
        avg = {k: round(v / self.samples, 2) for k, v in self.totals.items()}
        return dict(sorted(avg.items(), key=lambda kv: -kv[1]))


def write_requests(path: Path, lines: Iterator[tuple[str, str]]) -> int:
    """Write "<path>\\t<body>" lines for cycle.lua; returns the count."""
    n = 0
    with open(path, "w") as f:
        for req_path, body in lines:
            assert "\n" not in body and "\t" not in req_path
            f.write(f"{req_path}\t{body}\n")
            n += 1
    return n


def wrk(
    server: Server,
    *,
    method: str,
    requests_file: Path,
    headers: dict[str, str],
    seconds: float,
    connections: int,
    threads: int = 2,
    timeout_s: int = 10,
    quiet: bool = True,
) -> WrkResult:
    url = server.base_url + "/"
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(CYCLE_LUA),
        url,
        "--",
        method,
        str(requests_file),
        str(threads),
        *[f"{k}: {v}" for k, v in headers.items()],
    ]
    shown = " ".join(f"'{c}'" if " " in c else c for c in cmd)
    for value in headers.values():  # never print credentials
        secret = "Bearer" in value or "sessionid=" in value
        shown = shown.replace(value, "<secret>") if secret else shown
    idle_before = wait_quiet() if quiet else None
    meter = CpuMeter(server)
    meter.start()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
    ps = psutil.Process(proc.pid)
    wrk_cpu = 0.0
    pg = PgActivity()
    while proc.poll() is None:  # sample wrk's CPU time and PostgreSQL's sessions until it exits
        with contextlib.suppress(psutil.Error):
            t = ps.cpu_times()
            wrk_cpu = t.user + t.system
        pg.sample()
        time.sleep(0.25)
    pg.close()
    out, err = proc.communicate()
    cpu = meter.stop(wrk_cpu)
    cpu["machine_busy_before_pct"] = idle_before
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}\n{err}")
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}\n{err}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    secs = data["duration_us"] / 1e6
    lat = {k: round(v / 1000, 2) for k, v in data["latency_us"].items()}
    return WrkResult(
        pg_sessions=pg.summary(),
        requests=data["requests"],
        seconds=secs,
        rps=data["requests"] / secs if secs else 0.0,
        errors=data["errors"],
        latency_ms=lat,
        cpu=cpu,
        command=shown,
    )


# --- reports ---------------------------------------------------------------------------------


def write_json(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    log(f"wrote {path.relative_to(ROOT)}")
    return path


def append_docs(section: str) -> None:
    """Append one dated section to docs/benchmarks.md (never rewrites earlier ones)."""
    text = DOCS.read_text()
    placeholder = "No figures yet: `bench/` arrives with the ingestion pipeline.\n"
    if placeholder in text:
        text = text.replace(placeholder, "")
    DOCS.write_text(text.rstrip("\n") + "\n\n" + section.strip("\n") + "\n")
    log(f"appended a section to {DOCS.relative_to(ROOT)}")


def command_line() -> str:
    args = " ".join(sys.argv[1:])
    script = Path(sys.argv[0]).resolve().relative_to(ROOT)
    return f"uv run python {script} {args}".strip()


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A temporary directory for a run (servers' homes and logs). With `BENCH_KEEP_LOGS=DIR`
    the servers' logs in it are copied under DIR when the run ends (a failed request's cause)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        try:
            yield Path(d)
        finally:
            keep = os.environ.get("BENCH_KEEP_LOGS")
            if keep:
                target = Path(keep) / f"{prefix}{dt.datetime.now():%Y%m%d-%H%M%S}"
                for found in Path(d).rglob("*.log"):
                    dest = target / found.relative_to(d)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(found, dest)


# --- profiling -------------------------------------------------------------------------------


def start_pyspy(pid: int, seconds: float, out: Path, *, rate: int = 200) -> subprocess.Popen:
    """Sample `pid` and its subprocesses with py-spy (from PyPI via `uv tool run`).

    Every thread is sampled, idle or not (`--idle`, `--threads`): the summary classifies the
    samples by what the thread was doing, so waits (PostgreSQL, the event loop, a lock) and CPU
    are both visible. Writes collapsed stacks ("frame;frame;… count" lines) to `out`.
    """
    cmd = [
        "uv",
        "tool",
        "run",
        "py-spy",
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--idle",
        "--threads",
        "--nonblocking",
        "--rate",
        str(rate),
        "--duration",
        str(round(seconds)),
        "--format",
        "raw",
        "--output",
        str(out),
    ]
    log(f"profile: {' '.join(cmd)}")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # noqa: S603


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _frame_name(frame: str) -> str:
    """`func (path/to/file.py:123)` → `func (pkg/file.py)`: lines folded, paths shortened."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path})"


_WAITS = (
    "Condition.wait",
    "Event.wait",
    "Connection.wait",
    "BaseConnection.wait",
    "wait (",
    "wait_c",
    "Connection._recv",
    "_recv",
    "select",
    "poll",
    "Lock.acquire",
    "acquire",
    "Thread.join",
    "_wait_for_tstate_lock",
)


def _classify(frames: list[str]) -> str:
    """What a sampled request thread was doing (frames root first, already shortened).

    py-spy cannot tell idle threads apart on this VM (`--idle` is needed to see waits at all),
    so a sample counts as a wait when its innermost frame is a blocking call; psycopg's
    `Connection.wait` is where a statement, a lock wait inside PostgreSQL or a commit blocks.
    """
    leaf = frames[-1]
    stack = " ".join(frames)
    if leaf.startswith(("ClientCursorMixin._execute_send", "BaseConnection._exec_command")):
        # a libpq call in C (sending a statement); py-spy shows the Python caller, and the
        # thread may also be waiting there to take the GIL back from another thread
        return "in libpq send calls (C, or re-taking the GIL)"
    if not leaf.startswith(_WAITS):
        return "running Python"
    if "getconn" in stack:
        return "waiting for a pooled database connection"
    if "psycopg/" in leaf or "psycopg/" in stack:
        return "waiting for PostgreSQL (a statement, a lock, the commit)"
    if "redis" in stack:
        return "waiting for Redis"
    if "run_until_future" in stack:
        return "waiting for the event loop (AsyncToSync hop inside the middleware chain)"
    return "waiting (other)"


def profile_summary(path: Path, top: int = 20) -> dict[str, Any]:
    """Classify py-spy samples by thread role and activity; top functions of request work.

    - request threads: stacks that run Django's handler in a worker thread (sync views under
      ASGI): each sample is classified (`_classify`), and the functions they run are ranked;
    - event-loop threads: the uvicorn worker main threads (parsing HTTP, switching threads);
    - idle: pool and executor threads parked with nothing to do, dropped.
    Samples are per thread: with several request threads, shares add up across them.
    """
    stacks: dict[str, int] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[stack] = stacks.get(stack, 0) + int(count)
    roles: dict[str, int] = {}
    request_kinds: dict[str, int] = {}
    self_counts: dict[str, int] = {}
    incl_counts: dict[str, int] = {}
    loop_leaf: dict[str, int] = {}
    for stack, count in stacks.items():
        raw = [f for f in stack.split(";") if f.strip()]
        frames = [_frame_name(f) for f in raw if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        joined = " ".join(frames)
        if "MainThread" in stack and "uvicorn" in joined:
            role = "event loop (worker main thread)"
            loop_leaf[frames[-1]] = loop_leaf.get(frames[-1], 0) + count
        elif "django/core/handlers" in joined:  # a sync view's thread (ASGI) or a WSGI worker
            role = "request thread"
            kind = _classify(frames)
            request_kinds[kind] = request_kinds.get(kind, 0) + count
            if kind == "running Python":
                self_counts[frames[-1]] = self_counts.get(frames[-1], 0) + count
                start = next(i for i, f in enumerate(frames) if "django/core/handlers" in f)
                for f in set(frames[start:]):
                    if "watchfloor/" in f:  # the application's own steps within the request
                        incl_counts[f] = incl_counts.get(f, 0) + count
        else:
            role = "idle or housekeeping threads"
        roles[role] = roles.get(role, 0) + count
    req_total = sum(request_kinds.values()) or 1
    py_total = request_kinds.get("running Python", 0) or 1

    def top_of(d: dict[str, int], total: int) -> list[dict[str, Any]]:
        best = sorted(d.items(), key=lambda kv: -kv[1])[:top]
        return [{"function": k, "samples": v, "pct": round(100 * v / total, 1)} for k, v in best]

    return {
        "samples_by_role": dict(sorted(roles.items(), key=lambda kv: -kv[1])),
        "request_threads": top_of(request_kinds, req_total),
        "request_python_self": top_of(self_counts, py_total),
        "request_python_inclusive": top_of(incl_counts, py_total),
        "event_loop_leaf": top_of(loop_leaf, sum(loop_leaf.values()) or 1),
    }


def format_profile(summary: dict[str, Any], n: int = 12) -> str:
    lines = ["samples by thread role: " + json.dumps(summary["samples_by_role"])]
    lines.append("request threads, % of their samples:")
    lines += [f"  {r['pct']:6.1f}  {r['function']}" for r in summary["request_threads"]]
    lines.append("request threads running Python, by own time (% of running samples):")
    lines += [f"  {r['pct']:6.1f}  {r['function']}" for r in summary["request_python_self"][:n]]
    lines.append("... and inclusive, Watchfloor's own functions:")
    lines += [
        f"  {r['pct']:6.1f}  {r['function']}" for r in summary["request_python_inclusive"][:n]
    ]
    lines.append("event-loop threads, by leaf frame (native code shows as Runner.run):")
    lines += [f"  {r['pct']:6.1f}  {r['function']}" for r in summary["event_loop_leaf"][:6]]
    return "\n".join(lines)


def measure(
    server: Server,
    *,
    method: str,
    requests_file: Path,
    headers: dict[str, str],
    warmup: float,
    seconds: float,
    connections: int,
    max_other_pct: float = 25.0,
    attempts: int = 3,
) -> tuple[WrkResult, WrkResult, list[dict[str, Any]]]:
    """Warm-up then a measured wrk run, repeated (bounded) when other work took the CPU.

    A run during which processes other than ours used more than `max_other_pct` of one core
    (a test suite on the same machine, say) is repeated, up to `attempts` runs in all; the run
    with the least interference is kept, and every attempt is returned for the record.
    """
    tried: list[tuple[WrkResult, WrkResult]] = []
    for attempt in range(attempts):
        warm = wrk(
            server,
            method=method,
            requests_file=requests_file,
            headers=headers,
            seconds=warmup,
            connections=connections,
        )
        res = wrk(
            server,
            method=method,
            requests_file=requests_file,
            headers=headers,
            seconds=seconds,
            connections=connections,
            quiet=False,
        )
        tried.append((warm, res))
        if res.cpu["other_pct"] <= max_other_pct:
            break
        log(
            f"other processes used {res.cpu['other_pct']:.0f} % of a core during the run "
            f"(attempt {attempt + 1}/{attempts})"
            + ("; repeating" if attempt + 1 < attempts else "")
        )
    warm, res = min(tried, key=lambda wr: wr[1].cpu["other_pct"])
    summary = [
        {
            "requests_per_s": round(r.rps, 1),
            "other_pct": r.cpu["other_pct"],
            # answered 2xx/3xx in the warm-up and the measured run (for read-back checks)
            "ok_requests": sum(x.requests - x.errors["status"] for x in (w, r)),
        }
        for w, r in tried
    ]
    return warm, res, summary
