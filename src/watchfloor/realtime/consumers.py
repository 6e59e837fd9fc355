"""`/ws/dashboard/`: the dashboard's live connection (protocol in docs/api.md, "WebSocket").

Authenticated by the browser session or an API token (`Authorization: Bearer`), `noc:view`
required, Origin checked (a browser page of another site cannot open it with your cookie),
`settings.REALTIME_RATE_LIMIT` messages a minute. It parses messages and calls the same services
and queries as the REST API; the scope filtering and masking of events is `viewer.Viewer`, the
coalescing of bursts `outbox.Outbox`, the fan-out `hub.HUB`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from functools import partial
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404
from django.http.request import validate_host
from django.utils import timezone
from pydantic import ValidationError

from watchfloor.access.api_auth import may_use_api
from watchfloor.access.capabilities import Capability
from watchfloor.access.services import authenticate_api_token
from watchfloor.alerts import overview_queries
from watchfloor.alerts.overview_schemas import OverviewQuery
from watchfloor.alerts.queries import access_alert
from watchfloor.alerts.services import IllegalTransition, acknowledge_alert
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.realtime import metrics
from watchfloor.realtime.hub import HUB
from watchfloor.realtime.outbox import Chunk, Outbox, encode
from watchfloor.realtime.ratelimit import SlidingWindowLimit
from watchfloor.realtime.viewer import EVERYTHING, Viewer, load_viewer

log = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's): the page stops reconnecting on 4401/4403.
UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED = 4401, 4403, 4429
SCOPE_REFRESH_SECONDS = 60
# the longest a new connection waits for its process's Redis subscription before "hello"
LIVE_WAIT_SECONDS = 5.0
MAX_CODES = 500


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """The page's origin is this server (its Host) or one of the configured trusted origins."""
    if not origin:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return False
    return parts.netloc == host and validate_host(parts.hostname or "", settings.ALLOWED_HOSTS)


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _render(viewer: Viewer, shared: dict, event: dict) -> tuple[dict, str]:
    """The event as `viewer` sees it, with its JSON: masked once per event and encoded once per
    shown event for every group of one dispatch (`shared`). An entry holds the object its key
    is the id of (see `Viewer.shown`): a masked copy made after another object was freed may
    get that object's id, and must never be sent the other's JSON."""
    shown = viewer.shown(event, shared)
    key = ("json", id(shown))
    hit = shared.get(key)
    if hit is not None and hit[0] is shown:
        return shown, hit[1]
    text = encode(shown)
    shared[key] = (shown, text)
    return shown, text


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    # Fan-out goes through the hub, not a channel layer (docs/decisions.md).
    channel_layer_alias = "__watchfloor_no_channel_layer__"

    # --- connection ----------------------------------------------------------------------
    async def connect(self):
        self.viewer: Viewer | None = None
        self.outbox = Outbox()
        self.limit = SlidingWindowLimit(settings.REALTIME_RATE_LIMIT, 60.0)
        self._flush_handle: asyncio.Handle | None = None
        self._sending = False
        self._closed = False
        self._registered = False
        self._last_flush = 0.0
        headers = _headers(self.scope)
        token = _bearer(headers)
        origin = headers.get("origin")
        # Browsers always send Origin; only a program holding a token may leave it out.
        if (origin or not token) and not origin_allowed(origin, headers.get("host")):
            log.warning("WebSocket refused: origin %r is not allowed", origin)
            await self.close()  # before accept: the handshake fails with 403
            return
        user = await self._authenticate(token)
        await self.accept()
        if user is None:
            await self._fail(UNAUTHENTICATED, "unauthenticated", "Sign in or send an API token.")
            return
        self.user = user
        self.viewer = await database_sync_to_async(load_viewer)(user)
        if not self.viewer.can(Capability.VIEW):
            await database_sync_to_async(self._deny)(Capability.VIEW, "connect")
            await self._fail(FORBIDDEN, "forbidden", "You need the noc:view capability.")
            return
        self.tenant_id = self.viewer.tenant_id
        self.scope_loaded = time.monotonic()
        HUB.register(self)
        metrics.CONNECTIONS.inc()
        self._registered = True
        try:
            # "hello" promises the events from now on: the Redis subscription must be in place
            await HUB.until_live(LIVE_WAIT_SECONDS)
            await self.send_json(
                {
                    "type": "hello",
                    "server_time": timezone.now().isoformat(),
                    "capabilities": sorted(self.viewer.capabilities),
                    "clients": self.viewer.subscribed_codes(),
                    "rate_limit_per_minute": settings.REALTIME_RATE_LIMIT,
                }
            )
        except Exception:
            # gone right after the handshake: the server may never call disconnect()
            self._drop()
            raise

    async def _authenticate(self, token: str | None):
        if token:
            user = await database_sync_to_async(authenticate_api_token)(token)
        else:
            user = self.scope.get("user")
            if user is not None and not user.is_authenticated:
                user = None
        if user is not None:
            ok = await database_sync_to_async(may_use_api)(user)
            return user if ok else None
        return None

    async def disconnect(self, code):
        self._drop()

    def _drop(self) -> None:
        """Leave the hub, once (from disconnect, or when a send finds the client gone)."""
        self._closed = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._registered:
            self._registered = False
            HUB.unregister(self)
            metrics.CONNECTIONS.dec()

    async def _fail(self, code: int, error: str, message: str) -> None:
        self._drop()
        await self.send_json({"type": "error", "code": error, "message": message})
        await self.close(code=code)

    def _deny(self, capability: Capability, what: str) -> None:
        record(
            Action.ACCESS_DENIED,
            actor=self.user,
            details={"capability": capability.value, "path": "/ws/dashboard/", "message": what},
        )

    # --- messages from the page ----------------------------------------------------------
    async def receive_json(self, content, **kwargs):
        if self.viewer is None or self._closed:
            return
        if not self.limit.allow():
            limit = settings.REALTIME_RATE_LIMIT
            await self._fail(
                RATE_LIMITED, "rate_limited", f"More than {limit} messages in a minute."
            )
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self._error("invalid", "A message is a JSON object with a `type`.", "type")
            return
        handler = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "alert.acknowledge": self._acknowledge,
            "metrics.request": self._metrics,
            "heartbeat": self._heartbeat,
        }.get(content["type"])
        if handler is None:
            await self._error("invalid", f"Unknown message type {content['type']!r}.", "type")
            return
        await handler(content)

    async def decode_json(self, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    async def _error(self, code: str, message: str, field: str | None = None, request_id=None):
        reply = {"type": "error", "code": code, "message": message}
        if field:
            reply["field"] = field
        if request_id is not None:
            reply["request_id"] = request_id
        await self.send_json(reply)

    def _codes(self, content) -> list[str] | str | None:
        codes = content.get("clients")
        if codes == EVERYTHING:
            return EVERYTHING
        if (
            not isinstance(codes, list)
            or len(codes) > MAX_CODES
            or not all(isinstance(c, str) for c in codes)
        ):
            return None
        return codes

    async def _subscribe(self, content):
        codes = self._codes(content)
        if codes is None:
            await self._error("invalid", 'clients: a list of client codes, or "*".', "clients")
            return
        if codes == EVERYTHING:
            self.viewer.subscribe_to(None)
        else:
            found, unknown = self.viewer.resolve_codes(codes)
            if unknown:
                await self._error(
                    "invalid", f"clients: not in your scope: {', '.join(unknown[:20])}", "clients"
                )
                return
            current = self.viewer.subscribed or frozenset()
            self.viewer.subscribe_to(frozenset(current | found))
        await self.send_json({"type": "subscribed", "clients": self.viewer.subscribed_codes()})

    async def _unsubscribe(self, content):
        codes = self._codes(content)
        if codes is None or codes == EVERYTHING:
            await self._error("invalid", "clients: a list of client codes.", "clients")
            return
        found, unknown = self.viewer.resolve_codes(codes)
        if unknown:
            await self._error(
                "invalid", f"clients: not in your scope: {', '.join(unknown[:20])}", "clients"
            )
            return
        current = self.viewer.subscribed
        if current is None:
            current = self.viewer.client_ids
        self.viewer.subscribe_to(frozenset(current - found))
        await self.send_json({"type": "subscribed", "clients": self.viewer.subscribed_codes()})

    async def _acknowledge(self, content):
        request_id = content.get("request_id")
        alert_id = content.get("id")
        if not isinstance(alert_id, int) or isinstance(alert_id, bool):
            await self._error("invalid", "id: the alert id (an integer).", "id", request_id)
            return
        outcome, payload = await database_sync_to_async(self._acknowledge_sync)(alert_id)
        if outcome == "ok":
            await self.send_json({"type": "ack", "request_id": request_id, "alert": payload})
        else:
            await self._error(outcome, payload, None, request_id)

    def _acknowledge_sync(self, alert_id: int) -> tuple[str, object]:
        # The capability first, so a viewer learns nothing about which ids exist.
        if not self.viewer.can(Capability.ACK_ALERTS):
            self._deny(Capability.ACK_ALERTS, f"acknowledge alert {alert_id}")
            return "forbidden", "You need the noc:ack_alerts capability."
        try:
            alert = acknowledge_alert(access_alert(self.user, alert_id), actor=self.user)
        except Http404:
            return "not_found", "Not found."
        except IllegalTransition as exc:
            return "conflict", str(exc)
        return "ok", {"id": alert.id, "status": alert.status}

    async def _metrics(self, content):
        request_id = content.get("request_id")
        raw = content.get("filters") or {}
        try:
            if not isinstance(raw, dict):
                raise TypeError
            filters = OverviewQuery.model_validate(raw).filters()
        except (ValidationError, TypeError) as exc:
            field = "filters"
            if isinstance(exc, ValidationError) and exc.errors():
                field += "." + ".".join(str(p) for p in exc.errors()[0]["loc"])
            await self._error("invalid", "filters: not valid overview filters.", field, request_id)
            return
        kpis = await database_sync_to_async(overview_queries.kpis)(self.user, filters)
        await self.send_json({"type": "metrics", "request_id": request_id, "kpis": kpis})

    async def _heartbeat(self, content):
        if time.monotonic() - self.scope_loaded > SCOPE_REFRESH_SECONDS:
            await self._refresh_scope()
        await self.send_json({"type": "heartbeat", "server_time": timezone.now().isoformat()})

    async def _refresh_scope(self):
        """A role or assignment changed since connect: apply it (or end the connection)."""
        # by pk through the user model: a session's user is channels' lazy wrapper, whose type
        # has no manager
        user = await database_sync_to_async(get_user_model().objects.get)(pk=self.user.pk)
        if not await database_sync_to_async(may_use_api)(user):
            await self._fail(UNAUTHENTICATED, "unauthenticated", "Your account is not active.")
            return
        fresh = await database_sync_to_async(load_viewer)(user)
        if not fresh.can(Capability.VIEW):
            await self._fail(FORBIDDEN, "forbidden", "You no longer have noc:view.")
            return
        if self.viewer.subscribed is not None:
            fresh.subscribe_to(self.viewer.subscribed & fresh.client_ids)
        self.user, self.viewer, self.scope_loaded = user, fresh, time.monotonic()

    # --- events to the page --------------------------------------------------------------
    def offer(self, events: list[dict], shared: dict) -> None:
        """From the hub, in the event loop: keep what this user sees, send it soon. The events
        are filtered once per group of identical viewers (`shared` lives for one dispatch);
        each connection only keeps a reference to its group's chunk, whose alert events are
        masked and encoded when an update first takes them (`outbox.Chunk`)."""
        viewer = self.viewer
        if self._closed or viewer is None:
            return
        chunk = shared.get(("chunk", viewer.group))
        if chunk is None:
            sees = viewer.sees
            chunk = shared[("chunk", viewer.group)] = Chunk.of(
                [(event, None) for event in events if sees(event)],
                partial(_render, viewer, shared),
            )
        self.outbox.add_chunk(chunk)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        """At most one update per flush interval, the first one at once: a lone change goes out
        immediately, and a burst behind it waits for the interval and is coalesced."""
        if not len(self.outbox) or self._flush_handle is not None or self._sending:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_flush + settings.REALTIME_FLUSH_MS / 1000 - loop.time()
        if wait <= 0:
            self._flush_handle = loop.call_soon(self._flush)
        else:
            self._flush_handle = loop.call_later(wait, self._flush)

    def resync(self) -> None:
        if not self._closed:
            asyncio.get_running_loop().create_task(self._send_or_drop({"type": "resync"}))

    async def _send_or_drop(self, message: dict) -> None:
        try:
            await self.send_json(message)
        except Exception:
            self._drop()

    def _flush(self) -> None:
        self._flush_handle = None
        if not self._closed and len(self.outbox):
            self._sending = True
            self._last_flush = asyncio.get_running_loop().time()
            asyncio.get_running_loop().create_task(self._send_update())

    async def _send_update(self) -> None:
        """One message per flush; a slow reader gets fewer, larger updates, never a backlog."""
        try:
            update = self.outbox.take(settings.REALTIME_MAX_ALERTS_PER_UPDATE)
            published = [e["published_at"] for e in update.events if e.get("published_at")]
            if published:  # once per update (its oldest event): per event cost half a storm
                metrics.DELIVERY_SECONDS.observe(max(0.0, time.time() - min(published)))
            await self.send(text_data=update.message())
        except Exception as exc:
            log.info("a live update found its WebSocket closed (%s)", type(exc).__name__)
            self._drop()
        finally:
            self._sending = False
            if not self._closed:
                self._schedule_flush()

    @classmethod
    async def encode_json(cls, content):
        return json.dumps(content, cls=DjangoJSONEncoder)
