"""``gateway doctor``: what taking over from the original Flask app needs, in plain lines.

Each check adds findings to one report (``report.py``): the settings
(``configuration.py``), the database (``database.py``), and a sample of the original's
tokens given on stdin (``tokens.py``). Any FAIL line blocks start-up (exit 1); a setting
that cannot be read is exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from gateway.cli.doctor.configuration import check_configuration
from gateway.cli.doctor.database import check_database
from gateway.cli.doctor.report import EXIT_SETTINGS, FAIL, Finding, Report
from gateway.cli.doctor.tokens import TokenSample, check_tokens
from gateway.settings import Settings, SettingsError


def command(args: argparse.Namespace) -> int:
    return main(tokens_stdin=args.tokens_stdin)


def main(*, tokens_stdin: bool = False, stdin: TextIO | None = None) -> int:
    """Read the settings, examine, print one line per finding; the exit status."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(Finding(FAIL, "settings", str(exc)).line())
        return EXIT_SETTINGS
    tokens = (stdin or sys.stdin).read().splitlines() if tokens_stdin else None
    report = asyncio.run(examine(settings, tokens=tokens))
    for line in report.lines():
        print(line)
    print("start-up is blocked: fix the FAIL lines" if report.blocked else "ready to serve")
    return report.exit_status


async def examine(
    settings: Settings, *, tokens: Sequence[str] | None = None, now: datetime | None = None
) -> Report:
    """Every check, configuration first, then the database, then the token sample."""
    now = now or datetime.now(UTC)
    report = Report()
    check_configuration(report, settings, now)
    sample = None if tokens is None else TokenSample.read(settings, tokens)
    await check_database(report, settings, sample)
    if sample is not None:
        check_tokens(report, settings, sample, now)
    return report
