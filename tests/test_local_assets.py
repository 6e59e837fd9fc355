"""Closed networks: no page may need the internet (bug 7 of #10). Templates and static files of
the package name no outside host; map tiles, the one exception, come from settings
(WATCHFLOOR_MAP_TILE_URL, docs/operations.md), never from a template or a script."""

from __future__ import annotations

import re
from pathlib import Path

import watchfloor

PACKAGE = Path(watchfloor.__file__).parent
SUFFIXES = {".html", ".js", ".css", ".svg", ".json"}
# an absolute or protocol-relative URL in markup, CSS or JS; XML namespaces are names, not fetches
URL = re.compile(r"""(?:https?:)?//[a-z0-9-]+(?:\.[a-z0-9-]+)+""", re.IGNORECASE)
NAMESPACES = {"//www.w3.org"}
# a vendored library's licence banner (`/*! https://github.com/… (v1.2.3) */` on its first line)
# names where it came from; nothing fetches it
BANNER = re.compile(r"\A/\*![^\n]*?\*/")


def asset_files() -> list[Path]:
    roots = [*PACKAGE.glob("*/templates"), *PACKAGE.glob("*/static")]
    return sorted(path for root in roots for path in root.rglob("*") if path.suffix in SUFFIXES)


def outside_hosts(text: str) -> set[str]:
    text = BANNER.sub("", text, count=1)
    found = set()
    for match in URL.finditer(text):
        url = match.group(0)
        host = "//" + url.split("//", 1)[1]
        if host in NAMESPACES:
            continue
        if not url.lower().startswith("http") and not re.search(
            r"""(?:src|href|url|action)\s*[=(]\s*["']?$""", text[: match.start()][-12:]
        ):
            continue  # `//` that begins a comment or a path, not a protocol-relative URL
        found.add(url)
    return found


def test_the_scan_sees_the_package_assets():
    names = {path.name for path in asset_files()}
    assert {"app.html", "overview.js", "app.css", "swagger.html", "outline.json"} <= names


def test_the_scan_finds_outside_urls():
    assert outside_hosts('<script src="https://cdn.example.org/ui.js">') == {
        "https://cdn.example.org"
    }
    assert outside_hosts('<link href="//cdn.example.org/ui.css">') == {"//cdn.example.org"}
    assert outside_hosts('<svg xmlns="http://www.w3.org/2000/svg">') == set()
    assert outside_hosts("// the map module draws the outline.json file") == set()
    assert outside_hosts("/*! https://github.com/leeoniya/uPlot (v1.6.32) */\nvar u;") == set()
    assert outside_hosts('/*! lib */ fetch("https://cdn.example.org/x")') == {
        "https://cdn.example.org"
    }


def test_no_template_or_static_file_names_an_outside_host():
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(hosts)
        for path in asset_files()
        if (hosts := outside_hosts(path.read_text(encoding="utf-8", errors="replace")))
    }
    assert offenders == {}
