"""WSGI entry point, for serving the HTTP API from gunicorn (gevent workers): Django's handler,
with ingestion POSTs on a short middleware chain (watchfloor.front)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")

import django

django.setup(set_prefix=False)

from watchfloor.front import wsgi_application  # noqa: E402

application = wsgi_application()
