"""Indexes for the feed rules' steady run: the records changed since a time, per tenant
(`<kind>_changed`), and the shifts ending in a time range (`attendance_end`: a missing guard's
alert and a breach's clear when the shift ends). Built CONCURRENTLY on PostgreSQL (feeds keep
writing while they build), so the migration is not atomic."""

from django.db import migrations, models

from watchfloor.alerts.migrations._operations import AddIndexConcurrentlyOnPostgres


def _index(model_name: str, fields: list[str], name: str) -> AddIndexConcurrentlyOnPostgres:
    return AddIndexConcurrentlyOnPostgres(
        model_name=model_name, index=models.Index(fields=fields, name=name)
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("operations", "0002_feed_rules_mark"),
    ]

    operations = [
        _index("attendancerecord", ["tenant", "shift_end"], "attendance_end"),
        _index("attendancerecord", ["tenant", "updated_at"], "attendance_changed"),
        _index("device", ["tenant", "updated_at"], "device_changed"),
        _index("geofenceevent", ["tenant", "updated_at"], "geofence_changed"),
        _index("ticket", ["tenant", "updated_at"], "ticket_changed"),
        _index("workorder", ["tenant", "updated_at"], "work_order_changed"),
    ]
