"""One frozen Settings, read once from the environment, then `.env`, then defaults."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from starlette.config import Config, undefined

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


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the service reads from its environment (see README, "Configuration")."""

    env: str = "development"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = field(default="", repr=False)
    token_ttl_seconds: int = 86400
    app_tokens_required: bool = False
    admin_username: str | None = None
    admin_password: str | None = field(default=None, repr=False)
    password_min_length: int = 8
    password_argon2_memory_kib: int = 19456
    password_argon2_time_cost: int = 2
    password_argon2_parallelism: int = 1
    graphql_max_depth: int = 10
    graphql_max_aliases: int = 30
    graphql_max_tokens: int = 2000
    graphql_introspection: bool = True
    graphql_persisted_only: bool = False
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1024 * 1024
    db_pool_size: int = 5
    db_max_overflow: int = 10
    db_pool_timeout: float = 10.0
    db_pool_recycle: int = 299
    db_pool_pre_ping: bool = True
    db_connect_timeout: float = 5.0
    # Bounds one SQL statement (asyncpg command_timeout, asyncmy read_timeout, SQLite
    # busy_timeout), so an unreachable database is a prompt 503 and not a hang.
    db_statement_timeout: float = 15.0
    log_format: str = "text"
    log_level: str = "INFO"
    metrics_token: str | None = field(default=None, repr=False)
    shutdown_timeout: float = 30.0
    count_sql: bool = False
    redis_url: str | None = field(default=None, repr=False)
    # Failed logins within the window: per (username, address) pair, and per address and
    # per username for pairs that have not signed in before (see gateway/throttle.py).
    login_max_failures: int = 5
    login_max_failures_per_address: int = 100
    login_max_failures_per_username: int = 100
    login_window_seconds: int = 300
    login_known_seconds: int = 30 * 86400
    # Tokens shaped like the original app's (``public_id`` only, no expiry) are
    # accepted until this moment (aware UTC); None turns them off.
    legacy_tokens_until: datetime | None = None
    # Verifies those tokens only, so production keeps a strong SECRET_KEY for new ones.
    legacy_secret_key: str = field(default="", repr=False)

    @property
    def production(self) -> bool:
        return self.env == "production"

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some values replaced (tests and the CLI use this)."""
        return replace(self, **changes)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: str | Path | None = ".env",
    ) -> Settings:
        """Read every variable once; raise SettingsError naming the first bad one."""
        env = os.environ if environ is None else environ
        path = Path(env_file) if env_file is not None else None
        config = Config(path if path is not None and path.is_file() else None, environ=env)
        read = _Reader(config)

        gateway_env = read("GATEWAY_ENV", str, "development")
        database_url = resolve_database_url(read)
        secret_key = read("SECRET_KEY", str, "")
        if gateway_env == "production":
            if len(secret_key.encode()) < MIN_SECRET_BYTES:
                raise SettingsError(
                    f"SECRET_KEY: required in production and must be at least "
                    f"{MIN_SECRET_BYTES} bytes"
                )
        elif not secret_key:
            secret_key = _generated_secret(database_url)

        origins = read("CORS_ORIGINS", str, "")
        return cls(
            env=gateway_env,
            database_url=database_url,
            secret_key=secret_key,
            token_ttl_seconds=read("TOKEN_TTL_SECONDS", _non_negative_int, 86400),
            app_tokens_required=read("APP_TOKENS_REQUIRED", _boolean, False),
            admin_username=read("ADMIN_USERNAME", str, "") or None,
            admin_password=read("ADMIN_PASSWORD", str, "") or None,
            password_min_length=read("PASSWORD_MIN_LENGTH", _positive_int, 8),
            password_argon2_memory_kib=read("PASSWORD_ARGON2_MEMORY_KIB", _positive_int, 19456),
            password_argon2_time_cost=read("PASSWORD_ARGON2_TIME_COST", _positive_int, 2),
            password_argon2_parallelism=read("PASSWORD_ARGON2_PARALLELISM", _positive_int, 1),
            graphql_max_depth=read("GRAPHQL_MAX_DEPTH", _positive_int, 10),
            graphql_max_aliases=read("GRAPHQL_MAX_ALIASES", _positive_int, 30),
            graphql_max_tokens=read("GRAPHQL_MAX_TOKENS", _positive_int, 2000),
            graphql_introspection=read("GRAPHQL_INTROSPECTION", _boolean, True),
            graphql_persisted_only=read("GRAPHQL_PERSISTED_ONLY", _boolean, False),
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            max_body_bytes=read("MAX_BODY_BYTES", _positive_int, 1024 * 1024),
            db_pool_size=read("DB_POOL_SIZE", _positive_int, 5),
            db_max_overflow=read("DB_MAX_OVERFLOW", _non_negative_int, 10),
            db_pool_timeout=read("DB_POOL_TIMEOUT", _positive_float, 10.0),
            db_pool_recycle=read("DB_POOL_RECYCLE", int, 299),
            db_pool_pre_ping=read("DB_POOL_PRE_PING", _boolean, True),
            db_connect_timeout=read("DB_CONNECT_TIMEOUT", _positive_float, 5.0),
            db_statement_timeout=read("DB_STATEMENT_TIMEOUT", _positive_float, 15.0),
            log_format=read("LOG_FORMAT", _log_format, "text"),
            log_level=read("LOG_LEVEL", _log_level, "INFO"),
            metrics_token=read("METRICS_TOKEN", str, "") or None,
            shutdown_timeout=read("SHUTDOWN_TIMEOUT", _positive_float, 30.0),
            count_sql=read("GATEWAY_COUNT_SQL", _boolean, False),
            redis_url=read("REDIS_URL", str, "") or None,
            login_max_failures=read("LOGIN_MAX_FAILURES", _positive_int, 5),
            login_max_failures_per_address=read(
                "LOGIN_MAX_FAILURES_PER_ADDRESS", _positive_int, 100
            ),
            login_max_failures_per_username=read(
                "LOGIN_MAX_FAILURES_PER_USERNAME", _positive_int, 100
            ),
            login_window_seconds=read("LOGIN_WINDOW_SECONDS", _positive_int, 300),
            login_known_seconds=read("LOGIN_KNOWN_SECONDS", _positive_int, 30 * 86400),
            legacy_tokens_until=_moment(
                "LEGACY_TOKENS_UNTIL", read("LEGACY_TOKENS_UNTIL", str, "").strip()
            ),
            legacy_secret_key=read("LEGACY_SECRET_KEY", str, ""),
        )


class _Reader:
    """Casts one variable, turning any failure into a one-line SettingsError."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def __call__(self, name: str, cast: Callable[[str], T], default: T) -> T:
        raw: str | None = self.config(name, default=undefined if default is None else None)
        if raw is None or raw == "" and cast is not str:
            return default
        try:
            return cast(raw)
        except (TypeError, ValueError) as exc:
            detail = str(exc) if isinstance(exc, _CastError) else f"not a valid {_kind(cast)}"
            raise SettingsError(f"{name}: {detail} (got {raw!r})") from None


class _CastError(ValueError):
    pass


def _kind(cast: Callable[..., Any]) -> str:
    kinds: dict[Callable[..., Any], str] = {int: "integer", float: "number"}
    return kinds.get(cast, str(getattr(cast, "__name__", "value")))


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise _CastError("expected true or false")


def _non_negative_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise _CastError("expected a whole number") from None
    if value < 0:
        raise _CastError("must not be negative")
    return value


def _positive_int(raw: str) -> int:
    value = _non_negative_int(raw)
    if value == 0:
        raise _CastError("must be greater than zero")
    return value


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _CastError("expected a number") from None
    if value <= 0:
        raise _CastError("must be greater than zero")
    return value


def _moment(name: str, raw: str) -> datetime | None:
    """An ISO date (midnight UTC of that day) or date-time (UTC unless it says otherwise)."""
    if not raw:
        return None
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(), UTC)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise SettingsError(
            f"{name}: expected an ISO date like 2027-01-31 or a date-time like "
            f"2027-01-31T12:00:00Z (got {raw!r})"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _log_format(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"text", "json"}:
        raise _CastError("expected text or json")
    return value


def _log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise _CastError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return value


def resolve_database_url(read: Callable[[str, Callable[[str], Any], Any], Any]) -> str:
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


def _generated_secret(database_url: str) -> str:
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
