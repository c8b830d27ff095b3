"""How settings are read: casts with one-line errors, database URLs, the generated key."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from starlette.config import Config

log = logging.getLogger("gateway.settings")

T = TypeVar("T")

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./gateway.db"
MIN_SECRET_BYTES = 32

# Sync-style URLs (as the original Flask app and most tools write them) map
# onto the async driver of the same database.
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+asyncmy",
    "mariadb": "mysql+asyncmy",
}
ASYNC_DRIVER_NAMES = {"aiosqlite", "asyncpg", "asyncmy", "aiomysql"}


class SettingsError(Exception):
    """A configuration value is missing or wrong; the message is one line naming it."""


class Reader:
    """Reads one variable (the environment, then ``.env``) and casts it; unset or empty
    is the default, and any failure a one-line SettingsError naming the variable."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def __call__(self, name: str, cast: Callable[[str], T], default: T) -> T:
        raw: str | None = self.config(name, default=None)
        if raw is None or raw == "":
            return default
        try:
            return cast(raw)
        except (TypeError, ValueError) as exc:
            detail = str(exc) if isinstance(exc, CastError) else f"not a valid {_kind(cast)}"
            raise SettingsError(f"{name}: {detail} (got {raw!r})") from None


class CastError(ValueError):
    pass


def _kind(cast: Callable[..., Any]) -> str:
    kinds: dict[Callable[..., Any], str] = {int: "integer", float: "number"}
    return kinds.get(cast, str(getattr(cast, "__name__", "value")))


def boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise CastError("expected true or false")


def non_negative_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise CastError("expected a whole number") from None
    if value < 0:
        raise CastError("must not be negative")
    return value


def positive_int(raw: str) -> int:
    value = non_negative_int(raw)
    if value == 0:
        raise CastError("must be greater than zero")
    return value


def positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise CastError("expected a number") from None
    if value <= 0:
        raise CastError("must be greater than zero")
    return value


def text(raw: str) -> str:
    return raw


def origins(raw: str) -> tuple[str, ...]:
    """A comma list of browser origins."""
    return tuple(o.strip() for o in raw.split(",") if o.strip())


def moment(raw: str) -> datetime:
    """An ISO date (midnight UTC of that day) or date-time (UTC unless it says otherwise)."""
    raw = raw.strip()
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(), UTC)
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise CastError(
            "expected an ISO date like 2027-01-31 or a date-time like 2027-01-31T12:00:00Z"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def log_format(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"text", "json"}:
        raise CastError("expected text or json")
    return value


def log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise CastError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return value


def resolve_database_url(read: Reader) -> str:
    """DATABASE_URL, else the original app's SQLALCHEMY_DATABASE_URI or DB_* parts."""
    for name in ("DATABASE_URL", "SQLALCHEMY_DATABASE_URI"):
        raw = read(name, str, "")
        if raw:
            return to_async_url(raw, name)
    parts = {n: read(n, str, "") for n in ("DB_USERNAME", "DB_PASS", "DB_HOST", "DB_NAME")}
    if parts["DB_HOST"] or parts["DB_NAME"]:
        missing = [n for n in ("DB_HOST", "DB_NAME", "DB_USERNAME") if not parts[n]]
        if missing:
            raise SettingsError(f"{missing[0]}: required when DB_HOST/DB_NAME are set")
        url = URL.create(
            "mysql+asyncmy",
            username=parts["DB_USERNAME"],
            password=parts["DB_PASS"] or None,
            host=parts["DB_HOST"],
            database=parts["DB_NAME"],
        )
        return url.render_as_string(hide_password=False)
    return DEFAULT_DATABASE_URL


def to_async_url(raw: str, name: str = "DATABASE_URL") -> str:
    """Map a sync-style SQLAlchemy URL onto the matching async driver."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SettingsError(f"{name}: not a database URL (got {raw!r})") from None
    backend, _, driver = url.drivername.partition("+")
    if backend not in ASYNC_DRIVERS:
        raise SettingsError(
            f"{name}: unsupported database scheme {url.drivername!r} "
            "(use sqlite, postgresql or mysql)"
        )
    if driver not in ASYNC_DRIVER_NAMES:
        url = url.set(drivername=ASYNC_DRIVERS[backend])
    elif backend in {"postgres", "mariadb"}:
        url = url.set(drivername=f"{ASYNC_DRIVERS[backend].split('+')[0]}+{driver}")
    return url.render_as_string(hide_password=False)


def secret_key_path(database_url: str) -> Path | None:
    """Where a generated key is kept: beside a SQLite file, else in the working folder."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        return Path(f"{url.database}.secret-key")
    return Path(".gateway-secret-key")


def generated_secret(database_url: str) -> str:
    path = secret_key_path(database_url)
    if path is None:
        return secrets.token_urlsafe(48)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    try:
        # O_EXCL: several workers starting at once agree on the first key written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    except OSError as exc:
        raise SettingsError(f"SECRET_KEY: unset and cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    log.warning("SECRET_KEY is not set: generated one and kept it in %s (mode 0600)", path)
    return key
