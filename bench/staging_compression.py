"""PostgreSQL alone: what storing and reading a staged batch costs with each TOAST setting.

Every ingestion request appends one `alerts_stagedbatch` row whose `events` text is ~50 KB for
100 Alertmanager alerts (alerts.staging.encode); the fold reads it back and deletes it. Text that
large is compressed by TOAST on insert (pglz by default) and decompressed on read. This script
builds real staged texts (ingest.py's bodies, parsed and encoded as the request does), then in a
table shaped like the staging table inserts them one statement each, reads them back and deletes
them, for `pglz` (PostgreSQL's default), `lz4` and no compression (`STORAGE EXTERNAL`). It prints
the milliseconds per batch of each step and the ratio to pglz.

Writes bench/results/staging_compression.json and appends to docs/benchmarks.md (unless
--no-record). Uses the database `watchfloor_bench` (dropped and recreated).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from typing import Any

import django
import psycopg

import harness as h
import ingest

VARIANTS = {
    "pglz (default)": "ALTER TABLE staged ALTER COLUMN events SET COMPRESSION pglz",
    "lz4": "ALTER TABLE staged ALTER COLUMN events SET COMPRESSION lz4",
    "none (EXTERNAL)": "ALTER TABLE staged ALTER COLUMN events SET STORAGE EXTERNAL",
}


def staged_texts(count: int) -> list[str]:
    """`count` texts as `staging.encode` writes them for 100-alert Alertmanager bodies."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    django.setup()
    from watchfloor.alerts.fingerprints import content_hash, fingerprint_of
    from watchfloor.alerts.integrations.alertmanager import parse_v2_alerts
    from watchfloor.alerts.pipeline import Located, Prepared
    from watchfloor.alerts.staging import encode

    sites = [(f"C{i % 20:02d}", f"S{i:04d}") for i in range(200)]
    now = datetime.now(UTC)
    bodies = ingest.request_bodies(ingest.alert_pool(sites, now), batch=100, count=count, seed=1)
    texts = []
    for body in bodies:
        events = parse_v2_alerts(ingest.json.loads(body), now=now)
        prepared = [
            Prepared(e, Located(1, n), fingerprint_of(e, site_id=n), content_hash(e))
            for n, e in enumerate(events)
        ]
        texts.append(encode(prepared))
    return texts


def measure(conn: psycopg.Connection, setting: str, texts: list[str]) -> dict[str, Any]:
    conn.execute("DROP TABLE IF EXISTS staged")
    conn.execute(
        "CREATE TABLE staged (id bigserial PRIMARY KEY, tenant_id bigint, source varchar(20),"
        " received_at timestamptz, event_count integer, events text)"
    )
    conn.execute(setting)
    conn.commit()
    started = time.perf_counter()
    for text in texts:  # one INSERT and commit per request, as staging does
        conn.execute(
            "INSERT INTO staged (tenant_id, source, received_at, event_count, events)"
            " VALUES (1, 'alertmanager', now(), 100, %s)",
            [text],
        )
        conn.commit()
    insert_s = time.perf_counter() - started
    stored = conn.execute("SELECT pg_total_relation_size('staged')").fetchone()[0]
    started = time.perf_counter()
    for offset in range(0, len(texts), 50):  # the fold reads ~50 batches at a time
        rows = conn.execute(
            "SELECT id, events FROM staged ORDER BY id OFFSET %s LIMIT 50", [offset]
        ).fetchall()
        assert len(rows) == min(50, len(texts) - offset)
    conn.commit()
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute("DELETE FROM staged")
    conn.commit()
    delete_s = time.perf_counter() - started
    n = len(texts)
    return {
        "insert_ms": round(insert_s / n * 1000, 3),
        "read_ms": round(read_s / n * 1000, 3),
        "delete_ms": round(delete_s / n * 1000, 3),
        "bytes_per_batch_stored": round(stored / n),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="each setting this many times")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    texts = staged_texts(args.batches)
    size = sum(len(t.encode()) for t in texts) / len(texts)
    h.log(f"{len(texts)} staged texts, {size:,.0f} bytes each on average")
    h.reset_database()
    machine = h.machine_facts()
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    with psycopg.connect(f"host={h.PG_HOST} user={h.PG_USER} dbname={h.BENCH_DB}") as conn:
        for _ in range(args.rounds):  # interleaved, so drift on the machine hits all alike
            for name, setting in VARIANTS.items():
                rounds[name].append(measure(conn, setting, texts))
        conn.execute("DROP TABLE staged")
    best = {name: {k: min(r[k] for r in runs) for k in runs[0]} for name, runs in rounds.items()}
    base = best["pglz (default)"]
    lines = [
        "| TOAST setting | insert ms/batch | read ms/batch | delete ms/batch | stored bytes/batch "
        "| insert ÷ pglz | read ÷ pglz |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, b in best.items():
        lines.append(
            f"| {name} | {b['insert_ms']} | {b['read_ms']} | {b['delete_ms']} | "
            f"{b['bytes_per_batch_stored']:,} | {b['insert_ms'] / base['insert_ms']:.2f}× | "
            f"{b['read_ms'] / base['read_ms']:.2f}× |"
        )
    table = "\n".join(lines)
    print(table)
    h.write_json(
        "staging_compression",
        {"machine": machine, "batches": len(texts), "text_bytes": size, "rounds": rounds},
    )
    title = "staged batch text: TOAST compression (`bench/staging_compression.py`)"
    section = f"""### {h.now_utc()} — {title}

- Commit measured: `{h.git_commit()}`
- Command: `{h.command_line()}`
- Machine: {h.machine_line(machine)}
- Load: {len(texts):,} staged texts as `alerts.staging.encode` writes them for ingest.py's
  100-alert Alertmanager bodies ({size:,.0f} bytes each on average), one INSERT + commit each,
  read back 50 at a time, deleted; PostgreSQL alone, one connection; best of {args.rounds}
  interleaved rounds per setting.

{table}
"""
    if not args.no_record:
        h.append_docs(section)


if __name__ == "__main__":
    main()
