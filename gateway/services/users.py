"""Users: sign-in, sign-out, and the admin's user management."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import cache

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway.auth.caller import CALLER, CALLER_COLUMNS, TOKEN_VERSION, WIDTH, Account, Caller
from gateway.auth.hashing import shared_slots
from gateway.auth.passwords import Passwords
from gateway.auth.tokens import issue_access_token
from gateway.db.database import Db
from gateway.db.models import User
from gateway.db.reads import Statement
from gateway.errors import (
    COULD_NOT_VERIFY,
    LAST_ADMIN,
    NO_USER,
    USERNAME_TAKEN,
    BadInput,
    Conflict,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)
from gateway.services.fields import Page, clean_text, insert_unique, paging
from gateway.settings import Settings

# Who is told each login's outcome ("success", "failure" or "throttled"): the metrics,
# which create_app registers (the rules know no metrics; this is how they report).
login_observers: list[Callable[[str], None]] = []

USERNAME_MAX = 50
PASSWORD_MAX = 1024  # bounds the hashing work one request can ask for
LOGIN_CHALLENGE = {"WWW-Authenticate": 'Basic realm="Login required!"'}


@cache
def _passwords(memory_kib: int, time_cost: int, parallelism: int, threads: int) -> Passwords:
    return Passwords(
        memory_kib=memory_kib,
        time_cost=time_cost,
        parallelism=parallelism,
        threads=threads,
        slots=shared_slots(),
    )


def passwords_for(settings: Settings) -> Passwords:
    """One CryptContext per set of argon2 parameters, shared across requests."""
    return _passwords(
        settings.password_argon2_memory_kib,
        settings.password_argon2_time_cost,
        settings.password_argon2_parallelism,
        settings.password_hashing_threads,
    )


# The row a sign-in reads: the caller's columns (the account, its token version) of the
# user the username names, and the hash to verify.
SIGN_IN_ROW: Statement = select(*CALLER_COLUMNS, col(CALLER.password)).where(
    col(CALLER.username) == bindparam("username")
)


async def authenticate(
    db: Db, settings: Settings, *, username: str | None, password: str | None
) -> tuple[Account, int]:
    """The account whose password matches and its token version; an old-format hash
    is re-hashed to current argon2. Unknown usernames cost a full verify too, and every
    failure is the same Unauthenticated(COULD_NOT_VERIFY), so nothing reveals which
    usernames exist. The row comes through the reader (one statement, no ORM session)
    like every read on the hot path; only a re-hash writes, through the session."""
    passwords = passwords_for(settings)
    failure = Unauthenticated(COULD_NOT_VERIFY, headers=LOGIN_CHALLENGE)
    if not username or not password or len(password) > PASSWORD_MAX:
        raise failure
    try:
        clean_text("username", username, max_length=USERNAME_MAX)
    except BadInput:
        await passwords.verify_dummy(password)
        raise failure from None
    rows = await db.fetch(SIGN_IN_ROW, {"username": username})
    if not rows:
        await passwords.verify_dummy(password)
        raise failure
    row = rows[0]
    ok, new_hash = await passwords.verify(password, row[WIDTH])
    if not ok:
        raise failure
    account = Account.of_row(row)
    if new_hash is not None:
        session = db.session
        await session.execute(
            update(User).where(col(User.id) == account.id).values(password=new_hash)
        )
        await session.commit()
    return account, row[TOKEN_VERSION]


async def login(
    db: Db, caller: Caller, *, username: str | None, password: str | None
) -> tuple[str, Account]:
    """A fresh access token for valid credentials (see ``authenticate``), under the login
    throttle (gateway/auth/throttle.py): TooManyRequests, before any password work and
    whatever the password, once this username from this address has too many recent
    failures, or the address or the username has and this pair never signed in before
    (a right guess during a lock must not be told apart). A success clears the pair's
    count and remembers the pair."""
    settings = caller.settings
    throttle = caller.login_throttle
    name = username or ""
    if throttle is not None:
        try:
            await throttle.check(username=name, address=caller.client_address)
        except TooManyRequests:
            _observe("throttled")
            raise
    try:
        account, token_version = await authenticate(
            db, settings, username=username, password=password
        )
    except Unauthenticated:
        _observe("failure")
        if throttle is not None:
            await throttle.failed(username=name, address=caller.client_address)
        raise
    _observe("success")
    if throttle is not None:
        await throttle.succeeded(username=name, address=caller.client_address)
    token = issue_access_token(
        secret=settings.secret_key,
        public_id=account.public_id,
        version=token_version,
        ttl_seconds=settings.token_ttl_seconds,
    )
    return token, account


async def logout(db: Db, caller: Caller) -> None:
    """End every token of the caller, on every process: bump token_version in the row."""
    user = await caller.require_user()
    await db.session.execute(
        update(User)
        .where(col(User.id) == user.id)
        .values(token_version=col(User.token_version) + 1)
    )
    await db.session.commit()


async def list_users(
    db: Db, caller: Caller, *, limit: int | None = None, offset: int | None = None
) -> Page[User]:
    """All users by id. Admins only."""
    await caller.require_admin()
    limit, offset = paging(limit, offset)
    session = db.session
    total = await session.scalar(select(func.count()).select_from(User)) or 0
    users = await session.scalars(select(User).order_by(col(User.id)).limit(limit).offset(offset))
    return Page(list(users), total, limit, offset)


async def get_user(db: Db, caller: Caller, *, public_id: str) -> User:
    """One user by public id. Admins only; NotFound(NO_USER)."""
    await caller.require_admin()
    return await _user_by_public_id(db.session, public_id)


async def create_user(
    db: Db,
    caller: Caller,
    *,
    username: str | None,
    password: str | None,
) -> User:
    """A new non-admin user. Admins only, except with APP_TOKENS_REQUIRED, where a valid
    application token is enough (the original's sign-up from a registered app).
    BadInput for a missing, long or short field; Conflict(USERNAME_TAKEN) when the
    database's unique index says so (no check-then-insert race)."""
    if not (caller.settings.app_tokens_required and caller.app is not None):
        await caller.require_admin()
    user = User(
        username=valid_username(username),
        password=await passwords_for(caller.settings).hash(
            valid_password(password, caller.settings)
        ),
        admin=False,
    )
    return await insert_user(db.session, user)


async def insert_user(session: AsyncSession, user: User) -> User:
    return await insert_unique(session, user, conflict=USERNAME_TAKEN)


async def promote_user(db: Db, caller: Caller, *, public_id: str) -> User:
    """Make a user an admin. Admins only; NotFound(NO_USER)."""
    await caller.require_admin()
    session = db.session
    user = await _user_by_public_id(session, public_id)
    await session.execute(update(User).where(col(User.id) == user.id).values(admin=True))
    await session.commit()
    user.admin = True
    return user


async def delete_user(db: Db, caller: Caller, *, public_id: str) -> None:
    """Delete a user; their templates stay, without an owner. Admins only; NotFound;
    Conflict(LAST_ADMIN) rather than leave the service with no admin."""
    await caller.require_admin()
    session = db.session
    user = await _user_by_public_id(session, public_id)
    if user.admin:
        # Lock the admin rows so two admins deleting each other cannot both pass.
        admins = await session.scalars(
            select(col(User.id)).where(col(User.admin)).with_for_update()
        )
        if len(list(admins)) <= 1:
            raise Conflict(LAST_ADMIN)
    await session.delete(user)
    await session.commit()


async def create_admin(
    session: AsyncSession, settings: Settings, *, username: str, password: str | None = None
) -> tuple[User, str]:
    """An admin made from the command line or start-up settings; a password is generated
    when none is given. Returns the user and the password in clear, to show once."""
    password = password or secrets.token_urlsafe(18)
    user = User(
        username=valid_username(username),
        password=await passwords_for(settings).hash(valid_password(password, settings)),
        admin=True,
    )
    return await insert_user(session, user), password


async def has_admin(session: AsyncSession) -> bool:
    return (await session.scalar(select(col(User.id)).where(col(User.admin)).limit(1))) is not None


async def user_exists(session: AsyncSession, username: str) -> bool:
    return (
        await session.scalar(select(col(User.id)).where(col(User.username) == username))
    ) is not None


def _observe(outcome: str) -> None:
    for observe in login_observers:
        observe(outcome)


def valid_username(username: str | None) -> str:
    if username is None or username == "":
        raise BadInput("username and password are required")
    username = clean_text("username", username, max_length=USERNAME_MAX) or ""
    if not username.strip() or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in username):
        raise BadInput("username must be 1 to 50 printable characters")
    return username


def valid_password(password: str | None, settings: Settings) -> str:
    if password is None or password == "":
        raise BadInput("username and password are required")
    password = clean_text("password", password, max_length=PASSWORD_MAX) or ""
    if len(password) < settings.password_min_length:
        raise BadInput(f"password must be at least {settings.password_min_length} characters")
    return password


async def _user_by_public_id(session: AsyncSession, public_id: str) -> User:
    try:
        clean_text("public_id", public_id, max_length=USERNAME_MAX)
    except BadInput:
        raise NotFound(NO_USER) from None
    user = await session.scalar(select(User).where(col(User.public_id) == public_id))
    if user is None:
        raise NotFound(NO_USER)
    return user
