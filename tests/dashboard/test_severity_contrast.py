"""Severity pills meet WCAG AA (bug 9 of #10): text against background at least 4.5:1 in the light
and the dark theme, computed from the stylesheets themselves, and the colours are defined once.

The CSS is read with a small block parser (selectors, declarations, @media nesting): enough for
the package's own hand-written stylesheets, which is all it is pointed at."""

from __future__ import annotations

import re
from pathlib import Path

import watchfloor

CSS_DIR = Path(watchfloor.__file__).parent / "dashboard/static/watchfloor/css"
JS_DIR = CSS_DIR.parent / "js"
SEVERITIES = ("critical", "high", "medium", "low", "info", "ok")
LIGHT = {":root"}
DARK = {":root[data-theme=dark]", ":root:not([data-theme=light])"}
AA = 4.5


def rules(css: str, media: str = "") -> list[tuple[str, str, dict[str, str]]]:
    """(media, selector, declarations) for every rule, in order; @media blocks flattened."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    found, position = [], 0
    while (brace := css.find("{", position)) != -1:
        head = css[position:brace].strip()
        depth, end = 1, brace + 1
        while depth:
            depth += {"{": 1, "}": -1}.get(css[end], 0)
            end += 1
        body = css[brace + 1 : end - 1]
        if head.startswith("@media"):
            found += rules(body, head)
        else:
            declarations = {}
            for item in body.split(";"):
                name, colon, value = item.partition(":")
                if colon:
                    declarations[name.strip()] = value.strip()
            for selector in head.split(","):
                found.append((media, " ".join(selector.split()), declarations))
        position = end
    return found


def all_rules() -> list[tuple[str, str, str, dict[str, str]]]:
    order = ["app.css", *sorted(p.name for p in CSS_DIR.glob("*.css") if p.name != "app.css")]
    return [(name, *rule) for name in order for rule in rules((CSS_DIR / name).read_text())]


def theme_properties(dark: bool) -> dict[str, str]:
    """The custom properties on :root in one theme, as the cascade leaves them."""
    properties: dict[str, str] = {}
    for _file, media, selector, declarations in all_rules():
        dark_rule = selector in DARK and (
            selector == ":root[data-theme=dark]" or "prefers-color-scheme: dark" in media
        )
        if (selector in LIGHT and not media) or (dark and dark_rule):
            properties.update({k: v for k, v in declarations.items() if k.startswith("--")})
    return properties


def resolve(value: str, properties: dict[str, str]) -> str:
    for _ in range(10):
        match = re.fullmatch(r"var\(\s*(--[\w-]+)\s*(?:,\s*(.+))?\)", value.strip())
        if not match:
            return value.strip()
        value = properties.get(match.group(1), match.group(2) or "")
    raise AssertionError(f"var() chain too deep: {value}")


def luminance(colour: str) -> float:
    colour = colour.lower()
    if colour == "#fff":
        colour = "#ffffff"
    assert re.fullmatch(r"#[0-9a-f]{6}", colour), f"not a #rrggbb colour: {colour}"
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def pill(severity: str) -> dict[str, str]:
    declarations: dict[str, str] = {}
    for _file, _media, selector, found in all_rules():
        if selector in (".sev", f".sev--{severity}"):
            declarations.update(found)
    return declarations


def test_contrast_formula():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#767676", "#ffffff"), 2) == 4.54  # the classic AA grey


def test_every_severity_pill_reaches_aa_in_both_themes():
    for dark in (False, True):
        properties = theme_properties(dark)
        for severity in SEVERITIES:
            declarations = pill(severity)
            background = resolve(declarations.get("background", ""), properties)
            text = resolve(declarations["color"], properties)
            ratio = contrast(text, background)
            theme = "dark" if dark else "light"
            assert ratio >= AA, f"{severity} pill in the {theme} theme: {ratio:.2f}:1"


def test_the_pill_is_defined_in_one_stylesheet_only():
    files = {f for f, _media, selector, _d in all_rules() if selector.split(":")[0] in {".sev"}}
    files |= {f for f, _m, selector, _d in all_rules() if selector.startswith(".sev--")}
    assert files == {"app.css"}


def test_severity_colours_are_one_set():
    """--sev-* is set on :root in app.css only, and the dark theme does not repaint it."""
    setters = {
        (f, selector)
        for f, _media, selector, declarations in all_rules()
        if any(name.startswith("--sev-") for name in declarations)
    }
    assert setters == {("app.css", ":root")}
    scripts = {p.name: p.read_text() for p in JS_DIR.glob("*.js")}
    scripts |= {f"overview/{p.name}": p.read_text() for p in JS_DIR.glob("overview/*.js")}
    copies = {name for name, text in scripts.items() if re.search(r"#[0-9a-fA-F]{6}\b", text)}
    assert copies == set(), f"colours copied into scripts: {copies}"


def hex_rgb(colour: str) -> tuple[int, int, int]:
    luminance(colour)  # asserts the #rrggbb form
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def over(colour: str, share: float, backdrop: str) -> str:
    """`color-mix(in srgb, colour share, transparent)` painted on `backdrop`."""
    mixed = [
        round(share * c + (1 - share) * b)
        for c, b in zip(hex_rgb(colour), hex_rgb(backdrop), strict=True)
    ]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def test_status_and_state_pills_reach_aa_on_every_surface():
    """The tinted status pills of pages.css (their text in the pill's colour, the background that
    colour at a low share over the card or the page) in both themes."""
    base = [d for f, _m, sel, d in all_rules() if f == "pages.css" and sel == ".status"]
    assert base, "pages.css has no .status rule"
    share = re.search(r"var\(--c\)\s+(\d+)%,\s*transparent", base[0]["background"])
    assert share, base[0]["background"]
    selectors = {
        sel
        for f, _m, sel, d in all_rules()
        if f == "pages.css" and re.fullmatch(r"\.(status|state)--[\w-]+", sel) and "--c" in d
    }
    assert len(selectors) >= 8
    for dark in (False, True):
        properties = theme_properties(dark)
        for selector in sorted(selectors):
            rule = next(d for f, _m, sel, d in all_rules() if sel == selector)
            colour = resolve(rule["--c"], properties)
            for backdrop in ("--surface", "--surface-2", "--bg"):
                painted = over(colour, int(share.group(1)) / 100, properties[backdrop])
                ratio = contrast(colour, painted)
                theme = "dark" if dark else "light"
                assert ratio >= AA, f"{selector} on {backdrop} ({theme}): {ratio:.2f}:1"
