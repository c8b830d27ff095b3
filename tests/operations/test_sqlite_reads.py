"""SQLite reads hand a statement's rows over in one step, exactly as the statement gives them."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from gateway.auth.caller import CALLER_ROW
from gateway.db.models import MemeTemplate
from gateway.db.reads import SqliteReader, Statement, prepare
from gateway.services.filters import Order, TemplateFilter
from gateway.services.statements import ONE, Listing, count_statement, rows_statement
from tests.conftest import MakeApp
from tests.support.actions import Actions

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

BASE = datetime(2024, 5, 1, 12, tzinfo=UTC)
# Every shape of list read: both listings, each order, the filters alone and together.
SHAPES = [
    (listing, TemplateFilter(order=order, **narrowed))
    for listing in Listing
    for order in Order
    for narrowed in (
        {},
        {"approved": False},
        {"search": "é"},
        {"username": "writer", "since": BASE + timedelta(minutes=3)},
    )
]
PAGES = [(1000, 0), (3, 0), (3, 4), (5, 1000)]


@pytest.fixture
async def seeded(make_app: MakeApp) -> tuple[Starlette, dict[str, Any]]:
    """Templates whose posted times tie in pairs (so the id decides the order), with and
    without descriptions, approved or not, in two owners' names and in non-ASCII text."""
    app = await make_app()
    act = Actions(None, app)  # type: ignore[arg-type]  # no HTTP needed here
    reader = await act.create_user("reader")
    writer = await act.create_user("writer")
    assert reader.id is not None and writer.id is not None
    async with act.session() as session:
        session.add_all(
            MemeTemplate(
                title=f"título {n} ☃" if n % 3 else f"plain {n}",
                url=f"https://example.com/{n}.png",
                description=None if n % 4 == 0 else f"línea {n}\n\"quoted\" \\ tab\t",
                user_id=(reader.id, writer.id)[n % 2],
                posted=(BASE + timedelta(minutes=n // 2)).replace(tzinfo=None),
                approved=n % 3 == 0,
            )
            for n in range(17)
        )
        await session.commit()
    return app, {"caller_public_id": reader.public_id}


def the_reader(app: Starlette) -> SqliteReader:
    reader = app.state.database.reader
    assert isinstance(reader, SqliteReader)
    return reader


async def engine_rows(
    app: Starlette, statement: Statement, params: dict[str, Any]
) -> list[list[Any]]:
    """The statement's rows through SQLAlchemy's own engine: the other way to read them."""
    async with app.state.engine.connect() as conn:
        prepared = prepare(statement, app.state.engine.dialect)
        result = await conn.exec_driver_sql(prepared.sql, prepared.arguments(params))
        return [list(row) for row in result.all()]


async def test_every_read_gives_the_rows_its_statement_gives(
    seeded: tuple[Starlette, dict[str, Any]],
) -> None:
    app, caller = seeded
    reader = the_reader(app)
    assert reader.as_one_value  # this machine's SQLite has its JSON functions
    checked = 0
    for listing, filters in SHAPES:
        params = caller | filters.params()
        reads: list[tuple[Statement, dict[str, Any]]] = [
            (count_statement(listing, filters), params)
        ]
        for keyset in (False, True):
            after = {"after_posted": BASE + timedelta(minutes=2), "after_id": 5} if keyset else {}
            reads += [
                (rows_statement(listing, filters, keyset=keyset),
                 params | after | {"limit": limit, "offset": offset})
                for limit, offset in PAGES
            ]
        for statement, values in reads:
            expected = await engine_rows(app, statement, values)
            assert await reader.fetch(statement, values) == expected, (listing, filters)
            checked += 1
    for template_id in (1, 4, 9999):
        values = caller | {"template_id": template_id}
        assert await reader.fetch(ONE, values) == await engine_rows(app, ONE, values)
    for public_id in (caller["caller_public_id"], "nobody"):
        values = {"caller_public_id": public_id}
        assert await reader.fetch(CALLER_ROW, values) == await engine_rows(app, CALLER_ROW, values)
    assert checked > len(SHAPES) * 5


async def test_a_page_of_many_rows_is_one_row_from_sqlite(
    seeded: tuple[Starlette, dict[str, Any]],
) -> None:
    """``sqlite3`` lets go of the GIL around each row it steps to, so each row of a page
    used to be a handover between the reader thread and a busy event loop: the reader
    now asks SQLite for the whole page as one value."""
    app, caller = seeded
    reader = the_reader(app)
    statement = rows_statement(Listing.ALL, TemplateFilter(), keyset=False)
    values = caller | {"limit": 1000, "offset": 0}
    prepared = reader.prepared(statement)
    with sqlite3.connect(reader.path) as conn:
        sent = conn.execute(prepared.sql, prepared.arguments(values)).fetchall()
    assert len(sent) == 1
    assert len(await reader.fetch(statement, values)) == 17
