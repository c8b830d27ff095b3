"""JSON responses: orjson renders every one (about ten times the standard library's speed)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as Starlette's own JSONResponse writes it."""
    return orjson.dumps(value)


class JSONResponse(StarletteJSONResponse):
    """Starlette's JSONResponse, rendered by orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
