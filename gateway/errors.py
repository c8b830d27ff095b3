"""The one error vocabulary both front doors translate.

    GatewayError                 status  GraphQL code
     ├── BadInput                400     BAD_USER_INPUT
     ├── Unauthenticated         401     UNAUTHENTICATED
     ├── Forbidden               403     FORBIDDEN
     ├── NotFound                404     NOT_FOUND
     ├── Conflict                409     CONFLICT
     ├── TooLarge                413     PAYLOAD_TOO_LARGE
     ├── TooManyRequests         429     TOO_MANY_REQUESTS
     ├── Internal                500     INTERNAL_SERVER_ERROR  (a bug, shown masked)
     └── Unavailable             503     UNAVAILABLE

Each carries the exact message of the contract; the REST door renders it as
``{"message": ...}`` with ``status``, the GraphQL door as the error message
with ``extensions.code``. ``headers`` are extra HTTP headers for REST. What any
other exception becomes (an outage, a bug) is decided in ``gateway.failures``.
"""

from __future__ import annotations

from collections.abc import Mapping


class GatewayError(Exception):
    """Base of every error a caller is allowed to see."""

    status = 500
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})


class BadInput(GatewayError):
    status = 400
    code = "BAD_USER_INPUT"


class Unauthenticated(GatewayError):
    status = 401
    code = "UNAUTHENTICATED"


class Forbidden(GatewayError):
    status = 403
    code = "FORBIDDEN"


class NotFound(GatewayError):
    status = 404
    code = "NOT_FOUND"


class Conflict(GatewayError):
    status = 409
    code = "CONFLICT"


class TooLarge(GatewayError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class TooManyRequests(GatewayError):
    status = 429
    code = "TOO_MANY_REQUESTS"


class Internal(GatewayError):
    status = 500
    code = "INTERNAL_SERVER_ERROR"


class Unavailable(GatewayError):
    status = 503
    code = "UNAVAILABLE"


# The contract's messages, written once.
TOKEN_MISSING = "User Token is missing!"
TOKEN_INVALID = "User Token is invalid!"
APP_TOKEN_MISSING = "App Token is missing!"
APP_TOKEN_INVALID = "App Token is invalid!"
COULD_NOT_VERIFY = "Could not verify"
NOT_ADMIN = "Cannot perform that function!"
NO_USER = "No user found!"
NO_TEMPLATE = "No template found!"
USERNAME_TAKEN = "Username already taken"
LAST_ADMIN = "Cannot delete the last admin"
EMPTY_FIELDS = "Non nullable items are empty"
NOT_OWNER = "Unauthorized edit attempt"
APPROVED_POST = "Unauthorized edit to approved post"
SERVICE_UNAVAILABLE = "Service unavailable"
BODY_TOO_LARGE = "Request body too large"
INTERNAL = "Internal server error"
