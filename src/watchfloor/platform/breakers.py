"""The circuit breakers' state for the platform pages and for `/metrics`.

`breaker_states()` lists every circuit worth showing (broadcast, aggregation, and each
notification destination that failed within the last hour or is still open) with its state,
consecutive failures, when it opened and when it lets a trial through. The state is read from
the cache every process shares (watchfloor.circuit), so any web process answers the same.

`CircuitStateCollector` exposes it as `watchfloor_circuit_state{circuit}` (0 closed, 1 half-open,
2 open) and `watchfloor_circuit_failures{circuit}`: read at scrape time from the shared state,
not kept per process, so it is right in prometheus-client's multiprocess mode as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily

from watchfloor import circuit


@dataclass(frozen=True)
class BreakerRow:
    name: str
    kind: str  # broadcast, aggregation, notify
    state: str  # closed, half-open, open
    failures: int
    opened_at: datetime | None
    retry_at: datetime | None


def _aware(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def breaker_states() -> list[BreakerRow]:
    """Every circuit breaker with its state, failures, opened_at and retry_at, by name."""
    return [
        BreakerRow(
            name=s.name,
            kind=circuit.kind_of(s.name),
            state=s.state,
            failures=s.failures,
            opened_at=_aware(s.opened_at),
            retry_at=_aware(s.retry_at),
        )
        for s in circuit.states()
    ]


class CircuitStateCollector:
    """`watchfloor_circuit_state` and `watchfloor_circuit_failures`, from the shared state."""

    def describe(self):
        yield GaugeMetricFamily("watchfloor_circuit_state", "", labels=["circuit"])
        yield GaugeMetricFamily("watchfloor_circuit_failures", "", labels=["circuit"])

    def collect(self):
        state = GaugeMetricFamily(
            "watchfloor_circuit_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            labels=["circuit"],
        )
        failures = GaugeMetricFamily(
            "watchfloor_circuit_failures",
            "Consecutive failures a circuit breaker has counted.",
            labels=["circuit"],
        )
        for s in circuit.states():
            state.add_metric([s.name], s.gauge)
            failures.add_metric([s.name], s.failures)
        yield state
        yield failures


CIRCUITS = CircuitStateCollector()
