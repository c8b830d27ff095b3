"""Settings: environment over `.env` over defaults, the original's names, one-line errors."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from gateway.settings import DEFAULT_DATABASE_URL, Settings, SettingsError
from tests.support import ROOT


def settings_from(
    tmp_path: Path, env: dict[str, str] | None = None, dotenv: str | None = None
) -> Settings:
    path = tmp_path / ".env"
    if dotenv is not None:
        path.write_text(dotenv)
    base = {"SECRET_KEY": "k" * 40}
    return Settings.from_env(environ=base | (env or {}), env_file=path)


def test_environment_over_dotenv_over_default(tmp_path: Path) -> None:
    assert settings_from(tmp_path).token_ttl_seconds == 86400
    dotenv = "TOKEN_TTL_SECONDS=60\nCORS_ORIGINS=https://a.example, https://b.example\n"
    from_file = settings_from(tmp_path, dotenv=dotenv)
    assert from_file.token_ttl_seconds == 60
    assert from_file.cors_origins == ("https://a.example", "https://b.example")
    assert settings_from(tmp_path, {"TOKEN_TTL_SECONDS": "30"}, dotenv).token_ttl_seconds == 30


def test_defaults(tmp_path: Path) -> None:
    settings = settings_from(tmp_path)
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert (settings.app_tokens_required, settings.password_min_length) == (False, 8)
    assert (settings.graphql_max_depth, settings.graphql_max_aliases) == (10, 30)
    assert (settings.graphql_max_tokens, settings.graphql_introspection) == (2000, True)
    assert settings.password_argon2_memory_kib == 19456
    assert settings.admin_username is None and settings.cors_origins == ()
    login = (settings.login_max_failures, settings.login_max_failures_per_address,
             settings.login_max_failures_per_username, settings.login_window_seconds,
             settings.login_known_seconds)
    assert login == (5, 100, 100, 300, 30 * 86400)


def test_login_throttle_settings(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, {
        "LOGIN_MAX_FAILURES": "3", "LOGIN_MAX_FAILURES_PER_ADDRESS": "50",
        "LOGIN_MAX_FAILURES_PER_USERNAME": "40", "LOGIN_WINDOW_SECONDS": "60",
        "LOGIN_KNOWN_SECONDS": "3600",
    })
    assert (settings.login_max_failures, settings.login_max_failures_per_address,
            settings.login_max_failures_per_username, settings.login_window_seconds,
            settings.login_known_seconds) == (3, 50, 40, 60, 3600)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite:///./meme.db", "sqlite+aiosqlite:///./meme.db"),
        ("sqlite+pysqlite:////srv/meme.db", "sqlite+aiosqlite:////srv/meme.db"),
        ("postgresql://u:p@db:5432/memes", "postgresql+asyncpg://u:p@db:5432/memes"),
        ("postgres://u:p@db/memes", "postgresql+asyncpg://u:p@db/memes"),
        ("postgresql+psycopg2://u@db/memes", "postgresql+asyncpg://u@db/memes"),
        ("mysql://u:p@db/memes", "mysql+asyncmy://u:p@db/memes"),
        (
            "mysql+pymysql://u:p@db/memes?charset=utf8mb4",
            "mysql+asyncmy://u:p@db/memes?charset=utf8mb4",
        ),
        ("mariadb://u@db/memes", "mysql+asyncmy://u@db/memes"),
        ("mysql+aiomysql://u@db/memes", "mysql+aiomysql://u@db/memes"),
        ("postgresql+asyncpg://u@db/memes", "postgresql+asyncpg://u@db/memes"),
    ],
)
def test_sync_urls_map_to_async_drivers(tmp_path: Path, given: str, used: str) -> None:
    assert settings_from(tmp_path, {"DATABASE_URL": given}).database_url == used


def test_original_sqlalchemy_database_uri(tmp_path: Path) -> None:
    original = {"SQLALCHEMY_DATABASE_URI": "mysql+pymysql://meme:pw@db/memes"}
    assert settings_from(tmp_path, original).database_url == "mysql+asyncmy://meme:pw@db/memes"
    both = original | {"DATABASE_URL": "postgresql://u@pg/x"}
    assert settings_from(tmp_path, both).database_url == "postgresql+asyncpg://u@pg/x"


def test_original_db_parts(tmp_path: Path) -> None:
    parts = {"DB_USERNAME": "meme", "DB_PASS": "p@ss/w:rd", "DB_HOST": "db", "DB_NAME": "memes"}
    url = make_url(settings_from(tmp_path, parts).database_url)
    assert url.drivername == "mysql+asyncmy"
    assert (url.username, url.password, url.host, url.database) == (
        "meme",
        "p@ss/w:rd",
        "db",
        "memes",
    )
    from_dotenv = settings_from(tmp_path, dotenv="".join(f"{k}={v}\n" for k, v in parts.items()))
    assert make_url(from_dotenv.database_url).password == "p@ss/w:rd"
    (tmp_path / ".env").unlink()
    with pytest.raises(SettingsError, match="^DB_NAME: "):
        settings_from(tmp_path, {"DB_HOST": "db", "DB_USERNAME": "meme"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TOKEN_TTL_SECONDS", "a day"),
        ("TOKEN_TTL_SECONDS", "-5"),
        ("TOKEN_TTL_SECONDS", "1.5"),
        ("DATABASE_URL", "oracle://scott@db/orcl"),
        ("DATABASE_URL", "not a url"),
        ("SQLALCHEMY_DATABASE_URI", "mssql+pyodbc://u@db/x"),
        ("APP_TOKENS_REQUIRED", "maybe"),
        ("GRAPHQL_INTROSPECTION", "2"),
        ("PASSWORD_MIN_LENGTH", "0"),
        ("GRAPHQL_MAX_DEPTH", "ten"),
        ("DB_POOL_TIMEOUT", "soon"),
        ("LOGIN_MAX_FAILURES_PER_USERNAME", "0"),
        ("LOGIN_KNOWN_SECONDS", "a month"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        settings_from(tmp_path, {name: value})
    message = str(error.value)
    assert message.startswith(f"{name}: ") and "\n" not in message
    with pytest.raises(SettingsError, match=f"^{name}: "):
        settings_from(tmp_path, dotenv=f"{name}={value}\n")  # the same from .env


@pytest.mark.parametrize("secret", [None, "", "x" * 31])
def test_production_refuses_a_missing_or_short_secret_key(
    tmp_path: Path, secret: str | None
) -> None:
    env = {"GATEWAY_ENV": "production"} | ({} if secret is None else {"SECRET_KEY": secret})
    with pytest.raises(SettingsError, match="^SECRET_KEY: .*at least 32 bytes"):
        Settings.from_env(environ=env, env_file=tmp_path / ".env")
    ok = Settings.from_env(environ=env | {"SECRET_KEY": "x" * 32}, env_file=tmp_path / ".env")
    assert ok.production and ok.secret_key == "x" * 32


def test_unset_secret_key_is_generated_beside_the_sqlite_file_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'memes.db'}"}
    with caplog.at_level(logging.WARNING, logger="gateway.settings"):
        first = Settings.from_env(environ=env, env_file=None)
    key_file = tmp_path / "memes.db.secret-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == first.secret_key
    assert len(first.secret_key.encode()) >= 32
    assert "SECRET_KEY" in caplog.text and first.secret_key not in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gateway.settings"):
        second = Settings.from_env(environ=env, env_file=None)
    assert second.secret_key == first.secret_key
    assert caplog.text == ""  # warned once, when the key was made


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = settings_from(tmp_path)
    with pytest.raises(AttributeError):
        settings.token_ttl_seconds = 5  # type: ignore[misc]
    assert settings.with_changes(token_ttl_seconds=5).token_ttl_seconds == 5


EXAMPLE = ROOT / ".env.example"


class Remembering(dict[str, str]):
    """An environment that remembers every variable looked up in it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def documented() -> dict[str, str]:
    """The ``NAME=value`` lines of .env.example, each under a comment saying what it is."""
    lines = EXAMPLE.read_text().splitlines()
    found: dict[str, str] = {}
    for above, line in zip(["", *lines], lines, strict=False):
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert above.startswith("# "), f"{name}: no line saying what it means above it"
            found[name] = value
    return found


def test_env_example_lists_every_setting_at_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the generated SECRET_KEY is kept beside ./gateway.db
    environ = Remembering()
    defaults = Settings.from_env(environ, env_file=None)
    example = documented()
    assert sorted(example) == sorted(environ.asked)
    for name, value in example.items():
        assert Settings.from_env({name: value}, env_file=None) == defaults, f"{name}={value}"
    assert Settings.from_env({}, env_file=EXAMPLE) == defaults  # copied as .env, it is inert


def test_env_example_and_the_docs_table_are_written_from_the_declarations() -> None:
    """Both follow gateway/settings' declarations; rewrite them with
    ``python -m gateway.settings env-example`` (and ``table``) after changing one."""
    from gateway.settings.documented import env_example, markdown_table

    assert EXAMPLE.read_text() == env_example()
    operations = (EXAMPLE.parent / "docs" / "operations.md").read_text()
    table = operations.split("<!-- settings table: python -m gateway.settings table -->\n")[1]
    assert table.split("<!-- end of settings table -->")[0] == markdown_table()
