"""The Celery app for production workers: `celery -A watchfloor worker`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")

app = Celery("watchfloor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
