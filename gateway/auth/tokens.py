"""Access tokens (JWT, HS256) and application-token hashing; pure functions, no I/O."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm
from jwt.utils import base64url_decode

from gateway.errors import TOKEN_INVALID, Unauthenticated

ALGORITHM = "HS256"
_HS256 = HMACAlgorithm(HMACAlgorithm.SHA256)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified token says: whose it is and which token_version it was issued at.

    ``version`` is None for a token shaped like the original app's (``public_id`` only);
    ``expires`` is the ``exp`` claim (a POSIX time), None for a token that never expires.
    """

    public_id: str
    version: int | None
    legacy: bool = False
    expires: float | None = None


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
    expires = claims.get("exp")  # PyJWT has checked that it is a number in the future
    return AccessClaims(
        public_id=public_id,
        version=version,
        expires=float(expires) if isinstance(expires, int | float) else None,
    )


def read_legacy_token(token: str, *, secret: str) -> AccessClaims:
    """A token exactly as the original app issued it: HS256, claims ``{"public_id"}``
    and nothing else, so no token of ours (which carries ``ver``) ever passes here.
    It reads as version 0: the original knew no logout, and the first logout through
    the gateway bumps the user's token_version past it."""
    try:
        header = jwt.get_unverified_header(token)
        signing_input, _, signature = token.rpartition(".")
        # PyJWT's own HS256 check (constant-time), called directly: jwt.decode warns at
        # every use of a key under 32 bytes, and the original's keys often were; that
        # weakness is known and dated by LEGACY_TOKENS_UNTIL.
        valid = header.get("alg") == ALGORITHM and _HS256.verify(
            signing_input.encode(), _HS256.prepare_key(secret), base64url_decode(signature)
        )
        claims = jwt.decode(token, options={"verify_signature": False}) if valid else {}
    except (jwt.PyJWTError, ValueError):
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
