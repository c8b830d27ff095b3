"""The original Flask app's final schema, under its own head revision id.

A database the original created and migrated is already at this revision, so a plain
``gateway db upgrade`` takes it over. Columns, order and constraints are those of the
original's models (Flask-SQLAlchemy 2.4 on SQLAlchemy 1.3, whose Boolean added a CHECK).

One deliberate difference, on MySQL/MariaDB only: ``meme_template.username`` is TEXT,
because four VARCHAR(4096) columns in utf8mb4 exceed MySQL's 65,535-byte row limit and
the CREATE TABLE would fail.

Revision ID: eca8ddca17c7
Revises:
Create Date: 2020-10-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "eca8ddca17c7"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

TEMPLATE_USERNAME = sa.String(4096).with_variant(sa.Text(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "meme_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(4096), nullable=False),
        sa.Column("description", sa.String(4096), nullable=True),
        sa.Column("url", sa.String(4096), nullable=False),
        sa.Column("username", TEMPLATE_USERNAME, nullable=True),
        sa.Column("posted", sa.DateTime(), nullable=True),
        sa.Column("approved", sa.Boolean(create_constraint=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(50), nullable=True),
        sa.Column("username", sa.String(50), nullable=True),
        sa.Column("password", sa.String(80), nullable=True),
        sa.Column("admin", sa.Boolean(create_constraint=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
        sa.UniqueConstraint("username"),
    )


def downgrade() -> None:
    op.drop_table("user")
    op.drop_table("meme_template")
