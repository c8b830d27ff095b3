"""The REST contract's data for OpenAPI: schemas, bodies, query parameters, and one
Operation per route and method (who may call it, what it reads, what it answers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import (
    APP_TOKEN_INVALID,
    APP_TOKEN_MISSING,
    COULD_NOT_VERIFY,
    EMPTY_FIELDS,
    INTERNAL,
    NO_TEMPLATE,
    NO_USER,
    NOT_ADMIN,
    SERVICE_UNAVAILABLE,
    TOKEN_INVALID,
    TOKEN_MISSING,
)
from gateway.services.fields import MAX_LIMIT, MAX_OFFSET, TEXT_MAX
from gateway.services.filters import SEARCH_MAX
from gateway.services.users import PASSWORD_MAX, USERNAME_MAX

JSON = "application/json"

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An object with these properties (extra keys allowed, as JSON clients expect)."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def says(message: str) -> Schema:
    """A success body that is exactly ``{"message": message}``."""
    return obj({"message": {"type": "string", "const": message}})


STRING = {"type": "string"}
HTTP_URL = "^[Hh][Tt][Tt][Pp][Ss]?:"  # the scheme rule of services.fields.clean_url
NULLABLE_STRING = {"type": ["string", "null"]}

SCHEMAS: dict[str, Schema] = {
    "Error": obj({"message": STRING}),
    "User": obj(
        {
            "id": {"type": "integer"},
            "public_id": STRING,
            "username": STRING,
            "admin": {"type": "boolean"},
        }
    ),
    "Template": obj(
        {
            "id": {"type": "integer"},
            "title": STRING,
            "url": STRING,
            "description": NULLABLE_STRING,
            "username": NULLABLE_STRING | {"description": "The owner; null once deleted"},
            "user_id": NULLABLE_STRING | {"description": "The original's 2nd name for username"},
            "posted": STRING | {"description": "HTTP date, e.g. Mon, 12 Oct 2020 04:51:27 GMT"},
            "approved": {"type": "boolean"},
        }
    ),
    "Credentials": obj({}, {"username": STRING, "password": STRING}),
    "NewUser": obj(
        {
            "username": STRING | {"minLength": 1, "maxLength": USERNAME_MAX},
            "password": STRING
            | {"minLength": 8, "maxLength": PASSWORD_MAX, "description": "PASSWORD_MIN_LENGTH+"},
        }
    ),
    "TemplateFields": obj(
        {
            "title": STRING | {"minLength": 1, "maxLength": TEXT_MAX},
            "url": STRING | {"maxLength": TEXT_MAX, "pattern": HTTP_URL},
        },
        {"description": NULLABLE_STRING | {"maxLength": TEXT_MAX}},
    ),
}

# Every response body a route can send on success.
BODIES: dict[str, Schema] = {
    "token": obj({"token": STRING}),
    "logged_out": says("Logged out"),
    "users": obj({"users": {"type": "array", "items": ref("User")}}),
    "user": obj({"user": ref("User")}),
    "user_created": obj({"message": {"const": "User created successfully"}, "user": ref("User")}),
    "promoted": says("The user has been promoted!"),
    "user_deleted": says("The user has been deleted!"),
    "template_created": obj({"message": {"const": "Post created"}, "template": ref("Template")}),
    "template_updated": obj({"message": {"const": "Post Updated"}, "template": ref("Template")}),
    "templates": obj({"templates": {"type": "array", "items": ref("Template")}}),
    "template": obj({"template": ref("Template")}),
    "template_deleted": says("The post has been deleted"),
    "alive": obj({"status": {"const": "ok"}}),
    "ready": obj({"status": {"const": "ready"}}),
}

QUERY: dict[str, Schema] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
    "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
    "approved": {"type": "boolean"},
    "username": {"type": "string", "maxLength": USERNAME_MAX},
    "search": {"type": "string", "maxLength": SEARCH_MAX},
    "since": {"type": "string", "format": "date-time"},
    "until": {"type": "string", "format": "date-time"},
    "order": {"type": "string", "enum": ["id", "newest", "oldest"], "default": "id"},
}
QUERY_HELP = {
    "limit": "Page size",
    "offset": "Rows to skip",
    "approved": "Only the approved (true) or unapproved (false) templates of this list",
    "username": "Only templates of this owner",
    "search": "Case-insensitive substring of the title or description",
    "since": "Only templates posted at or after this ISO 8601 date or date-time (UTC if naive)",
    "until": "Only templates posted before this ISO 8601 date or date-time (UTC if naive)",
    "order": "id (the original's order), newest or oldest first",
}
PAGING = ("limit", "offset")
TEMPLATE_QUERY = (*PAGING, "approved", "username", "search", "since", "until", "order")

FAILURES: dict[int, str] = {
    400: "Bad input: a malformed body, or a missing or invalid field or query parameter",
    401: f"`{TOKEN_MISSING}` or `{TOKEN_INVALID}`; with application tokens required, "
    f"`{APP_TOKEN_MISSING}` or `{APP_TOKEN_INVALID}`",
    403: f"`{NOT_ADMIN}`, or for templates `Unauthorized edit attempt` (not the owner) or "
    "`Unauthorized edit to approved post` (the owner, once approved)",
    404: f"`{NO_USER}` / `{NO_TEMPLATE}`",
    409: "`Username already taken`, or `Cannot delete the last admin`",
    413: "`Request body too large` (over MAX_BODY_BYTES)",
    415: "`Send the body as JSON or as form data`",
    429: "`Too many login attempts`; retry after the seconds in Retry-After",
    500: f"`{INTERNAL}` (details only in the server log)",
    503: f"`{SERVICE_UNAVAILABLE}`: the database cannot be reached",
}


@dataclass(frozen=True, kw_only=True)
class Operation:
    """What the route table cannot say about one (method, path)."""

    summary: str
    tag: str
    ok: str
    who: str = "user"  # "anyone", "user", "admin" or "probe"
    failures: tuple[int, ...] = ()
    query: tuple[str, ...] = ()
    body: str | None = None
    body_required: bool = True
    app_signup: bool = False  # with APP_TOKENS_REQUIRED, an application token is enough
    description: str = ""

    @property
    def paged(self) -> bool:
        return "limit" in self.query


BODY_FAILURES = (400, 413, 415)

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/login"): Operation(
        summary="Sign in with HTTP Basic credentials",
        tag="auth",
        ok="token",
        who="anyone",
        failures=(401, 429),
        description=f"Wrong or missing credentials: 401 `{COULD_NOT_VERIFY}` with "
        '`WWW-Authenticate: Basic realm="Login required!"`.',
    ),
    ("POST", "/login"): Operation(
        summary="Sign in with HTTP Basic credentials or a username/password body",
        tag="auth",
        ok="token",
        who="anyone",
        failures=(401, 429, *BODY_FAILURES),
        body="Credentials",
        body_required=False,
        description=f"Basic credentials win over the body. Wrong or missing credentials: "
        f"401 `{COULD_NOT_VERIFY}`.",
    ),
    ("GET", "/user"): Operation(
        summary="List users by id",
        tag="users",
        ok="users",
        who="admin",
        query=PAGING,
        failures=(400,),
    ),
    ("GET", "/user/{public_id}"): Operation(
        summary="One user", tag="users", ok="user", who="admin", failures=(404,)
    ),
    ("POST", "/user"): Operation(
        summary="Create a (non-admin) user",
        tag="users",
        ok="user_created",
        who="admin",
        failures=(409, *BODY_FAILURES),
        body="NewUser",
        app_signup=True,
        description="With APP_TOKENS_REQUIRED a valid application token is enough (sign-up "
        "from a registered app).",
    ),
    ("PUT", "/user/{public_id}"): Operation(
        summary="Promote a user to admin",
        tag="users",
        ok="promoted",
        who="admin",
        failures=(404,),
    ),
    ("DELETE", "/user/{public_id}"): Operation(
        summary="Delete a user (their templates stay, without an owner)",
        tag="users",
        ok="user_deleted",
        who="admin",
        failures=(404, 409),
    ),
    ("POST", "/template"): Operation(
        summary="Create a template (an admin's starts approved)",
        tag="templates",
        ok="template_created",
        failures=BODY_FAILURES,
        body="TemplateFields",
        description=f"400 `{EMPTY_FIELDS}` without title or url; the url must be http(s).",
    ),
    ("GET", "/template"): Operation(
        summary="List every template",
        tag="templates",
        ok="templates",
        query=TEMPLATE_QUERY,
        failures=(400,),
    ),
    ("GET", "/"): Operation(
        summary="The feed: approved templates plus the caller's own",
        tag="templates",
        ok="templates",
        query=TEMPLATE_QUERY,
        failures=(400,),
    ),
    ("GET", "/template/{template_id}"): Operation(
        summary="One template", tag="templates", ok="template", failures=(404,)
    ),
    ("PUT", "/template/{template_id}"): Operation(
        summary="Replace a template's fields (owner while unapproved, or admin; an admin's "
        "edit approves it)",
        tag="templates",
        ok="template_updated",
        failures=(403, 404, *BODY_FAILURES),
        body="TemplateFields",
    ),
    ("DELETE", "/template/{template_id}"): Operation(
        summary="Delete a template (same rule as editing)",
        tag="templates",
        ok="template_deleted",
        failures=(403, 404),
    ),
    ("POST", "/logout"): Operation(
        summary="End every token of the caller", tag="auth", ok="logged_out"
    ),
    ("GET", "/healthz"): Operation(
        summary="The process is up", tag="health", ok="alive", who="probe"
    ),
    ("GET", "/readyz"): Operation(
        summary="The database is reachable",
        tag="health",
        ok="ready",
        who="probe",
        failures=(503,),
    ),
}

PATH_PARAMETERS: dict[str, Schema] = {
    "public_id": {"type": "string", "format": "uuid", "description": "The user's public id"},
    # Any text, as the original routed it: what is no template's id answers 404.
    "template_id": {
        "type": "string",
        "minLength": 1,
        "examples": ["1"],
        "description": "The template's id (a whole number); any other text answers 404",
    },
}
