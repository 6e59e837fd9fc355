from django.urls import path

from watchfloor.dashboard import (
    ack_views,
    alert_views,
    alerts_views,
    contact_views,
    delivery_views,
    exports_views,
    incident_views,
    jobs_views,
    maintenance_views,
    oncall_views,
    platform_views,
    platform_workers_views,
    policy_views,
    settings_views,
    views,
)

app_name = "dashboard"

urlpatterns = [
    path("platform/", platform_views.index, name="platform"),
    path("platform/system/", platform_views.system, name="platform_system"),
    path("platform/database/", platform_views.database, name="platform_database"),
    path("platform/cache/", platform_views.cache, name="platform_cache"),
    path("platform/exports/", platform_views.exports, name="platform_exports"),
    path("platform/workers/", platform_workers_views.workers_page, name="platform_workers"),
    path("platform/status/", platform_workers_views.status_page, name="platform_status"),
    path("platform/samples/", platform_workers_views.samples, name="platform_samples"),
    path("platform/exports/<str:name>", exports_views.export_file, name="platform_export"),
    path("", views.home, name="home"),
    path("estate/", views.estate, name="estate"),
    path("settings/", settings_views.settings_page, name="settings"),
    path("settings/notifications/", contact_views.notifications_page, name="notifications"),
    path("deliveries/", delivery_views.deliveries, name="deliveries"),
    path("jobs/", jobs_views.jobs_page, name="jobs"),
    path("ack/<str:token>/", ack_views.ack_link, name="ack"),
    path("alerts/", alerts_views.alerts_page, name="alerts"),
    path("alerts/bulk/", alerts_views.alerts_bulk, name="alerts_bulk"),
    path("alerts/export.csv", alerts_views.alerts_export, name="alerts_export"),
    path("alerts/<int:alert_id>/", alert_views.alert_detail, name="alert"),
    path("incidents/", incident_views.incidents_page, name="incidents"),
    path("incidents/new/", incident_views.incident_from_alerts, name="incident_from_alerts"),
    path("incidents/policy/", incident_views.incident_policy, name="incident_policy"),
    path("incidents/<int:incident_id>/", incident_views.incident_detail, name="incident"),
    path(
        "incidents/<int:incident_id>/<str:action>/",
        incident_views.incident_action,
        name="incident_action",
    ),
    path("maintenance/", maintenance_views.maintenance, name="maintenance"),
    path("maintenance/new/", maintenance_views.maintenance_create, name="maintenance_create"),
    path(
        "maintenance/<int:window_id>/",
        maintenance_views.maintenance_window,
        name="maintenance_window",
    ),
    path(
        "maintenance/<int:window_id>/cancel/",
        maintenance_views.maintenance_cancel,
        name="maintenance_cancel",
    ),
    path("escalation/", policy_views.policies, name="policies"),
    path("escalation/new/", policy_views.policy_create, name="policy_create"),
    path("escalation/<int:policy_id>/", policy_views.policy_detail, name="policy"),
    path("escalation/<int:policy_id>/edit/", policy_views.policy_edit, name="policy_edit"),
    path("escalation/<int:policy_id>/delete/", policy_views.policy_delete, name="policy_delete"),
    path("oncall/", oncall_views.oncall, name="oncall"),
    path("oncall/new/", oncall_views.schedule_create, name="oncall_schedule_create"),
    path(
        "oncall/<int:schedule_id>/layers/",
        oncall_views.layer_create,
        name="oncall_layer_create",
    ),
    path(
        "oncall/<int:schedule_id>/overrides/",
        oncall_views.override_create,
        name="oncall_override_create",
    ),
    path("oncall/<int:schedule_id>/ical/", oncall_views.ical_upload, name="oncall_ical_upload"),
    path(
        "oncall/<int:schedule_id>/delete/",
        oncall_views.schedule_delete,
        name="oncall_schedule_delete",
    ),
    path(
        "oncall/layers/<int:layer_id>/delete/",
        oncall_views.layer_delete,
        name="oncall_layer_delete",
    ),
    path(
        "oncall/overrides/<int:override_id>/delete/",
        oncall_views.override_delete,
        name="oncall_override_delete",
    ),
    path("oncall/feeds/", oncall_views.feed_create, name="oncall_feed_create"),
    path("oncall/feeds/<int:feed_id>/revoke/", oncall_views.feed_revoke, name="oncall_feed_revoke"),
    path("oncall/calendar/<str:token>.ics", oncall_views.calendar_feed, name="oncall_calendar"),
]

# Not namespaced: settings.LOGIN_URL and django.contrib.auth name them `login` and `logout`.
auth_urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
]
