"""SQLModel tables, under the original Flask app's table names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class NaiveUTC(sa.TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the column: the original's DATETIME columns
    hold naive times, and all three databases store and compare those alike."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def new_public_id() -> str:
    return str(uuid.uuid4())


class User(SQLModel, table=True):
    __tablename__ = "user"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=50, unique=True)
    username: str = Field(max_length=50, unique=True)
    password: str = Field(max_length=255)
    admin: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    token_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime | None = Field(default_factory=utcnow, sa_type=NaiveUTC)


class MemeTemplate(SQLModel, table=True):
    __tablename__ = "meme_template"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=4096)
    description: str | None = Field(default=None, max_length=4096)
    url: str = Field(max_length=4096)
    user_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("user.id", ondelete="SET NULL"), index=True, nullable=True
        ),
    )
    posted: datetime = Field(default_factory=utcnow, index=True, sa_type=NaiveUTC)
    approved: bool = Field(
        default=False, index=True, sa_column_kwargs={"server_default": sa.false()}
    )


class Application(SQLModel, table=True):
    """A registered client app; only a hash of its token is stored."""

    __tablename__ = "application"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=NaiveUTC)
    revoked_at: datetime | None = Field(default=None, sa_type=NaiveUTC)
