"""What an exception becomes for the caller, decided once for both doors and the access log.

    exception                                   shown as             logged
     ├── GatewayError (a rule said no)          itself               no (the caller's doing)
     ├── an outage: the database unreachable    Unavailable (503)    one warning line
     │   (gateway.db.engine.outage) or Redis
     │   unreachable where it is needed
     └── anything else: a bug                   Internal (500)       an error with traceback

Each door renders the GatewayError in its own format (REST ``{"message"}`` and status,
GraphQL message, ``extensions.code`` and HTTP status); nothing here knows either.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlalchemy import exc as sa_exc

from gateway.db.engine import outage
from gateway.errors import INTERNAL, SERVICE_UNAVAILABLE, GatewayError, Internal, Unavailable

log = logging.getLogger("gateway.failures")

# What a door meets in normal operation: refusals, and the exceptions an outage raises
# (``classify`` still decides which of them are outages). A door answers these itself,
# within the request; anything else is a bug, answered by the outermost layer that can.
EXPECTED: tuple[type[Exception], ...] = (
    GatewayError,
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    sa_exc.DisconnectionError,
    OSError,
    RedisError,
)


def classify(exc: BaseException) -> GatewayError:
    """The error to show for ``exc`` (see the module's table)."""
    if isinstance(exc, GatewayError):
        return exc
    if outage(exc) or isinstance(exc, RedisError):
        return Unavailable(SERVICE_UNAVAILABLE)
    return Internal(INTERNAL)


def failed(exc: BaseException, *, where: str) -> GatewayError:
    """``classify(exc)``, logged here and only here: every door calls this once for an
    exception it answers, so an outage is one warning and a bug one traceback."""
    shown = classify(exc)
    if shown is not exc:  # a GatewayError is the caller's doing: nothing to log
        if isinstance(shown, Unavailable):
            log.warning("service unavailable on %s: %r", where, exc)
        else:
            log.error("unhandled error on %s", where, exc_info=exc)
    return shown
