"""Not a target figure: what rendering every operation costs the API docs page, against Swagger
UI's own virtualized list (a design choice, docs/decisions.md "API docs: every operation").

The spec is Watchfloor's own (`api.get_openapi_schema()`, in process); Swagger UI's files are the
package's (drf-spectacular-sidecar) and the start-up is the page's `swagger_init.js`. Two static
pages in a temporary folder, served on loopback: "virtual" starts Swagger UI as it ships
(operations virtualized past 150 tags + operations), "all" runs swagger_init.js (every operation
in the DOM). Each is loaded `--loads` times in Debian's chromium (Playwright, never
`playwright install`); per load: ms from navigation start until the first operation block is in
the DOM, until the count stops growing, and how many blocks the DOM holds then.

    uv run python bench/api_docs_render.py --loads 7
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="swagger-ui.css"></head><body data-csrf-token="">
<script id="swagger-settings" type="application/json">{settings}</script>
<div id="swagger-ui"></div><script src="swagger-ui-bundle.js"></script>{start}</body></html>"""
# Swagger UI as it ships (what the page did before swagger_init.js rendered every operation)
AS_SHIPPED = """<script src="as_shipped.js"></script>"""
AS_SHIPPED_JS = """const node = document.getElementById("swagger-settings");
const settings = JSON.parse(node.textContent);
settings.dom_id = "#swagger-ui"; settings.presets = [SwaggerUIBundle.presets.apis];
SwaggerUIBundle(settings);"""

# polls until the number of operation blocks has not changed for 500 ms
SETTLED = """async () => {
  const count = () => document.querySelectorAll("#swagger-ui .opblock").length;
  let first = null, last = -1, lastChange = performance.now();
  for (;;) {
    await new Promise((r) => requestAnimationFrame(r));
    const n = count(), now = performance.now();
    if (n > 0 && first === null) first = now;
    if (n !== last) { last = n; lastChange = now; }
    if (first !== null && now - lastChange > 500) return {first, settled: lastChange, blocks: n};
    if (now > 30000) return {first, settled: null, blocks: n};
  }
}"""


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _site(folder: Path) -> int:
    os.environ.setdefault("WATCHFLOOR_HOME", str(folder / "home"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    import django

    django.setup()
    from django.contrib.staticfiles import finders

    from watchfloor.api.docs import LocalSwagger
    from watchfloor.api_site import api

    spec = api.get_openapi_schema()
    (folder / "spec.json").write_text(json.dumps(spec, default=str))
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        shutil.copy(finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{name}"), folder / name)
    shutil.copy(finders.find("watchfloor/api/swagger_init.js"), folder / "swagger_init.js")
    (folder / "as_shipped.js").write_text(AS_SHIPPED_JS)
    settings = json.dumps({**LocalSwagger().settings, "url": "spec.json"})
    start_all = '<script src="swagger_init.js"></script>'
    (folder / "all.html").write_text(PAGE.format(settings=settings, start=start_all))
    (folder / "virtual.html").write_text(PAGE.format(settings=settings, start=AS_SHIPPED))
    return sum(
        len(op.get("tags") or ["default"])
        for item in spec["paths"].values()
        for method, op in item.items()
        if method in ("get", "put", "post", "delete", "patch", "options", "head", "trace")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="wf-bench-docs-"))
    operations = _site(folder)
    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    from playwright.sync_api import sync_playwright

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{operations} operation blocks in the spec; load {load}", flush=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            for variant in ("virtual", "all"):
                rows = []
                for _ in range(args.loads):
                    page = browser.new_page(viewport={"width": 1440, "height": 900})
                    page.goto(f"{url}/{variant}.html")
                    rows.append(page.evaluate(SETTLED))
                    page.close()
                first = statistics.median(r["first"] for r in rows)
                settled = statistics.median(r["settled"] or 30000 for r in rows)
                blocks = sorted({r["blocks"] for r in rows})
                print(
                    f"{variant:8} first block {first:7.1f} ms, settled {settled:7.1f} ms "
                    f"(median of {args.loads}), blocks in the DOM {blocks}",
                    flush=True,
                )
            browser.close()
    finally:
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
