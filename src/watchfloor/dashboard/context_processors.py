"""The one context processor for the top bar of every signed-in page (dashboard/app.html):
the user's tenant, role names, whether they run the platform (the Platform link) or may
configure (the Deliveries and Jobs links), theme
(`system`, `light`, `dark`) and time zone (an IANA name, or "" when they chose none:
`<body data-time-zone>`, read by js/time.js).

Each value is lazy: a page that never prints one costs no query, and the theme shares the one
read of the user's settings (`cached_preferences`) with a view that reads them too.
"""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import has_capability
from watchfloor.dashboard.preferences import cached_preferences
from watchfloor.platform.operators import is_platform_operator


def top_bar(request) -> dict:
    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", False):
        return {}
    return {
        "tenant": SimpleLazyObject(lambda: user.tenant),
        "roles": SimpleLazyObject(lambda: sorted(g.name for g in user.groups.all())),
        "theme": SimpleLazyObject(lambda: cached_preferences(request).theme),
        "time_zone": SimpleLazyObject(lambda: cached_preferences(request).time_zone),
        # the Platform link (dashboard/platform/): staff without a tenant, no query
        "platform_operator": is_platform_operator(user),
        # the Deliveries and Jobs links: the capability as access.scope caches it (the user's,
        # for a few seconds per process), not `perms` (two permission queries on every page)
        # (an active superuser holds every permission, as `perms` says, without a query)
        "nav_configure": lambda: (
            (user.is_active and user.is_superuser) or has_capability(user, Capability.CONFIGURE)
        ),
    }
