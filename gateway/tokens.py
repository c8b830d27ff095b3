"""Access tokens (JWT, HS256) and application-token hashing; pure functions, no I/O."""

from __future__ import annotations

import hashlib
import secrets
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from gateway.errors import TOKEN_INVALID, Unauthenticated

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified token says: whose it is and which token_version it was issued at.

    ``version`` is None for a token shaped like the original app's (``public_id`` only).
    """

    public_id: str
    version: int | None
    legacy: bool = False


def issue_access_token(
    *, secret: str, public_id: str, version: int, ttl_seconds: int, now: datetime | None = None
) -> str:
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "public_id": public_id,
        "sub": public_id,
        "iat": issued,
        "ver": version,
    }
    if ttl_seconds:
        claims["exp"] = issued + timedelta(seconds=ttl_seconds)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_access_token(token: str, *, secret: str) -> AccessClaims:
    """Verify signature, algorithm and expiry; raise Unauthenticated(TOKEN_INVALID) otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["public_id"], "verify_sub": False},
        )
    except jwt.PyJWTError:
        raise Unauthenticated(TOKEN_INVALID) from None
    public_id = claims.get("public_id")
    version = claims.get("ver")
    if not isinstance(public_id, str) or not public_id:
        raise Unauthenticated(TOKEN_INVALID)
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise Unauthenticated(TOKEN_INVALID)
    return AccessClaims(public_id=public_id, version=version)


def read_legacy_token(token: str, *, secret: str) -> AccessClaims:
    """A token exactly as the original app issued it: HS256, claims ``{"public_id"}``
    and nothing else, so no token of ours (which carries ``ver``) ever passes here.
    It reads as version 0: the original knew no logout, and the first logout through
    the gateway bumps the user's token_version past it."""
    try:
        with warnings.catch_warnings():
            # The original's keys were often short; that weakness is the operator's known,
            # dated choice (LEGACY_TOKENS_UNTIL), so PyJWT's key-length warning is noise.
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            claims = jwt.decode(token, secret, algorithms=[ALGORITHM])
    except jwt.PyJWTError:
        raise Unauthenticated(TOKEN_INVALID) from None
    public_id = claims.get("public_id")
    if set(claims) != {"public_id"} or not isinstance(public_id, str) or not public_id:
        raise Unauthenticated(TOKEN_INVALID)
    return AccessClaims(public_id=public_id, version=0, legacy=True)


def new_app_token() -> str:
    return secrets.token_urlsafe(32)


def hash_app_token(token: str) -> str:
    """App tokens are long random values, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
