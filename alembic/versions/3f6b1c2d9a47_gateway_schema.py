"""The gateway's schema: template owners by id, non-null flags, token versions, apps.

Every row is kept. ``meme_template.username`` becomes ``user_id`` by matching usernames
(no match, or no username → NULL); NULL ``admin``/``approved`` become false; a NULL
``posted`` becomes the time of the upgrade; the password column widens to 255 for
argon2 hashes. Downgrading refills ``username`` from each template's owner and keeps
the password column at 255 (argon2 hashes made since would not fit in 80).

Revision ID: 3f6b1c2d9a47
Revises: eca8ddca17c7
Create Date: 2026-11-27
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "3f6b1c2d9a47"
down_revision: str | None = "eca8ddca17c7"
branch_labels: str | None = None
depends_on: str | None = None

OWNER_FK = "fk_meme_template_user_id_user"
TEMPLATE_USERNAME = sa.String(4096).with_variant(sa.Text(), "mysql", "mariadb")

user = sa.table(
    "user",
    sa.column("id", sa.Integer()),
    sa.column("public_id", sa.String()),
    sa.column("username", sa.String()),
    sa.column("password", sa.String()),
    sa.column("admin", sa.Boolean()),
)
template = sa.table(
    "meme_template",
    sa.column("user_id", sa.Integer()),
    sa.column("username", sa.String()),
    sa.column("posted", sa.DateTime()),
    sa.column("approved", sa.Boolean()),
)


def upgrade() -> None:
    op.create_table(
        "application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )

    _fill_user_gaps()
    with _batch("user") as batch:
        batch.alter_column("public_id", existing_type=sa.String(50), nullable=False)
        batch.alter_column("username", existing_type=sa.String(50), nullable=False)
        batch.alter_column(
            "password", existing_type=sa.String(80), type_=sa.String(255), nullable=False
        )
        batch.alter_column(
            "admin", existing_type=sa.Boolean(), nullable=False, server_default=sa.false()
        )
        batch.add_column(
            sa.Column("token_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("created_at", sa.DateTime(), nullable=True))

    op.add_column("meme_template", sa.Column("user_id", sa.Integer(), nullable=True))
    owner = sa.select(user.c.id).where(user.c.username == template.c.username).scalar_subquery()
    op.execute(template.update().values(user_id=owner))
    op.execute(template.update().where(template.c.approved.is_(None)).values(approved=False))
    op.execute(template.update().where(template.c.posted.is_(None)).values(posted=_now()))
    op.create_index("ix_meme_template_user_id", "meme_template", ["user_id"])
    with _batch("meme_template") as batch:
        batch.alter_column(
            "approved", existing_type=sa.Boolean(), nullable=False, server_default=sa.false()
        )
        batch.alter_column("posted", existing_type=sa.DateTime(), nullable=False)
        batch.create_foreign_key(OWNER_FK, "user", ["user_id"], ["id"], ondelete="SET NULL")
        batch.drop_column("username")
    op.create_index("ix_meme_template_posted", "meme_template", ["posted"])
    op.create_index("ix_meme_template_approved", "meme_template", ["approved"])


def downgrade() -> None:
    op.add_column("meme_template", sa.Column("username", TEMPLATE_USERNAME, nullable=True))
    owner = sa.select(user.c.username).where(user.c.id == template.c.user_id).scalar_subquery()
    op.execute(template.update().values(username=owner))
    op.drop_index("ix_meme_template_approved", table_name="meme_template")
    op.drop_index("ix_meme_template_posted", table_name="meme_template")
    fk_name = _owner_fk_name()
    if fk_name is not None:
        with _batch("meme_template") as batch:
            batch.drop_constraint(fk_name, type_="foreignkey")
    op.drop_index("ix_meme_template_user_id", table_name="meme_template")
    with _batch("meme_template") as batch:
        batch.drop_column("user_id")
        batch.alter_column(
            "approved", existing_type=sa.Boolean(), nullable=True, server_default=None
        )
        batch.alter_column("posted", existing_type=sa.DateTime(), nullable=True)

    with _batch("user") as batch:
        batch.drop_column("created_at")
        batch.drop_column("token_version")
        batch.alter_column("admin", existing_type=sa.Boolean(), nullable=True, server_default=None)
        # The password column stays 255 wide: argon2 hashes (97 chars) would not fit in 80.
        batch.alter_column("password", existing_type=sa.String(255), nullable=True)
        batch.alter_column("username", existing_type=sa.String(50), nullable=True)
        batch.alter_column("public_id", existing_type=sa.String(50), nullable=True)

    op.drop_table("application")


@contextmanager
def _batch(table: str) -> Iterator[BatchOperations]:
    """``batch_alter_table``, quiet about the original's unnamed Boolean CHECKs that a
    SQLite table copy leaves out: the columns become NOT NULL booleans, which is the
    check that matters, and the gateway's own models define no CHECK either."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unnamed CHECK constraint", UserWarning)
        with op.batch_alter_table(table) as batch:
            yield batch


def _now() -> datetime:
    # Naive UTC, as the gateway stores every DATETIME.
    return datetime.now(UTC).replace(tzinfo=None)


def _fill_user_gaps() -> None:
    """The original's columns were nullable; give the rare NULL a value the new
    NOT NULL columns accept (an empty password hash never verifies)."""
    bind = op.get_bind()
    for row_id in bind.scalars(sa.select(user.c.id).where(user.c.public_id.is_(None))).all():
        bind.execute(user.update().where(user.c.id == row_id).values(public_id=str(uuid.uuid4())))
    for row_id in bind.scalars(sa.select(user.c.id).where(user.c.username.is_(None))).all():
        bind.execute(user.update().where(user.c.id == row_id).values(username=f"user-{row_id}"))
    bind.execute(user.update().where(user.c.password.is_(None)).values(password=""))
    bind.execute(user.update().where(user.c.admin.is_(None)).values(admin=False))


def _owner_fk_name() -> str | None:
    """Ours is named; a schema made by create_all() has the database's own name for it."""
    for fk in sa.inspect(op.get_bind()).get_foreign_keys("meme_template"):
        if fk["constrained_columns"] == ["user_id"]:
            return fk["name"] or None
    return None
