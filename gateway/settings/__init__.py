"""One frozen Settings, read once from the environment, then `.env`, then defaults.

Each setting is declared once, as a field of ``Settings``: its environment variable, its
type and default, how it is read (which also bounds it) and one line of meaning. From
those declarations come ``Settings.from_env``, ``.env.example`` and the configuration
table of docs/operations.md (``python -m gateway.settings``; tests/operations/test_settings.py keeps
both files equal to what it prints).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from starlette.config import Config

from gateway.settings.values import (
    DEFAULT_DATABASE_URL,
    MIN_SECRET_BYTES,
    Reader,
    SettingsError,
    boolean,
    generated_secret,
    log_format,
    log_level,
    moment,
    non_negative_int,
    origins,
    positive_float,
    positive_int,
    resolve_database_url,
    secret_key_path,
    text,
    to_async_url,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "MIN_SECRET_BYTES",
    "Settings",
    "SettingsError",
    "secret_key_path",
    "to_async_url",
]

T = TypeVar("T")


def setting(
    env: str,
    default: T,
    meaning: str,
    read: Callable[[str], T] | None,
    *,
    secret: bool = False,
    also: tuple[tuple[str, str], ...] = (),
) -> T:
    """Declare a setting: its variable, default, meaning and cast (None: read by
    ``from_env`` itself); ``also`` names other variables it is read from, with theirs."""
    metadata = {"env": env, "meaning": meaning, "read": read, "also": also}
    return field(default=default, repr=not secret, metadata=metadata)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the service reads from its environment (docs/operations.md)."""

    database_url: str = setting(
        "DATABASE_URL", DEFAULT_DATABASE_URL,
        "Any SQLAlchemy URL; postgresql://, mysql://, sqlite:/// map to asyncpg, asyncmy, "
        "aiosqlite.",
        None,
        also=(
            ("SQLALCHEMY_DATABASE_URI", "The original app's name for the URL, used when "
             "DATABASE_URL is empty."),
            ("DB_USERNAME", "The original app's MySQL parts (when both URLs are empty): "
             "user, password, host, database."),
            ("DB_PASS", "Password of DB_USERNAME."),
            ("DB_HOST", "MySQL host of the original's four-part form."),
            ("DB_NAME", "MySQL database of the original's four-part form."),
        ),
    )
    env: str = setting(
        "GATEWAY_ENV", "development",
        "production requires a SECRET_KEY of at least 32 bytes.", text,
    )
    secret_key: str = setting(
        "SECRET_KEY", "",
        "JWT signing key; empty outside production: generated once into a 0600 file beside "
        "the database.",
        None, secret=True,
    )
    token_ttl_seconds: int = setting(
        "TOKEN_TTL_SECONDS", 86400,
        "Access-token lifetime in seconds; 0 = never expires (the original's behaviour).",
        non_negative_int,
    )
    app_tokens_required: bool = setting(
        "APP_TOKENS_REQUIRED", False,
        "Require x-application-token on every route (the original's \"prod\" mode).", boolean,
    )
    legacy_tokens_until: datetime | None = setting(
        "LEGACY_TOKENS_UNTIL", None,
        "Accept tokens the original app issued until this ISO date or date-time; empty: "
        "never.",
        moment,
    )
    legacy_secret_key: str = setting(
        "LEGACY_SECRET_KEY", "",
        "The original's key, used only to verify its tokens; empty: SECRET_KEY verifies them.",
        text, secret=True,
    )
    admin_username: str | None = setting(
        "ADMIN_USERNAME", None,
        "At start-up, create this admin if no user of that name exists.", text,
    )
    admin_password: str | None = setting(
        "ADMIN_PASSWORD", None,
        "Password of ADMIN_USERNAME (empty: generated and not shown).", text, secret=True,
    )
    password_min_length: int = setting(
        "PASSWORD_MIN_LENGTH", 8, "Minimum length of newly set passwords.", positive_int,
    )
    password_argon2_memory_kib: int = setting(
        "PASSWORD_ARGON2_MEMORY_KIB", 19456, "argon2id memory in KiB (OWASP's minimum).",
        positive_int,
    )
    password_argon2_time_cost: int = setting(
        "PASSWORD_ARGON2_TIME_COST", 2, "argon2id time cost (iterations).", positive_int,
    )
    password_argon2_parallelism: int = setting(
        "PASSWORD_ARGON2_PARALLELISM", 1, "argon2id parallelism (lanes).", positive_int,
    )
    password_hashing_threads: int = setting(
        "PASSWORD_HASHING_THREADS", 0,
        "Threads per worker that hash passwords; 0: one per core. The workers "
        "`gateway serve` starts hash at most one password per core at once, all together.",
        non_negative_int,
    )
    graphql_max_depth: int = setting(
        "GRAPHQL_MAX_DEPTH", 10, "Deepest GraphQL selection allowed.", positive_int,
    )
    graphql_max_aliases: int = setting(
        "GRAPHQL_MAX_ALIASES", 30, "Most aliases in one GraphQL document.", positive_int,
    )
    graphql_max_tokens: int = setting(
        "GRAPHQL_MAX_TOKENS", 2000, "Most tokens in one GraphQL document.", positive_int,
    )
    graphql_introspection: bool = setting(
        "GRAPHQL_INTROSPECTION", True, "Allow GraphQL introspection (__schema, __type).",
        boolean,
    )
    graphql_persisted_only: bool = setting(
        "GRAPHQL_PERSISTED_ONLY", False,
        "Callers other than admins may run only registered (persisted) operations.", boolean,
    )
    cors_origins: tuple[str, ...] = setting(
        "CORS_ORIGINS", (),
        "Comma list of browser origins allowed to call the API (CORS); empty: none.", origins,
    )
    max_body_bytes: int = setting(
        "MAX_BODY_BYTES", 1024 * 1024, "Larger request bodies get 413.", positive_int,
    )
    db_pool_size: int = setting(
        "DB_POOL_SIZE", 5,
        "Connections a pool keeps open (server databases; on SQLite, the most reader "
        "threads).",
        positive_int,
    )
    db_max_overflow: int = setting(
        "DB_MAX_OVERFLOW", 10, "Connections a pool may open beyond DB_POOL_SIZE under load.",
        non_negative_int,
    )
    db_pool_timeout: float = setting(
        "DB_POOL_TIMEOUT", 10.0, "Seconds to wait for a free pooled connection.",
        positive_float,
    )
    db_pool_recycle: int = setting(
        "DB_POOL_RECYCLE", 299,
        "Seconds after which a pooled connection is replaced (the original's 299).", int,
    )
    db_pool_pre_ping: bool = setting(
        "DB_POOL_PRE_PING", True,
        "Test a pooled connection before use, so a database that came back is used again.",
        boolean,
    )
    db_connect_timeout: float = setting(
        "DB_CONNECT_TIMEOUT", 5.0,
        "Seconds to connect to the database before the request gets 503.", positive_float,
    )
    db_statement_timeout: float = setting(
        "DB_STATEMENT_TIMEOUT", 15.0,
        "Seconds one SQL statement may take before the request gets 503.", positive_float,
    )
    log_format: str = setting(
        "LOG_FORMAT", "text", "text, or json: one JSON object per log line (gateway serve).",
        log_format,
    )
    log_level: str = setting(
        "LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING, ERROR or CRITICAL.", log_level,
    )
    metrics_token: str | None = setting(
        "METRICS_TOKEN", None,
        "When set, GET /metrics needs \"Authorization: Bearer <it>\"; empty: open.", text,
        secret=True,
    )
    shutdown_timeout: float = setting(
        "SHUTDOWN_TIMEOUT", 30.0,
        "Seconds gateway serve lets requests in flight finish after SIGTERM.", positive_float,
    )
    count_sql: bool = setting(
        "GATEWAY_COUNT_SQL", False,
        "Count SQL statements per request into X-SQL-Statements (benchmark only).", boolean,
    )
    redis_url: str | None = setting(
        "REDIS_URL", None,
        "Keep login-throttle counts and persisted queries in Redis (e.g. "
        "redis://127.0.0.1:6379/0); empty: in each process.",
        text, secret=True,
    )
    login_max_failures: int = setting(
        "LOGIN_MAX_FAILURES", 5,
        "Failed logins allowed per (username, client address) pair within the window.",
        positive_int,
    )
    login_max_failures_per_address: int = setting(
        "LOGIN_MAX_FAILURES_PER_ADDRESS", 100,
        "Failed logins from one address (any usernames) within the window, past which pairs "
        "not known there are refused.",
        positive_int,
    )
    login_max_failures_per_username: int = setting(
        "LOGIN_MAX_FAILURES_PER_USERNAME", 100,
        "Failed logins for one username (any addresses) within the window, past which pairs "
        "not known for it are refused.",
        positive_int,
    )
    login_window_seconds: int = setting(
        "LOGIN_WINDOW_SECONDS", 300, "Seconds of the login-throttle window.", positive_int,
    )
    login_known_seconds: int = setting(
        "LOGIN_KNOWN_SECONDS", 30 * 86400,
        "Seconds a successful login keeps its (username, address) pair known (exempt from "
        "the two bounds above).",
        positive_int,
    )

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
        read = Reader(Config(path if path is not None and path.is_file() else None, environ=env))
        values: dict[str, Any] = {}
        for declared in declarations():
            cast = declared.metadata["read"]
            if cast is not None:
                values[declared.name] = read(declared.metadata["env"], cast, declared.default)
        values["database_url"] = resolve_database_url(read)
        values["secret_key"] = _secret_key(read, values["env"], values["database_url"])
        return cls(**values)


def declarations() -> tuple[Field[Any], ...]:
    """Every setting, in the order they are declared (and documented)."""
    return fields(Settings)


def _secret_key(read: Reader, environment: str, database_url: str) -> str:
    """SECRET_KEY: required (and long enough) in production, else generated if unset."""
    key = read("SECRET_KEY", text, "")
    if environment == "production":
        if len(key.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(
                f"SECRET_KEY: required in production and must be at least "
                f"{MIN_SECRET_BYTES} bytes"
            )
        return key
    return key or generated_secret(database_url)
