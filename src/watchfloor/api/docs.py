"""The API docs page (/api/v1/docs) served entirely from the package.

ninja's own Swagger page loads Swagger UI from a CDN unless `ninja` is an installed app; a closed
operations network has no CDN. This page takes Swagger UI from drf-spectacular-sidecar (an
installed app shipping the swagger-ui-dist files) and starts it with a script of ours, so it
needs no inline script and no host but its own.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja.openapi.docs import Swagger, _csrf_needed


class LocalSwagger(Swagger):
    template = "api/swagger.html"
    # Swagger UI would otherwise load a validity badge from validator.swagger.io
    default_settings = {**Swagger.default_settings, "validatorUrl": None}

    def render_page(self, request: HttpRequest, api: Any, **kwargs: Any) -> HttpResponse:
        settings = {**self.settings, "url": self.get_openapi_url(api, kwargs)}
        context = {
            "swagger_settings": settings,
            "api": api,
            "add_csrf": _csrf_needed(api),
        }
        return render(request, self.template, context)
