"""WSGI entry point, for serving the HTTP API from gunicorn (gevent workers)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")

application = get_wsgi_application()
