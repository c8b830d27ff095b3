"""Database outages: 503 while the database cannot answer, served again when it can.

Server databases are reached through a small TCP proxy that the test cuts and restores,
in the same process that keeps serving (no restart). SQLite has no connection to cut:
it is a file the process opens. Making the file unreadable means nothing here (the tests
run as root, whom ``chmod 000`` does not stop, and a moved or deleted file stays
readable through the descriptors already open), so its real "cannot answer" case is
tested instead: another process holding the write lock (a backup or a migration) for
longer than the statement timeout (SQLite's busy_timeout).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel
from starlette.applications import Starlette

from gateway.app import create_app
from tests.conftest import test_settings as settings_for
from tests.support.actions import Actions, actions_for
from tests.support.databases import empty_tables

# Generous bound on one request during an outage: connect + statement + pool timeouts
# below are 1 + 2 + 3 s; a request that hangs fails the test instead of blocking it.
HANG = 30
ROUNDS = 10  # drops in one test
TIMEOUTS = {"db_connect_timeout": 1.0, "db_statement_timeout": 2.0, "db_pool_timeout": 3.0}


class TcpProxy:
    """127.0.0.1:<port> → the database. ``cut("refuse")`` closes every connection and
    stops listening (connection refused); ``cut("stall")`` keeps accepting but passes no
    byte either way (a network partition); ``restore()`` forwards again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.mode = "forward"
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        if self.mode != "forward":
            return  # stalled: held open, never answered
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers.add(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                if self.mode != "forward":
                    return
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            if self.mode == "forward":
                sink.close()

    async def cut(self, mode: str) -> None:
        self.mode = mode
        if mode == "refuse":
            for writer in list(self.writers):
                writer.transport.abort()
            self.writers.clear()
            assert self.server is not None
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        # "stall": open connections stay open and silent; new ones are accepted, not served

    async def restore(self) -> None:
        for writer in list(self.writers):  # whatever was stalled now fails fast
            writer.transport.abort()
        self.writers.clear()
        self.mode = "forward"
        if self.server is None:
            await self.start()

    async def close(self) -> None:
        await self.restore()
        for writer in list(self.writers):
            writer.transport.abort()
        for task in list(self.pipes):
            task.cancel()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
def server_url(server_databases: dict[str, str], request: pytest.FixtureRequest) -> str:
    backend = request.param
    for url in server_databases.values():
        if make_url(url).get_backend_name() == backend:
            return url
    pytest.skip(f"no reachable {backend} in GATEWAY_TEST_DATABASES")


@pytest.fixture
async def proxied_app(server_url: str) -> AsyncIterator[tuple[Starlette, TcpProxy]]:
    url = make_url(server_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or _default_port(url))
    await proxy.start()
    app = create_app(
        settings_for(
            url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
            **TIMEOUTS,
        )
    )
    await empty_tables(app.state.engine)
    yield app, proxy
    await app.state.engine.dispose()
    await proxy.close()


def _default_port(url: URL) -> int:
    return 5432 if url.get_backend_name() == "postgresql" else 3306


Request = Callable[[], Awaitable[httpx.Response]]


def api_calls(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Request]:
    """One call of each kind: token check + read, write, login, GraphQL, readiness."""
    return {
        "feed": lambda: client.get("/", headers=headers),
        "create": lambda: client.post(
            "/template", data={"title": "t", "url": "https://e.com/a.png"}, headers=headers
        ),
        "login": lambda: client.get("/login", auth=("alice", "alice-password")),
        "graphql": lambda: client.post(
            "/graphql", json={"query": "{ me { username } }"}, headers=headers
        ),
        "readyz": lambda: client.get("/readyz"),
    }


def unavailable(name: str, response: httpx.Response) -> bool:
    if name == "graphql":
        codes = [e["extensions"]["code"] for e in response.json().get("errors", [])]
        return response.status_code == 503 and codes == ["UNAVAILABLE"]
    return response.status_code == 503 and response.json() == {"message": "Service unavailable"}


@pytest.mark.parametrize("server_url", ["postgresql", "mysql"], indirect=True)
async def test_cut_then_restore_database_connection(
    proxied_app: tuple[Starlette, TcpProxy],
) -> None:
    app, proxy = proxied_app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        act = Actions(client, app)
        headers = await act.user_headers("alice")
        calls = api_calls(client, headers)
        statuses: list[int] = []

        async def run_all(expect_up: bool) -> None:
            for name, call in calls.items():
                response = await asyncio.wait_for(call(), HANG)
                statuses.append(response.status_code)
                if expect_up:
                    assert response.status_code == 200, (name, response.text)
                    if name == "graphql":
                        assert response.json()["data"]["me"]["username"] == "alice"
                else:
                    assert unavailable(name, response), (name, response.text)

        await run_all(expect_up=True)
        for mode in ("refuse", "stall"):
            await proxy.cut(mode)
            await run_all(expect_up=False)
            await run_all(expect_up=False)  # and again: nothing is stuck in between
            await proxy.restore()
            await run_all(expect_up=True)

        assert 500 not in statuses

        # The application-token gate reads the database in a middleware, before any
        # route's handler: an outage there is a 503 too.
        gated = create_app(app.state.settings.with_changes(app_tokens_required=True))
        gated_transport = httpx.ASGITransport(app=gated)
        async with httpx.AsyncClient(transport=gated_transport, base_url="http://g") as other:
            app_token = {"x-application-token": "some-app-token"}
            assert (await other.get("/", headers=app_token)).status_code == 401
            await proxy.cut("refuse")
            response = await asyncio.wait_for(other.get("/", headers=app_token), HANG)
            assert response.status_code == 503, response.text
            assert response.json() == {"message": "Service unavailable"}
            assert response.headers["x-request-id"]
            await proxy.restore()
            assert (await other.get("/", headers=app_token)).status_code == 401
        await gated.state.engine.dispose()

        # Every connection the outage broke went back to the pool's count.
        metrics = (await client.get("/metrics")).text
        assert "\ngateway_db_pool_checked_out 0.0\n" in metrics


async def test_sqlite_write_lock_held_elsewhere_is_503_until_released(sqlite_url: str) -> None:
    app = create_app(settings_for(sqlite_url, db_statement_timeout=1.0))
    async with app.state.engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        act = Actions(client, app)
        headers = await act.user_headers("alice")
        create = api_calls(client, headers)["create"]
        feed = api_calls(client, headers)["feed"]
        assert (await create()).status_code == 200

        holder = sqlite3.connect(make_url(sqlite_url).database or "", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the write lock, as a backup or migration takes
        try:
            for _ in range(2):
                response = await asyncio.wait_for(create(), HANG)
                assert response.status_code == 503, response.text
                assert response.json() == {"message": "Service unavailable"}
            # WAL: readers are not blocked by a writer, so reads go on being served.
            assert (await feed()).status_code == 200
        finally:
            holder.execute("ROLLBACK")
            holder.close()

        assert (await create()).status_code == 200
        assert len(await act.templates()) == 2
    await app.state.engine.dispose()


@pytest.mark.parametrize("server_url", ["postgresql"], indirect=True)
async def test_reads_after_the_server_dropped_every_connection_are_served(server_url: str) -> None:
    # A restart or failover drops pooled connections; the reader notices the drop (asyncpg
    # may see it only as a confused protocol state when the server's farewell arrives
    # before the connection's end), replaces the pool's connections and reads again, so
    # the next reads are served as if nothing had happened. Several pooled connections,
    # several rounds, reads sent at once right after the drop: the race is likely to show.
    app = create_app(settings_for(server_url))
    await empty_tables(app.state.engine)
    async with app.router.lifespan_context(app), actions_for(app) as act:
        headers = await act.user_headers("alice")
        await act.create_template(headers, "kept")
        admin = create_async_engine(server_url, poolclass=NullPool)
        async with admin.connect() as conn:
            for _ in range(ROUNDS):
                answers = await asyncio.gather(
                    *(act.client.get(path, headers=headers) for path in ("/", "/template/1") * 4)
                )
                assert [r.status_code for r in answers] == [200] * 8
                await conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ))
                answers = await asyncio.gather(
                    *(act.client.get(path, headers=headers) for path in ("/", "/template/1") * 4)
                )
                assert [r.status_code for r in answers] == [200] * 8, [r.text for r in answers]
        await admin.dispose()
        feed = (await act.client.get("/", headers=headers)).json()["templates"]
        assert [t["title"] for t in feed] == ["kept"]
