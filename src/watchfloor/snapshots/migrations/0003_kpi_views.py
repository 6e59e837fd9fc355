"""PostgreSQL only: the materialized views over the KPI snapshots (SQLite: nothing; queries.py
computes the same answers with plain queries).

- snapshots_kpi_hourly: per tenant, client, site (site_key 0 = the client's row) and hour
  (the hour a window's end falls in, a window ending on the hour closes the hour before), over
  the last 8 days: levels averaged, window counts (geofence) summed, `points` windows.
- snapshots_client_health: each client's newest row of the last day with its health score
  (snapshots/health.py, frozen here).
Both have a unique index on plain columns, as REFRESH … CONCURRENTLY needs.
"""

from django.db import migrations

LEVELS = (
    "tickets_open_p1", "tickets_open_p2", "tickets_open_p3", "tickets_open_p4",
    "tickets_overdue_p1", "tickets_overdue_p2", "tickets_overdue_p3", "tickets_overdue_p4",
    "work_orders_open", "work_orders_overdue", "work_orders_pending", "work_orders_scheduled",
    "work_orders_in_progress", "work_orders_on_hold",
    "attendance_expected", "attendance_present", "attendance_late", "attendance_missing",
    "devices_total", "devices_offline", "devices_synced",
    "security_anomalies", "alerts_open_critical", "alerts_open_high", "alerts_open_medium",
    "alerts_open_low", "alerts_open_info", "sync_health",
)  # fmt: skip
FLOWS = ("geofence_events", "geofence_breaches")
ALL = LEVELS[:-1] + FLOWS

HEALTH = """GREATEST(0, 100
  - LEAST(40, 10 * tickets_overdue_p1 + 5 * tickets_overdue_p2
              + 2 * (tickets_overdue_p3 + tickets_overdue_p4))
  - LEAST(15, 3 * work_orders_overdue)
  - CASE WHEN attendance_expected > 0 THEN LEAST(25,
        (25 * (2 * attendance_missing + attendance_late)) / (2 * attendance_expected))
    ELSE 0 END
  - CASE WHEN devices_total > 0 THEN (20 * devices_offline) / devices_total ELSE 0 END
  - LEAST(20, 10 * alerts_open_critical + 4 * alerts_open_high + 5 * security_anomalies))"""


def create_views(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    levels = ",\n".join(f'AVG("{c}")::real AS "{c}"' for c in LEVELS)
    flows = ",\n".join(f'SUM("{c}")::bigint AS "{c}"' for c in FLOWS)
    schema_editor.execute(
        f"""
        CREATE MATERIALIZED VIEW snapshots_kpi_hourly AS
        SELECT tenant_id, client_id, COALESCE(site_id, 0) AS site_key, MAX(site_id) AS site_id,
               date_trunc('hour', window_end - interval '1 second') AS hour,
               MAX(city) AS city, MAX(state) AS state,
               MAX(officer_in_charge_id) AS officer_in_charge_id,
               COUNT(*) AS points,
               {levels},
               {flows}
        FROM snapshots_kpisnapshot
        WHERE window_end >= now() - interval '8 days'
        GROUP BY tenant_id, client_id, COALESCE(site_id, 0),
                 date_trunc('hour', window_end - interval '1 second')
    """,  # noqa: S608 (constant column names)
    )
    schema_editor.execute(
        "CREATE UNIQUE INDEX snapshots_kpi_hourly_key "
        "ON snapshots_kpi_hourly (tenant_id, client_id, site_key, hour)"
    )
    schema_editor.execute(
        "CREATE INDEX snapshots_kpi_hourly_time ON snapshots_kpi_hourly (tenant_id, hour)"
    )
    measures = ", ".join(f'"{c}"' for c in ALL)
    schema_editor.execute(
        f"""
        CREATE MATERIALIZED VIEW snapshots_client_health AS
        SELECT DISTINCT ON (tenant_id, client_id) tenant_id, client_id, window_end,
               {HEALTH} AS score, sync_health, {measures}
        FROM snapshots_kpisnapshot
        WHERE site_id IS NULL AND window_end >= now() - interval '1 day'
        ORDER BY tenant_id, client_id, window_end DESC
    """,  # noqa: S608 (constant column names)
    )
    schema_editor.execute(
        "CREATE UNIQUE INDEX snapshots_client_health_key "
        "ON snapshots_client_health (tenant_id, client_id)"
    )


def drop_views(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP MATERIALIZED VIEW IF EXISTS snapshots_client_health")
    schema_editor.execute("DROP MATERIALIZED VIEW IF EXISTS snapshots_kpi_hourly")


class Migration(migrations.Migration):
    dependencies = [("snapshots", "0002_kpi_snapshot")]

    operations = [migrations.RunPython(create_views, drop_views)]
