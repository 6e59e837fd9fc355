"""Template context for every page: the signed-in user's theme (`system`, `light`, `dark`).

Read lazily and once per request (`cached_preferences`): a page that never prints `theme`
costs no query, and a view that reads the settings too shares the one query.
"""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from watchfloor.dashboard.preferences import cached_preferences


def theme(request) -> dict:
    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", False):
        return {}
    return {"theme": SimpleLazyObject(lambda: cached_preferences(request).theme)}
