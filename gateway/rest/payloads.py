"""Reading REST input (form or JSON bodies, Basic credentials, query parameters) and
rendering users and templates in the original API's JSON shapes."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.requests import Request

from gateway.auth.caller import Account
from gateway.bodies import json_object
from gateway.db.models import User
from gateway.errors import BadInput, GatewayError
from gateway.services.fields import Page
from gateway.services.filters import TemplateFilter, parse_order, parse_time
from gateway.services.posts import Post

WHOLE_NUMBER = re.compile(r"-?[0-9]{1,12}")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_FORM_FIELDS = 100
NO_SUCH_ID = 0  # below every id a row can have (services.fields.valid_id)


class UnsupportedMediaType(GatewayError):
    status = 415
    code = "BAD_USER_INPUT"


async def body_fields(request: Request, *names: str) -> dict[str, str | None]:
    """The named fields of a form or JSON body; each is a string or None."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: Mapping[str, Any]
    if content_type == "application/x-www-form-urlencoded":
        data = url_encoded_form(await request.body())
    elif content_type in FORM_TYPES:
        # Read the (capped) body first, so the size limit answers 413 before the form
        # parser could turn the interrupted stream into a "malformed" 400.
        await request.body()
        try:
            data = await request.form()
        except GatewayError:
            raise
        except Exception:
            raise BadInput("Malformed form body") from None
    else:
        raw = await request.body()
        if not raw.strip():
            data = {}
        elif not content_type or content_type.endswith(("/json", "+json")):
            data = json_object(raw)
        else:
            raise UnsupportedMediaType("Send the body as JSON or as form data")
    fields: dict[str, str | None] = {}
    for name in names:
        value = data.get(name)
        if isinstance(value, UploadFile):
            raise BadInput(f"{name} must be text, not a file")
        if value is not None and not isinstance(value, str):
            raise BadInput(f"{name} must be a string")
        fields[name] = value
    return fields


def url_encoded_form(raw: bytes) -> dict[str, str]:
    """A urlencoded body, strictly UTF-8 (Starlette's parser would turn bad bytes into
    mojibake and store it). A repeated field keeps its first value, as Flask's did."""
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise BadInput("The form body must be UTF-8 text") from None
    except ValueError:
        raise BadInput("Malformed form body") from None
    data: dict[str, str] = {}
    for name, value in pairs:
        data.setdefault(name, value)
    return data


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(username, password) from ``Authorization: Basic``, or None if absent or unreadable."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    username, sep, password = text.partition(":")
    return (username, password) if sep else None


def template_id(request: Request) -> int:
    """The path's template id. The original routed ``/template/<any string>`` and
    answered 404 for what matched no row, so text that is not a whole number becomes
    an id no row has (``0``): the service still checks the token first."""
    raw: str = request.path_params["template_id"]
    return int(raw) if WHOLE_NUMBER.fullmatch(raw) else NO_SUCH_ID


def query_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not WHOLE_NUMBER.fullmatch(raw):
        raise BadInput(f"{name} must be a whole number")
    return int(raw)


def query_bool(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    value = raw.strip().lower()
    if value in {"true", "1", "yes"}:
        return True
    if value in {"false", "0", "no"}:
        return False
    raise BadInput(f"{name} must be true or false")


def query_text(request: Request, name: str) -> str | None:
    return request.query_params.get(name) or None


def template_filter(request: Request) -> TemplateFilter:
    """The list filters both template routes take as query parameters."""
    return TemplateFilter(
        approved=query_bool(request, "approved"),
        username=query_text(request, "username"),
        search=query_text(request, "search"),
        since=parse_time("since", query_text(request, "since")),
        until=parse_time("until", query_text(request, "until")),
        order=parse_order(query_text(request, "order")),
    )


def user_json(user: User | Account) -> dict[str, Any]:
    """A user without the password hash (the original returned it)."""
    return {
        "id": user.id,
        "public_id": user.public_id,
        "username": user.username,
        "admin": bool(user.admin),
    }


def template_json(post: Post) -> dict[str, Any]:
    """A template; ``username`` and ``user_id`` are the original's two spellings of the
    owner's username, and ``posted`` is an HTTP date as Flask wrote datetimes."""
    username = post.owner.username if post.owner else None
    return {
        "id": post.id,
        "title": post.title,
        "url": post.url,
        "description": post.description,
        "username": username,
        "user_id": username,
        "posted": http_date(post.posted),
        "approved": post.approved,
    }


@lru_cache(maxsize=8192)
def http_date(moment: datetime) -> str:
    """``Mon, 12 Oct 2020 04:51:27 GMT``; the same rows are rendered over and over, so
    each moment is formatted once."""
    return format_datetime(moment, usegmt=True)


def paging_headers(request: Request, page: Page[Any]) -> dict[str, str]:
    """``X-Total-Count``, and an RFC 8288 ``Link`` to the next page when there is one."""
    headers = {"X-Total-Count": str(page.total)}
    if page.next_offset is not None:
        following = request.url.include_query_params(limit=page.limit, offset=page.next_offset)
        headers["Link"] = f'<{following}>; rel="next"'
    return headers
