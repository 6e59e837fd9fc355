"""The API's JSON body parser: Python's `json` with a bound on nesting.

`json.loads` raises RecursionError near 1,000 levels, and a document just under that still
reaches code that recurses over it (validation, masking, JSON columns). Bodies nested deeper
than `MAX_DEPTH` are refused as a 400 before anything else reads them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest
from ninja.parser import Parser

from watchfloor.bounds import MAX_DEPTH


class NestedTooDeep(ValueError):
    pass


def depth_exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether containers in `value` nest more than `limit` deep (iterative, no recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def loads_bounded(raw: bytes | str) -> Any:
    """`json.loads` that raises ValueError (never RecursionError) for a too-deep document."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise NestedTooDeep(f"Nested deeper than {MAX_DEPTH} levels.") from None
    if depth_exceeds(data):
        raise NestedTooDeep(f"Nested deeper than {MAX_DEPTH} levels.")
    return data


class BoundedJsonParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        return loads_bounded(request.body)
