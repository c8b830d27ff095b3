"""create_app(settings): the one place where the service is put together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

from gateway.assets import static_mount
from gateway.auth.throttle import LoginThrottle
from gateway.db.database import Database
from gateway.graphql.app import create_graphql_app
from gateway.graphql.persisted import PersistedQueries, query_store
from gateway.middleware.app_tokens import AppTokenMiddleware
from gateway.middleware.body_limit import BodyLimitMiddleware
from gateway.middleware.legacy_tokens import LegacyTokenHeadersMiddleware
from gateway.middleware.request_context import RequestContextMiddleware
from gateway.middleware.security_headers import SecurityHeadersMiddleware
from gateway.middleware.sql_count import SqlCountMiddleware
from gateway.observability.access import AccessLogMiddleware, metrics_endpoint
from gateway.observability.metrics import count_login, forget_process, instrument_pool
from gateway.rest.endpoints import probes
from gateway.rest.endpoints import routes as rest_routes
from gateway.rest.errors import exception_handlers
from gateway.rest.openapi import docs_routes
from gateway.services import users
from gateway.settings import Settings
from gateway.stores import redis_client

log = logging.getLogger("gateway")


def create_app(settings: Settings) -> Starlette:
    """Build the whole service from one Settings. The engine is made here, eagerly, so
    in-process tests (which send no lifespan) get the same app as uvicorn does."""
    database = Database.connect(settings)
    engine, sessions = database.engine, database.sessions
    instrument_pool(engine)
    if count_login not in users.login_observers:  # once per process, however many apps
        users.login_observers.append(count_login)
    # Login counters: in this process, or in Redis when REDIS_URL is set (see auth/throttle.py).
    # One Redis client (REDIS_URL) for the login counts and the persisted queries.
    redis = redis_client(settings)
    login_throttle = LoginThrottle.from_settings(settings, redis)
    # Persisted GraphQL queries: in this process, or in Redis when REDIS_URL is set.
    persisted = query_store(redis)
    graphql = PersistedQueries(
        create_graphql_app(settings),
        store=persisted,
        persisted_only=settings.graphql_persisted_only,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await users.passwords_for(settings).warm()
        if settings.admin_username:
            await ensure_admin(app)
        yield
        await login_throttle.aclose()
        await persisted.aclose()
        if redis is not None:
            await redis.aclose()
        await database.dispose()
        forget_process()

    async def ensure_admin(app: Starlette) -> None:
        async with sessions() as session:
            assert settings.admin_username is not None
            if not await users.user_exists(session, settings.admin_username):
                await users.create_admin(
                    session,
                    settings,
                    username=settings.admin_username,
                    password=settings.admin_password,
                )
                log.info("created admin %r from ADMIN_USERNAME", settings.admin_username)

    # Each layer is here only when its setting asks for it: a layer costs every request.
    middleware = [
        # Outermost, so even the 500 that the access log writes for a bug carries them.
        Middleware(SecurityHeadersMiddleware),
        Middleware(AccessLogMiddleware),  # its request id is on every response
    ]
    if settings.cors_origins:
        middleware.append(Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["authorization", "content-type", "x-access-token",
                           "x-application-token"],
            expose_headers=["X-Total-Count", "Link", "Deprecation", "Sunset", "X-Request-ID",
                            "Retry-After"],
        ))
    middleware += [
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        Middleware(
            RequestContextMiddleware,
            database=database,
            settings=settings,
            login_throttle=login_throttle,
        ),
    ]
    if settings.legacy_tokens_until is not None:
        middleware.append(Middleware(LegacyTokenHeadersMiddleware, settings=settings))
    if settings.app_tokens_required:
        middleware.append(Middleware(AppTokenMiddleware))
    if settings.count_sql:  # benchmarks only: X-SQL-Statements on every response
        middleware.insert(0, Middleware(SqlCountMiddleware))
    app = Starlette(
        # Starlette tries routes in order and no two overlap: the most asked come first.
        routes=[
            *probes,
            Route("/graphql", graphql),
            *rest_routes,
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            *docs_routes(settings),
            static_mount(),
        ],
        middleware=middleware,
        exception_handlers=exception_handlers,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.login_throttle = login_throttle
    app.state.query_store = persisted
    return app
