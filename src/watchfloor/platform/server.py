"""Running the ASGI application under uvicorn, shared by `watchfloor serve` and `demo`."""

from __future__ import annotations

import uvicorn

ASGI_APP = "watchfloor.asgi:application"


def run_uvicorn(
    *,
    host: str,
    port: int,
    workers: int = 1,
    proxy_headers: bool = False,
    forwarded_allow_ips: str | None = None,
    log_level: str = "info",
) -> None:
    """Serve until SIGINT/SIGTERM; uvicorn finishes in-flight requests, then returns."""
    uvicorn.run(
        ASGI_APP,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        # Django's ASGI handler has no lifespan protocol; "off" avoids a misleading log line.
        lifespan="off",
        log_level=log_level,
        server_header=False,
    )
