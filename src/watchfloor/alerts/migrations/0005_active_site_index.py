"""The active alerts of a few sites: the overview filtered by city, state, officer or site.

Without it PostgreSQL combined the site_id index (every alert of the site, ~1,000 each, nearly all
resolved) with the status index (every open alert of the tenant) per site: ~110 ms for the 18
sites of a city on 1,000,000 alerts; with it, a short range per site. Built CONCURRENTLY on
PostgreSQL (not atomic); covers no column a repeat writes.
"""

from django.db import migrations, models

from watchfloor.alerts.migrations._operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("alerts", "0004_overview_indexes"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="alert",
            index=models.Index(
                condition=models.Q(("status", "RESOLVED"), _negated=True),
                fields=["site", "status", "severity", "first_seen_at", "client"],
                name="alert_active_site",
            ),
        ),
    ]
