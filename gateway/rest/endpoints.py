"""REST endpoints: parse the request, call one service function, render JSON."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from gateway.auth.caller import Caller
from gateway.errors import COULD_NOT_VERIFY, SERVICE_UNAVAILABLE, Unauthenticated
from gateway.responses import JSONResponse
from gateway.rest.payloads import (
    basic_credentials,
    body_fields,
    paging_headers,
    query_int,
    template_filter,
    template_id,
    template_json,
    user_json,
)
from gateway.services import posts, templates, users
from gateway.services.statements import Listing
from gateway.services.users import LOGIN_CHALLENGE


def _caller(request: Request) -> Caller:
    caller: Caller = request.state.caller
    return caller


async def login(request: Request) -> JSONResponse:
    credentials = basic_credentials(request)
    if credentials is None and request.method == "POST":
        fields = await body_fields(request, "username", "password")
        credentials = (fields["username"] or "", fields["password"] or "")
    if credentials is None:
        raise Unauthenticated(COULD_NOT_VERIFY, headers=LOGIN_CHALLENGE)
    caller = _caller(request)
    username, password = credentials
    token, _ = await users.login(caller.db, caller, username=username, password=password)
    return JSONResponse({"token": token})


async def logout(request: Request) -> JSONResponse:
    caller = _caller(request)
    await users.logout(caller.db, caller)
    return JSONResponse({"message": "Logged out"})


async def list_users(request: Request) -> JSONResponse:
    caller = _caller(request)
    limit, offset = query_int(request, "limit"), query_int(request, "offset")
    page = await users.list_users(caller.db, caller, limit=limit, offset=offset)
    return JSONResponse(
        {"users": [user_json(u) for u in page.items]}, headers=paging_headers(request, page)
    )


async def get_user(request: Request) -> JSONResponse:
    caller = _caller(request)
    user = await users.get_user(caller.db, caller, public_id=request.path_params["public_id"])
    return JSONResponse({"user": user_json(user)})


async def create_user(request: Request) -> JSONResponse:
    caller = _caller(request)
    fields = await body_fields(request, "username", "password")
    user = await users.create_user(
        caller.db, caller, username=fields["username"], password=fields["password"]
    )
    return JSONResponse({"message": "User created successfully", "user": user_json(user)})


async def promote_user(request: Request) -> JSONResponse:
    caller = _caller(request)
    await users.promote_user(caller.db, caller, public_id=request.path_params["public_id"])
    return JSONResponse({"message": "The user has been promoted!"})


async def delete_user(request: Request) -> JSONResponse:
    caller = _caller(request)
    await users.delete_user(caller.db, caller, public_id=request.path_params["public_id"])
    return JSONResponse({"message": "The user has been deleted!"})


async def create_template(request: Request) -> JSONResponse:
    caller = _caller(request)
    fields = await body_fields(request, "title", "url", "description")
    post = await templates.create_template(caller.db, caller, **fields)
    return JSONResponse({"message": "Post created", "template": template_json(post)})


async def list_templates(request: Request) -> JSONResponse:
    return await _template_list(request, Listing.ALL)


async def feed(request: Request) -> JSONResponse:
    return await _template_list(request, Listing.FEED)


async def _template_list(request: Request, listing: Listing) -> JSONResponse:
    """Both template lists: the same filters and paging, the same body and headers."""
    caller = _caller(request)
    page = await posts.list_page(
        caller.db,
        caller,
        listing,
        filters=template_filter(request),
        limit=query_int(request, "limit"),
        offset=query_int(request, "offset"),
    )
    return JSONResponse(
        {"templates": [template_json(p) for p in page.items]},
        headers=paging_headers(request, page),
    )


async def get_template(request: Request) -> JSONResponse:
    caller = _caller(request)
    post = await posts.get_template(
        caller.db, caller, template_id=template_id(request)
    )
    return JSONResponse({"template": template_json(post)})


async def update_template(request: Request) -> JSONResponse:
    caller = _caller(request)
    fields = await body_fields(request, "title", "url", "description")
    post = await templates.update_template(
        caller.db, caller, template_id=template_id(request), **fields
    )
    return JSONResponse({"message": "Post Updated", "template": template_json(post)})


async def delete_template(request: Request) -> JSONResponse:
    caller = _caller(request)
    await templates.delete_template(
        caller.db, caller, template_id=template_id(request)
    )
    return JSONResponse({"message": "The post has been deleted"})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    try:
        await _caller(request).db.session.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"message": SERVICE_UNAVAILABLE}, status_code=503)
    return JSONResponse({"status": "ready"})


# The contract's table (SPEC §5), top to bottom.
routes: list[BaseRoute] = [
    Route("/login", login, methods=["GET", "POST"]),
    Route("/user", list_users, methods=["GET"]),
    Route("/user/{public_id}", get_user, methods=["GET"]),
    Route("/user", create_user, methods=["POST"]),
    Route("/user/{public_id}", promote_user, methods=["PUT"]),
    Route("/user/{public_id}", delete_user, methods=["DELETE"]),
    Route("/template", create_template, methods=["POST"]),
    Route("/template", list_templates, methods=["GET"]),
    Route("/", feed, methods=["GET"]),
    Route("/template/{template_id}", get_template, methods=["GET"]),
    Route("/template/{template_id}", update_template, methods=["PUT"]),
    Route("/template/{template_id}", delete_template, methods=["DELETE"]),
    Route("/logout", logout, methods=["POST"]),
]
# The probes an operator's load balancer asks many times a second.
probes: list[BaseRoute] = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
