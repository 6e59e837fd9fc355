"""Who may scrape /metrics: an address in WATCHFLOOR_METRICS_ALLOW (CIDRs; default the loopback
addresses) and, when WATCHFLOOR_METRICS_TOKEN is set, the bearer token. The figures name no
tenant data, but route names, volumes and error rates are not for the internet."""

from __future__ import annotations

import hmac
import ipaddress
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _networks(entries: tuple[str, ...]) -> tuple:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"WATCHFLOOR_METRICS_ALLOW: {entry!r} is not an address or CIDR network"
            ) from exc
    return tuple(networks)


def allowed_networks() -> tuple:
    return _networks(tuple(settings.METRICS_ALLOW))


def address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in allowed_networks() if ip.version == network.version)


def token_ok(header: str) -> bool:
    expected = settings.METRICS_TOKEN
    if not expected:
        return True
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())
