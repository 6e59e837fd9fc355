"""`/platform/exports/<name>`: the Grafana dashboard, the Prometheus alerting rules and their
unit tests (platform/exports/; a page of the dashboard, which may import the platform app,
not the other way round), downloaded as files by people with `noc:configure`. Only the
files listed here are served; any other name is a 404."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.views.decorators.http import require_safe

from watchfloor import platform
from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import has_capability
from watchfloor.dashboard.denied import forbidden

EXPORTS_DIR = Path(platform.__file__).resolve().parent / "exports"
EXPORTS = {
    "watchfloor-dashboard.json": "application/json",
    "watchfloor-rules.yml": "application/yaml",
    "watchfloor-rules.test.yml": "application/yaml",
}


@login_required
@require_safe
def export_file(request, name: str):
    if not has_capability(request.user, Capability.CONFIGURE):
        return forbidden(request, Capability.CONFIGURE)
    if name not in EXPORTS:
        raise Http404("No such export.")
    return FileResponse(
        (EXPORTS_DIR / name).open("rb"),
        as_attachment=True,
        filename=name,
        content_type=EXPORTS[name],
    )
