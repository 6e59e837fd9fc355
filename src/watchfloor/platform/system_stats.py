"""The host and Watchfloor's own processes, from psutil: CPU per core, memory, swap, disks,
network, load, boot time, and per process of Watchfloor its role, CPU, memory, threads, open
files and uptime.

Rates (CPU %, network bytes a second) are differences between two samples. The previous sample
is kept in this process; when there is none (the first view) or it is too old to be a fair
average, the collector takes two samples `SAMPLE_SECONDS` apart.

Which processes are Watchfloor's: this process, its parent and children, and every process whose
command line runs Watchfloor (the `watchfloor` console script, `python -m watchfloor…`, a server
or Celery pointed at a `watchfloor.` module). Command lines are read to classify, never shown:
they may carry secrets.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psutil

SAMPLE_SECONDS = 0.25  # between two samples when there is no recent previous one
PREVIOUS_MAX_AGE = 300.0  # an older previous sample would average over too long
PREVIOUS_MIN_AGE = 0.2  # a younger one is too noisy: sample again
MAX_PROCESSES = 64
LAUNCHERS = {"uv", "uvx", "pipx", "poetry", "pdm", "hatch"}  # start Watchfloor, are not it


@dataclass(frozen=True)
class Core:
    index: int
    percent: float


@dataclass(frozen=True)
class Memory:
    total: int
    available: int
    used: int
    percent: float
    swap_total: int
    swap_used: int
    swap_percent: float


@dataclass(frozen=True)
class Disk:
    mountpoint: str
    device: str
    fstype: str
    total: int
    used: int
    free: int
    percent: float


@dataclass(frozen=True)
class Nic:
    name: str
    bytes_sent: int
    bytes_recv: int
    packets_sent: int
    packets_recv: int
    errin: int
    errout: int
    dropin: int
    dropout: int
    sent_per_s: float | None
    recv_per_s: float | None


@dataclass(frozen=True)
class WatchfloorProcess:
    pid: int
    role: str
    this: bool
    cpu_percent: float | None  # over the sampling interval; None when not sampled twice
    rss: int | None
    threads: int | None
    open_fds: int | None  # None where the OS does not tell (another user's process)
    uptime_s: float | None


@dataclass(frozen=True)
class SystemStats:
    hostname: str
    sampled_over_s: float
    cpu_count: int
    cpu_count_physical: int | None
    cpu_percent: float
    cores: list[Core]
    load_average: tuple[float, float, float] | None
    boot_time: datetime
    uptime_s: float
    memory: Memory
    disks: list[Disk]
    nics: list[Nic]
    processes: list[WatchfloorProcess] = field(default_factory=list)


@dataclass
class _Sample:
    at: float
    cpu: list  # psutil scputimes per core
    net: dict  # nic -> snetio
    procs: dict[tuple[int, float], float]  # (pid, create_time) -> user + system CPU seconds


_lock = threading.Lock()
_previous: _Sample | None = None


def _busy_and_total(times) -> tuple[float, float]:
    total = sum(times)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


def _core_percents(before: list, after: list) -> list[float]:
    percents = []
    for a, b in zip(before, after, strict=False):
        busy_a, total_a = _busy_and_total(a)
        busy_b, total_b = _busy_and_total(b)
        span = total_b - total_a
        percents.append(
            round(max(0.0, min(100.0, (busy_b - busy_a) / span * 100)), 1) if span > 0 else 0.0
        )
    return percents


def is_watchfloor_command(cmdline: list[str]) -> bool:
    """Whether a command line runs Watchfloor (see the module docstring)."""
    for arg in cmdline:
        base = os.path.basename(arg)
        if base == "watchfloor" or arg.startswith("watchfloor.") or arg == "watchfloor":
            return True
        if "=watchfloor." in arg:  # --app=watchfloor.celery
            return True
    return False


def role_of(cmdline: list[str]) -> str:
    """What a Watchfloor process does, from its command line (never shown itself)."""
    words = [os.path.basename(a) for a in cmdline]
    joined = " ".join(words)
    if words and words[0] in LAUNCHERS:  # `uv run watchfloor serve`: the parent of the server
        return f"launcher ({words[0]})"
    if "celery" in joined:
        return "beat" if "beat" in words else "worker"
    for role in ("serve", "worker", "beat", "demo"):
        if role in words:
            return {"serve": "web"}.get(role, role)
    if any(w in ("uvicorn", "gunicorn", "granian", "daphne") for w in words):
        return "web"
    if "pytest" in joined:
        return "tests"
    if "runserver" in words:
        return "web (runserver)"
    return "command"


def _watchfloor_processes() -> list[psutil.Process]:
    me = psutil.Process()
    found: dict[int, psutil.Process] = {me.pid: me}
    try:
        parent = me.parent()
        if parent is not None:
            found[parent.pid] = parent
        for child in me.children(recursive=True):
            found[child.pid] = child
    except psutil.Error:
        pass
    for proc in psutil.process_iter(["cmdline"]):
        if len(found) >= MAX_PROCESSES:
            break
        cmdline = proc.info.get("cmdline") or []
        if proc.pid not in found and is_watchfloor_command(cmdline):
            found[proc.pid] = proc
    return sorted(found.values(), key=lambda p: p.pid)


def _take_sample(processes: list[psutil.Process]) -> _Sample:
    procs: dict[tuple[int, float], float] = {}
    for proc in processes:
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                procs[(proc.pid, proc.create_time())] = times.user + times.system
        except psutil.Error:
            continue
    return _Sample(
        at=time.monotonic(),
        cpu=psutil.cpu_times(percpu=True),
        net=psutil.net_io_counters(pernic=True),
        procs=procs,
    )


def _describe(
    proc: psutil.Process, before: _Sample, after: _Sample, now: float
) -> WatchfloorProcess | None:
    me = os.getpid()
    try:
        with proc.oneshot():
            created = proc.create_time()
            try:
                cmdline = proc.cmdline()
            except psutil.Error:
                cmdline = []
            role = role_of(cmdline) if is_watchfloor_command(cmdline) else ""
            if proc.pid == me:
                role = role or "this process"
            elif not role:
                role = "parent" if proc.pid == psutil.Process(me).ppid() else "child"
            key = (proc.pid, created)
            elapsed = after.at - before.at
            cpu = None
            if key in before.procs and key in after.procs and elapsed > 0:
                cpu = round((after.procs[key] - before.procs[key]) / elapsed * 100, 1)
            rss = threads = fds = None
            try:
                rss = proc.memory_info().rss
                threads = proc.num_threads()
                fds = proc.num_fds() if hasattr(proc, "num_fds") else None
            except psutil.AccessDenied:
                pass
            return WatchfloorProcess(
                pid=proc.pid,
                role=role,
                this=proc.pid == me,
                cpu_percent=cpu,
                rss=rss,
                threads=threads,
                open_fds=fds,
                uptime_s=round(now - created, 1),
            )
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return WatchfloorProcess(
            proc.pid, "unknown (access denied)", False, None, None, None, None, None
        )


def _disks() -> list[Disk]:
    disks, seen = [], set()
    for part in psutil.disk_partitions(all=False):
        if part.device in seen or part.mountpoint.startswith(("/snap", "/proc", "/sys")):
            continue
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:  # a mount that went away, or one this user may not stat
            continue
        seen.add(part.device)
        disks.append(
            Disk(
                part.mountpoint,
                part.device,
                part.fstype,
                usage.total,
                usage.used,
                usage.free,
                usage.percent,
            )
        )
    if not disks:  # containers may list no partition: the root at least
        usage = psutil.disk_usage("/")
        disks.append(Disk("/", "", "", usage.total, usage.used, usage.free, usage.percent))
    return disks


def collect() -> SystemStats:
    """The host and Watchfloor's processes now (see the module docstring for the rates)."""
    global _previous
    processes = _watchfloor_processes()
    with _lock:
        before = _previous
    after = _take_sample(processes)
    age = after.at - before.at if before else None
    if before is None or age is None or not (PREVIOUS_MIN_AGE <= age <= PREVIOUS_MAX_AGE):
        before = after
        time.sleep(SAMPLE_SECONDS)
        after = _take_sample(processes)
    with _lock:
        _previous = after
    elapsed = after.at - before.at

    cores = [Core(i, p) for i, p in enumerate(_core_percents(before.cpu, after.cpu))]
    busy_b = sum(_busy_and_total(t)[0] for t in before.cpu)
    total_b = sum(_busy_and_total(t)[1] for t in before.cpu)
    busy_a = sum(_busy_and_total(t)[0] for t in after.cpu)
    total_a = sum(_busy_and_total(t)[1] for t in after.cpu)
    overall = round((busy_a - busy_b) / (total_a - total_b) * 100, 1) if total_a > total_b else 0.0

    nics = []
    for name, io in sorted(after.net.items()):
        prev = before.net.get(name)
        rate = prev is not None and elapsed > 0
        nics.append(
            Nic(
                name=name,
                bytes_sent=io.bytes_sent,
                bytes_recv=io.bytes_recv,
                packets_sent=io.packets_sent,
                packets_recv=io.packets_recv,
                errin=io.errin,
                errout=io.errout,
                dropin=io.dropin,
                dropout=io.dropout,
                sent_per_s=round((io.bytes_sent - prev.bytes_sent) / elapsed, 1) if rate else None,
                recv_per_s=round((io.bytes_recv - prev.bytes_recv) / elapsed, 1) if rate else None,
            )
        )

    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    boot = psutil.boot_time()
    now = time.time()
    try:
        load = tuple(round(x, 2) for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on Linux
        load = None
    described = [_describe(p, before, after, now) for p in processes]
    return SystemStats(
        hostname=os.uname().nodename,
        sampled_over_s=round(elapsed, 2),
        cpu_count=psutil.cpu_count() or len(cores),
        cpu_count_physical=psutil.cpu_count(logical=False),
        cpu_percent=overall,
        cores=cores,
        load_average=load,  # type: ignore[arg-type]
        boot_time=datetime.fromtimestamp(boot, tz=UTC),
        uptime_s=round(now - boot, 0),
        memory=Memory(vm.total, vm.available, vm.used, vm.percent, sw.total, sw.used, sw.percent),
        disks=_disks(),
        nics=nics,
        processes=[p for p in described if p is not None],
    )


def reset() -> None:
    """Forget the previous sample (tests)."""
    global _previous
    with _lock:
        _previous = None
