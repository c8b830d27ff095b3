"""The vendored browser assets (GraphiQL, React, Swagger UI) served under /static."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
CACHE_CONTROL = "public, max-age=86400"


class AssetFiles(StaticFiles):
    """StaticFiles with a day of browser caching; ETag/Last-Modified revalidate after."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.setdefault("Cache-Control", CACHE_CONTROL)
        return response


def static_mount() -> Mount:
    return Mount("/static", app=AssetFiles(directory=STATIC_DIR), name="static")
