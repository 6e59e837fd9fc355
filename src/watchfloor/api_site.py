"""The one NinjaAPI object and its URLs: each app contributes its router, mounted here with the
URL wiring (the API kernel in `api/` imports no app)."""

from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView
from ninja import NinjaAPI

from watchfloor.access.api import router as access_router
from watchfloor.access.api_auth import default_auth, install_access_handlers
from watchfloor.alerts.api import router as alerts_router
from watchfloor.alerts.runbook_api import router as runbooks_router
from watchfloor.api.docs import LocalSwagger
from watchfloor.api.errors import install_error_handlers
from watchfloor.api.parsing import BoundedJsonParser
from watchfloor.api.rendering import FastJSONRenderer
from watchfloor.audit.api import router as audit_router
from watchfloor.dashboard.api import router as overview_router
from watchfloor.dashboard.preferences_api import router as dashboard_settings_router
from watchfloor.incidents.api import router as incidents_router
from watchfloor.incidents.contact_api import router as client_contacts_router
from watchfloor.incidents.status_api import router as incident_status_router
from watchfloor.jobs.api import router as jobs_router
from watchfloor.maintenance.api import router as maintenance_router
from watchfloor.oncall.contact_api import router as notifications_router
from watchfloor.oncall.policy_api import router as escalation_router
from watchfloor.oncall.schedule_api import router as schedules_router
from watchfloor.operations.api import router as operations_router
from watchfloor.operations.heartbeat_api import router as heartbeats_router
from watchfloor.operations.policy_api import router as operations_policy_router
from watchfloor.reports.api import router as reports_router
from watchfloor.snapshots.api import router as snapshots_router
from watchfloor.snapshots.retention_api import router as retention_router
from watchfloor.tenancy.api import router as tenancy_router

api = NinjaAPI(
    title="Watchfloor API",
    version="1",
    description=(
        "Operations center API. Authenticate with `Authorization: Bearer <token>` "
        "(create one with `watchfloor token create` or POST /api/v1/tokens) or the browser "
        "session (send the CSRF token in `X-CSRFToken` on writes). Errors have one shape: "
        '`{"error": {"code", "message", "fields"}}`. Lists are paginated by cursor: pass the '
        "`next_cursor` of a page as `cursor`."
    ),
    urls_namespace="api-v1",
    auth=default_auth(),
    docs_url="/docs",
    docs=LocalSwagger(),
    parser=BoundedJsonParser(),
    renderer=FastJSONRenderer(),
)
install_error_handlers(api)
install_access_handlers(api)
api.add_router("", tenancy_router)
api.add_router("", access_router)
api.add_router("", audit_router)
api.add_router("", maintenance_router)
api.add_router("", alerts_router)
api.add_router("", incidents_router)
api.add_router("", incident_status_router)
api.add_router("", client_contacts_router)
api.add_router("", runbooks_router)
api.add_router("", overview_router)
api.add_router("", dashboard_settings_router)
api.add_router("", jobs_router)
api.add_router("", retention_router)
api.add_router("", snapshots_router)
api.add_router("", escalation_router)
api.add_router("", notifications_router)
api.add_router("", schedules_router)
api.add_router("", reports_router)
api.add_router("", operations_router)
api.add_router("", operations_policy_router)
api.add_router("", heartbeats_router)

urlpatterns = [
    path("api/v1/", api.urls),
    path("api/docs", RedirectView.as_view(url="/api/v1/docs", permanent=False), name="api-docs"),
]
