"""The doctor's look at a sample of the original's tokens: which key they verify with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.auth.caller import legacy_tokens_accepted, verify
from gateway.cli.doctor.report import FAIL, OK, WARN, Report
from gateway.errors import Unauthenticated
from gateway.settings import Settings


@dataclass
class TokenSample:
    """Tokens given on stdin, sorted by the key and shape they verify with."""

    given: int = 0
    legacy: list[str] = field(default_factory=list)  # public ids, the original's shape
    ours: list[str] = field(default_factory=list)  # public ids, gateway tokens
    existing: int | None = None  # how many name a user in the database, once looked up

    @classmethod
    def read(cls, settings: Settings, tokens: Sequence[str]) -> TokenSample:
        sample = cls()
        for token in (t.strip() for t in tokens):
            if not token:
                continue
            sample.given += 1
            try:
                # The original's tokens are sorted out even while they are not accepted.
                claims = verify(token, settings, legacy=True)
            except Unauthenticated:
                continue
            (sample.legacy if claims.legacy else sample.ours).append(claims.public_id)
        return sample

    @property
    def public_ids(self) -> list[str]:
        return self.legacy + self.ours


async def count_existing(conn: AsyncConnection, sample: TokenSample) -> None:
    if not sample.public_ids:
        sample.existing = 0
        return
    column: sa.ColumnClause[str] = sa.column("public_id")
    found = await conn.scalars(
        sa.select(column)
        .select_from(sa.table("user", column))
        .where(column.in_(set(sample.public_ids)))
    )
    existing = set(found)
    sample.existing = sum(p in existing for p in sample.public_ids)


def check_tokens(report: Report, settings: Settings, sample: TokenSample, now: datetime) -> None:
    """Whether the configured key is the one the original signed these tokens with."""
    key = "LEGACY_SECRET_KEY" if settings.legacy_secret_key else "SECRET_KEY"
    if not sample.given:
        report.add(WARN, "tokens", "none given on stdin (one token per line)")
        return
    verified = len(sample.public_ids)
    text = f"{sample.given} given, {verified} verify"
    if sample.legacy:
        text += f" ({len(sample.legacy)} of the original's shape, with {key})"
    if sample.ours:
        text += f" ({len(sample.ours)} gateway tokens, with SECRET_KEY)"
    if sample.existing is not None:
        text += f", {sample.existing} name existing users"
    if verified == 0:
        report.add(
            FAIL, "tokens", f"{text}: {key} is not the key the original app signed them with"
        )
    elif verified < sample.given:
        report.add(WARN, "tokens", f"{text}; the others will get 401")
    else:
        report.add(OK, "tokens", text)
    if sample.legacy and not legacy_tokens_accepted(settings, now):
        report.add(
            WARN,
            "tokens",
            "the original's tokens verify, but legacy tokens are off, so they will get 401: "
            "set LEGACY_TOKENS_UNTIL",
        )
