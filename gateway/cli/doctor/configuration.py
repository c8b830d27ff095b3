"""The doctor's look at the settings: environment, keys, legacy tokens, app tokens."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from gateway.auth.caller import legacy_tokens_accepted
from gateway.cli.doctor.report import NOTE, OK, WARN, Report
from gateway.settings import MIN_SECRET_BYTES, Settings, secret_key_path


def check_configuration(report: Report, settings: Settings, now: datetime) -> None:
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    report.add(OK, "settings", f"GATEWAY_ENV={settings.env}, database {url}")

    size = len(settings.secret_key.encode())
    generated = secret_key_path(settings.database_url)
    if _is_generated(settings, generated):
        report.add(
            WARN,
            "SECRET_KEY",
            f"not set: new tokens are signed with a key generated into {generated}; "
            "the original app's tokens verify only if LEGACY_SECRET_KEY is its key",
        )
    elif size < MIN_SECRET_BYTES:
        report.add(
            WARN,
            "SECRET_KEY",
            f"{size} bytes: enough outside production, but GATEWAY_ENV=production needs "
            f"{MIN_SECRET_BYTES}; there, set a new SECRET_KEY and keep this one as "
            "LEGACY_SECRET_KEY",
        )
    else:
        report.add(OK, "SECRET_KEY", f"set ({size} bytes)")

    until = settings.legacy_tokens_until
    key = "LEGACY_SECRET_KEY" if settings.legacy_secret_key else "SECRET_KEY"
    if until is None:
        report.add(
            NOTE,
            "legacy tokens",
            "off (LEGACY_TOKENS_UNTIL unset): tokens the original app issued get 401",
        )
    elif legacy_tokens_accepted(settings, now):
        days = (until - now).days
        report.add(
            OK,
            "legacy tokens",
            f"accepted until {until:%Y-%m-%d %H:%M:%S} UTC ({days} days left), verified with {key}",
        )
    else:
        report.add(
            WARN,
            "legacy tokens",
            f"off: LEGACY_TOKENS_UNTIL {until:%Y-%m-%d %H:%M:%S} UTC has passed; "
            "tokens the original app issued get 401",
        )
    if settings.legacy_secret_key and not legacy_tokens_accepted(settings, now):
        report.add(NOTE, "LEGACY_SECRET_KEY", "set, but unused while legacy tokens are off")


def _is_generated(settings: Settings, path: Path | None) -> bool:
    try:
        return path is not None and path.read_text().strip() == settings.secret_key
    except OSError:
        return False
