"""The benchmark driver: seed, start real uvicorn processes, load them with wrk, print one table.

Run it through ``bench/run.sh`` (``make bench``); see bench/RESULTS.md for what it measures.
Every server of a worker count is started first and the scenarios then load them in turn,
round after round, so each ratio compares figures taken minutes apart at most.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import seed

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LUA = BENCH / "wrk.lua"
SECRET = "bench-secret-key-long-enough-for-hs256-signing"
# The screen a frontend asks for in one request (as in docs/graphql.md).
GRAPHQL_SCREEN = (
    "{ me { username admin } feed(limit: %d) { id title url description posted approved "
    "username author { username } } }"
)
PROBE_DELAY_MS = 10  # the /healthz probe: one connection, a request every 10 ms
ROUNDS = 2

BY_ID, FEED, GRAPHQL, HEALTHZ, LOGIN, UNDER_LOGIN = (
    "1 template by id", "2 REST feed", "3 GraphQL screen", "6 /healthz", "4 login (Basic)",
    "5 /healthz under 4",
)
IDLE = "  /healthz idle probe"
GATEWAY, CEILING, CEILING_SQLITE3 = "gateway", "ceiling", "ceiling-sqlite3"
GATEWAY_SERVE = "gateway serve"


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    failures: int
    rss_mb: list[float]


@dataclass
class Row:
    app: str
    scenario: str
    workers: int
    runs: list[Run] = field(default_factory=list)
    sql: str = "-"
    note: str = ""

    @property
    def rps(self) -> float:
        return statistics.fmean(r.rps for r in self.runs) if self.runs else 0.0

    @property
    def p99(self) -> float:
        return max(r.p99_ms for r in self.runs) if self.runs else 0.0

    def cells(self) -> list[str]:
        if not self.runs:
            return [self.app, self.scenario, str(self.workers), "n/a", "", "", "", "", "",
                    self.sql, self.note]
        first, last = self.runs[0], self.runs[-1]
        measured = bool(last.rss_mb)
        return [
            self.app,
            self.scenario,
            str(self.workers),
            f"{self.rps:.0f}",
            f"{statistics.fmean(r.p50_ms for r in self.runs):.2f}",
            f"{self.p99:.2f}",
            str(sum(r.failures for r in self.runs)),
            f"{sum(first.rss_mb):.0f} → {sum(last.rss_mb):.0f}" if measured else "-",
            f"{max(last.rss_mb):.0f}" if measured else "-",
            self.sql,
            " / ".join(f"{r.rps:.0f}" for r in self.runs) + (f"; {self.note}" if self.note else ""),
        ]


HEADER = ["app", "scenario", "workers", "req/s", "p50 ms", "p99 ms", "non-2xx",
          "RSS MB run1 → run2", "max MB/worker", "SQL/req", "req/s per run"]


class Server:
    """One server (``workers`` processes) on a free loopback port: the gateway as its
    operators run it (``gateway serve``, with its access log), any other ASGI factory
    under plain uvicorn."""

    def __init__(self, factory: str, env: dict[str, str], workers: int, logdir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        log = open(logdir / f"{factory.split(':')[0].replace(' ', '-')}-{self.port}.log", "w")
        if factory == GATEWAY_SERVE:
            command = [str(Path(sys.executable).parent / "gateway"), "serve", "--host",
                       "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
        else:
            command = [sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH), "--factory",
                       factory, "--host", "127.0.0.1", "--port", str(self.port), "--workers",
                       str(workers), "--no-access-log", "--log-level", "warning"]
        self.proc = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{factory} exited with {self.proc.returncode}; see {log.name}")
            if len(self.worker_pids()) == workers and http(self.base + "/healthz")[0] == 200:
                # every worker must be serving: ask as many times as there are workers
                if all(http(self.base + "/healthz")[0] == 200 for _ in range(4 * workers)):
                    return
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{factory} did not answer /healthz within 60 s; see {log.name}")

    def worker_pids(self) -> list[int]:
        if self.workers == 1:
            return [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        pids = []
        for pid in map(int, children.split()):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"resource_tracker" not in cmdline:
                pids.append(pid)
        return pids

    def rss_mb(self) -> list[float]:
        sizes = []
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        return sizes

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Target:
    """One server under load: one the benchmark started, or a peer it only reaches."""

    app: str
    base: str
    feed_path: str
    token: str | None = None
    server: Server | None = None

    def rss_mb(self) -> list[float]:
        return self.server.rss_mb() if self.server else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
    except OSError:
        return 0, {}, b""


def get_json(url: str, token: str | None = None) -> Any:
    status, _, content = http(url, headers={"x-access-token": token} if token else {})
    if status != 200:
        raise SystemExit(f"GET {url} answered {status}: {content[:200]!r}")
    return json.loads(content)


@dataclass
class Load:
    """What wrk sends: a path and the wrk.lua settings (token, method, body, ids, pace)."""

    path: str
    connections: int
    threads: int
    env: dict[str, str] = field(default_factory=dict)

    def start(self, base: str, seconds: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["wrk", f"-t{min(self.threads, self.connections)}", f"-c{self.connections}",
             f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA), base + self.path],
            env={**os.environ, **self.env}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )

    def probe(self, base: str) -> tuple[int, dict[str, str], bytes]:
        """One request outside the load, as wrk would send it."""
        headers = {}
        if "BENCH_TOKEN" in self.env:
            headers["x-access-token"] = self.env["BENCH_TOKEN"]
        if "BENCH_BASIC" in self.env:
            headers["Authorization"] = self.env["BENCH_BASIC"]
        body = self.env.get("BENCH_BODY")
        if body:
            headers["Content-Type"] = "application/json"
        path = self.path
        if "BENCH_IDS" in self.env:
            path = f"/template/{self.env['BENCH_IDS'].split(',')[0]}"
        status, got, content = http(
            base + path, method=self.env.get("BENCH_METHOD", "GET"), headers=headers,
            body=body.encode() if body else None,
        )
        return status, {k.lower(): v for k, v in got.items()}, content


def wrk_result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate()
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    raise SystemExit(f"wrk printed no result:\n{out}")


def to_run(result: dict[str, Any], rss: list[float]) -> Run:
    return Run(
        rps=result["requests"] / (result["duration_us"] / 1e6),
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        failures=result["status_errors"] + result["socket_errors"],
        rss_mb=rss,
    )


# ---- the rows: the standard ones, or a copy of the peer's -------------------------------


@dataclass
class Rows:
    posts: list[seed.Post]
    reader: str  # who the scenarios sign in as
    admin: str
    feed_size: int


def standard_rows() -> Rows:
    posts = seed.standard_posts()
    feed = [p for p in posts if p.approved or p.owner == seed.READER]
    return Rows(posts, seed.READER, seed.ADMIN, len(feed))


def peer_rows(peer: str, token: str) -> Rows:
    """The peer's templates as its own API lists them (``GET /template``), so the gateway
    serves exactly the same rows. Whose token it is shows in the feed (``GET /``): its
    unapproved rows are the caller's own; with none, any user without templates reads the
    same feed."""
    listed = get_json(f"{peer}/template", token)["templates"]
    feed = get_json(f"{peer}/", token)["templates"]
    posts = [
        seed.Post(
            id=t["id"], title=t["title"], url=t["url"], description=t.get("description"),
            owner=t.get("username") or t.get("user_id"),
            posted=parsedate_to_datetime(t["posted"]) if t.get("posted") else seed.EPOCH,
            approved=bool(t.get("approved")),
        )
        for t in listed
    ]
    own = {t.get("username") or t.get("user_id") for t in feed if not t.get("approved")}
    if len(own) > 1:
        raise SystemExit(f"the peer's feed holds unapproved rows of several users: {own}")
    owners = {p.owner for p in posts}
    reader = own.pop() if own else _unused("bench-reader", owners)
    return Rows(posts, str(reader), _unused("bench-admin", owners | {reader}), len(feed))


def _unused(name: str, taken: set[Any]) -> str:
    while name in taken:
        name += "-"
    return name


def same_rows(gateway: Target, peer: Target) -> None:
    """Stop unless both serve the same feed, row for row (what the original writes)."""
    keys = ("id", "title", "url", "description", "posted", "approved", "user_id")

    def rows(target: Target) -> list[tuple[Any, ...]]:
        got = get_json(target.base + target.feed_path, target.token)["templates"]
        return sorted(tuple(bool(t[k]) if k == "approved" else t[k] for k in keys) for t in got)

    mine, theirs = rows(gateway), rows(peer)
    if mine != theirs:
        only_mine, only_theirs = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
        raise SystemExit(
            f"the gateway and the peer serve different feeds ({len(mine)} and {len(theirs)} "
            f"rows); first rows only in one: {only_mine[:1]} / {only_theirs[:1]}"
        )


# ---- the benchmark -------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: list[Row] = []
        self.workdir = Path(args.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if args.db == "sqlite":
            self.url = f"sqlite+aiosqlite:///{self.workdir / 'bench.db'}"
        else:
            self.url = args.postgres_url
        # raw argon2 verifies per second, measured right before each login storm
        self.argon2: dict[int, float] = {}
        self.data = peer_rows(args.peer, args.peer_token) if args.peer else standard_rows()
        self.ids = ",".join(str(p.id) for p in self.data.posts)

    def load(self, path: str, token: str | None = None, **env: str) -> Load:
        settings = {"BENCH_TOKEN": token} if token else {}
        return Load(path, self.args.connections, self.args.threads, settings | env)

    def measure(self, row: Row, target: Target, load: Load, *, warmup: bool = True) -> None:
        if warmup and self.args.warmup:
            wrk_result(load.start(target.base, self.args.warmup))
        result = wrk_result(load.start(target.base, self.args.duration))
        row.runs.append(to_run(result, target.rss_mb()))

    def row(self, target: Target, scenario: str, workers: int) -> Row:
        found = self.find(target.app, scenario, workers, measured=False)
        if found is None:
            found = Row(target.app, scenario, workers)
            self.rows.append(found)
        return found

    def compare(self, scenario: str, workers: int, loads: list[tuple[Target, Load]],
                beside: Sequence[tuple[str, Target, Load]] = ()) -> None:
        """One scenario on several servers: each probed once, then loaded in turn, round
        after round (a warm-up before each server's first round). ``beside``: loads of
        other scenarios taken in the same rounds, right after the first server's."""
        entries = [(scenario, *loads[0]), *beside, *((scenario, *rest) for rest in loads[1:])]
        ready = []
        for scenario_, target, load in entries:
            row = self.row(target, scenario_, workers)
            status, _, content = load.probe(target.base)
            if status != 200 or b'"errors"' in content:
                row.note = f"skipped: probe answered {status} {content[:80]!r}"
            else:
                ready.append((row, target, load))
        for round_ in range(ROUNDS):
            for row, target, load in ready:
                self.measure(row, target, load, warmup=round_ == 0)

    def run(self) -> None:
        args = self.args
        print(f"seeding {self.url}", file=sys.stderr)
        ids = asyncio.run(
            seed.seed(self.url, self.data.posts, reader=self.data.reader, admin=self.data.admin)
        )
        gateway_env = {
            "DATABASE_URL": self.url,
            "SECRET_KEY": SECRET,
            "TOKEN_TTL_SECONDS": "86400",
        }
        ceiling_env = {"CEILING_DATABASE_URL": self.url,
                       "CEILING_FEED_USER_ID": str(ids[self.data.reader])}
        ceilings = [(CEILING, {"CEILING_DRIVER": "engine"})]
        if args.db == "sqlite" and not args.smoke:
            ceilings.append((CEILING_SQLITE3, {"CEILING_DRIVER": "sqlite3"}))
        # The SQL counts come from a one-worker gateway of its own, so that the gateway
        # under load runs with the default settings.
        counting = Server(GATEWAY_SERVE, gateway_env | {"GATEWAY_COUNT_SQL": "true"},
                          1, self.workdir)
        try:
            for workers in args.workers:
                servers: list[Server] = []
                try:
                    targets = []
                    for name, env in ceilings:
                        print(f"starting {name}, {workers} worker(s)", file=sys.stderr)
                        server = Server("ceiling:create", ceiling_env | env, workers,
                                        self.workdir)
                        servers.append(server)
                        targets.append(Target(name, server.base, "/?limit=1000", server=server))
                    print(f"starting gateway, {workers} worker(s)", file=sys.stderr)
                    server = Server(GATEWAY_SERVE, gateway_env, workers, self.workdir)
                    servers.append(server)
                    gateway = Target(GATEWAY, server.base, "/?limit=1000",
                                     token=self.sign_in(server.base), server=server)
                    peers = []
                    if args.peer:
                        peers = [Target(args.peer_name, args.peer.rstrip("/"), "/",
                                        token=args.peer_token)]
                        same_rows(gateway, peers[0])
                    self.run_workers(workers, gateway, peers, targets, counting)
                finally:
                    for server in servers:
                        server.stop()
        finally:
            counting.stop()

    def sign_in(self, base: str) -> str:
        status, _, content = http(base + "/login", headers={"Authorization": self.basic()})
        if status != 200:
            raise SystemExit(f"gateway login failed: {status} {content[:200]!r}")
        token: str = json.loads(content)["token"]
        return token

    def basic(self) -> str:
        name = self.data.reader
        pair = f"{name}:{seed.password_of(name)}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def run_workers(self, workers: int, gateway: Target, peers: list[Target],
                    ceilings: list[Target], counting: Server) -> None:
        everyone = [gateway, *peers, *ceilings]
        self.compare(BY_ID, workers, [
            (t, self.load("/template/1", t.token, BENCH_IDS=self.ids)) for t in everyone])
        # The screen is loaded in the feed's rounds, right after the gateway's feed:
        # its goal is a ratio to that feed, which drifts less measured side by side.
        screen = json.dumps({"query": GRAPHQL_SCREEN % self.data.feed_size})
        self.compare(FEED, workers, [(t, self.load(t.feed_path, t.token)) for t in everyone],
                     beside=[(GRAPHQL, gateway, self.load("/graphql", gateway.token,
                                                          BENCH_METHOD="POST",
                                                          BENCH_BODY=screen))])
        self.compare(HEALTHZ, workers, [
            (t, self.load("/healthz")) for t in [gateway, *ceilings[:1]]])
        self.count_sql(workers, counting)
        self.login_storm(gateway, workers, ceilings[0] if ceilings else None)

    def count_sql(self, workers: int, counting: Server) -> None:
        """X-SQL-Statements of one request per scenario, on the counting gateway."""
        token = self.sign_in(counting.base)

        def count(load: Load) -> str:
            return load.probe(counting.base)[1].get("x-sql-statements", "?")

        def screen(limit: int) -> Load:
            body = json.dumps({"query": GRAPHQL_SCREEN % limit})
            return self.load("/graphql", token, BENCH_METHOD="POST", BENCH_BODY=body)

        counts = {
            BY_ID: count(self.load("/template/1", token, BENCH_IDS=self.ids)),
            FEED: count(self.load("/?limit=1000", token)),
            GRAPHQL: f"{count(screen(self.data.feed_size))} (limits 10, 100: "
                     f"{count(screen(10))}, {count(screen(100))})",
            HEALTHZ: count(self.load("/healthz")),
        }
        for scenario, sql in counts.items():
            row = self.find(GATEWAY, scenario, workers, measured=False)
            if row is not None:
                row.sql = sql

    def login_storm(self, gateway: Target, workers: int, ceiling: Target | None) -> None:
        """Logins with Basic auth (4 connections per worker) and, meanwhile, the paced
        /healthz probe; then one more storm with the probe on the bare Starlette app
        instead, which does no hashing: its p99 during the gateway's storm over its own
        idle p99 is what the machine's scheduler allows any server (printed for
        information beside target 4)."""
        login = Load("/login", 4 * workers, self.args.threads, {"BENCH_BASIC": self.basic()})
        probe = Load("/healthz", 1, 1, {"BENCH_DELAY": str(PROBE_DELAY_MS)})
        idle = self.row(gateway, IDLE, workers)
        idle.sql = "0"
        for _ in range(ROUNDS):
            self.measure(idle, gateway, probe, warmup=False)
        self.argon2[workers] = argon2_rate(self.args.duration)
        storm, during = self.row(gateway, LOGIN, workers), self.row(gateway, UNDER_LOGIN, workers)
        storm.sql, during.sql = "1", "0"
        if self.args.warmup:
            wrk_result(login.start(gateway.base, self.args.warmup))
        for _ in range(ROUNDS):
            probed, hashed = self.storm_probing(gateway, login, probe, gateway)
            rss = gateway.rss_mb()
            storm.runs.append(to_run(hashed, rss))
            during.runs.append(to_run(probed, rss))
        if ceiling is not None and not self.args.smoke:
            self.measure(self.row(ceiling, IDLE, workers), ceiling, probe, warmup=False)
            probed, _ = self.storm_probing(gateway, login, probe, ceiling)
            self.row(ceiling, UNDER_LOGIN, workers).runs.append(
                to_run(probed, ceiling.rss_mb()))

    def storm_probing(
        self, gateway: Target, login: Load, probe: Load, probed: Target
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """One login storm on the gateway with the probe on ``probed`` meanwhile: the
        probe's wrk result and the storm's."""
        hashing = login.start(gateway.base, self.args.duration)
        time.sleep(0.2)  # let the storm start before the probe does
        probing = probe.start(probed.base, max(1, self.args.duration - 1))
        return wrk_result(probing), wrk_result(hashing)

    # ---- the report -----------------------------------------------------------------------

    def find(self, app: str, scenario: str, workers: int, *, measured: bool = True) -> Row | None:
        for row in self.rows:
            if (row.app, row.scenario, row.workers) == (app, scenario, workers):
                if row.runs or not measured:
                    return row
        return None

    def ratios(self) -> list[tuple[str, str, str, str]]:
        out: list[tuple[str, str, str, str]] = []

        def add(target: str, what: str, value: float | None, goal: str, ok: bool | None) -> None:
            shown = "n/a" if value is None else f"{value:.2f}"
            verdict = "n/a" if ok is None else ("met" if ok else "MISSED")
            out.append((target, what, f"{shown} (goal {goal})", verdict))

        def ratio(scenario: str, w: int, app: str, other: str) -> float | None:
            mine, theirs = self.find(app, scenario, w), self.find(other, scenario, w)
            return mine.rps / theirs.rps if mine and theirs and theirs.rps else None

        for w in self.args.workers:
            for scenario in (BY_ID, FEED):
                if self.args.peer:
                    r = ratio(scenario, w, GATEWAY, self.args.peer_name)
                    add("1", f"{scenario}, {w}w: gateway / {self.args.peer_name}", r,
                        "≥ 3.00", None if r is None else r >= 3)
                for ceiling in (CEILING, CEILING_SQLITE3):
                    r = ratio(scenario, w, GATEWAY, ceiling)
                    if r is not None:
                        add("info", f"{scenario}, {w}w: gateway / {ceiling}", r, "-", None)
            gql, feed = self.find(GATEWAY, GRAPHQL, w), self.find(GATEWAY, FEED, w)
            if gql and feed:
                r = gql.rps / feed.rps
                add("2", f"{GRAPHQL}, {w}w: GraphQL screen / REST feed", r, "≥ 0.70", r >= 0.7)
                # Constant in the feed size: a full page of 10 costs what one of 100 does
                # (the rows, then the count), and the whole feed no more.
                whole, ten, hundred = gql.sql.replace("(limits 10, 100:", "").replace(
                    ")", "").replace(",", "").split()
                constant = "?" not in (whole, ten, hundred) and ten == hundred and (
                    int(whole) <= int(ten))
                add("2", f"{GRAPHQL}, {w}w: SQL per screen, limit {self.data.feed_size} "
                    f"(limits 10, 100) = {gql.sql}", None, "constant", constant)
            r = ratio(HEALTHZ, w, GATEWAY, CEILING)
            add("3", f"{HEALTHZ}, {w}w: gateway / bare Starlette", r, "≥ 0.50",
                None if r is None else r >= 0.5)
            storm = self.find(GATEWAY, LOGIN, w)
            if storm and w in self.argon2:
                r = storm.rps / self.argon2[w]
                add("4", f"{LOGIN}, {w}w: login / raw argon2 ({self.argon2[w]:.1f}/s)", r,
                    "≥ 0.80", r >= 0.8)
            idle, during = self.find(GATEWAY, IDLE, w), self.find(GATEWAY, UNDER_LOGIN, w)
            if idle and during:
                r = during.p99 / idle.p99
                add("4", f"{UNDER_LOGIN}, {w}w: p99 {during.p99:.1f} / idle {idle.p99:.1f} ms",
                    r, "≤ 3", r <= 3)
            bare_idle, bare_during = self.find(CEILING, IDLE, w), self.find(CEILING, UNDER_LOGIN, w)
            if bare_idle and bare_during:
                add("info", f"{UNDER_LOGIN}, {w}w, bare Starlette probed during the gateway's "
                    f"storm: p99 {bare_during.p99:.1f} / idle {bare_idle.p99:.1f} ms",
                    bare_during.p99 / bare_idle.p99, "-", None)
        failures = sum(r.failures for row in self.rows for r in row.runs)
        add("4", "non-2xx responses, all scenarios", failures, "0", failures == 0)
        gateway_rss = [max(r.rss_mb) for row in self.rows if row.app == GATEWAY
                       for r in row.runs if r.rss_mb]
        per_worker = max(gateway_rss, default=0.0)
        add("4", "largest gateway worker RSS, MB", per_worker, "≤ 150", per_worker <= 150)
        growth = max(
            (sum(row.runs[-1].rss_mb) - sum(row.runs[0].rss_mb) for row in self.rows
             if row.app == GATEWAY and len(row.runs) >= 2),
            default=0.0,
        )
        add("4", "largest gateway RSS growth run1 → run2, MB", growth, "≤ 2 (not growing)",
            growth <= 2)
        return out

    def report(self) -> str:
        args = self.args
        peer = (f"; peer: {args.peer_name} at {args.peer} ({len(self.data.posts)} templates "
                f"copied from it)" if args.peer else "")
        lines = [
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; database: {args.db}; workers: "
            f"{', '.join(map(str, args.workers))}; {args.duration} s per run ({ROUNDS} rounds, "
            f"servers interleaved) after a {args.warmup} s warm-up; wrk -t{args.threads} "
            f"-c{args.connections} (login: 4 connections per worker; probe: 1, paced "
            f"{PROBE_DELAY_MS} ms); feed of {self.data.feed_size} rows for "
            f"{self.data.reader!r}{peer}",
            f"- commit: {commit()}; {versions()}",
            f"- machine: {os.cpu_count()} cores ({platform.machine()}), load average before "
            f"the run {self.args.load_before}",
            "- raw argon2id verify (argon2-cffi, m=19456 KiB, t=2, p=1), one process per "
            "core, measured just before each login storm: "
            + ", ".join(f"{rate:.1f}/s ({w}w)" for w, rate in self.argon2.items()),
            "",
            "| " + " | ".join(HEADER) + " |",
            "|" + "---|" * len(HEADER),
        ]
        lines += ["| " + " | ".join(row.cells()) + " |" for row in self.rows]
        lines += ["", "| target | measure | ratio | verdict |", "|---|---|---|---|"]
        lines += ["| " + " | ".join(r) + " |" for r in self.ratios()]
        return "\n".join(lines)


def _verify_loop(seconds: float) -> int:
    from argon2 import PasswordHasher

    hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
    stored = hasher.hash("bench-password")
    count, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        hasher.verify(stored, "bench-password")
        count += 1
    return count


def argon2_rate(seconds: float) -> float:
    """Raw argon2-cffi verifies per second with one process per core."""
    procs = os.cpu_count() or 1
    with ProcessPoolExecutor(procs) as pool:
        list(pool.map(_verify_loop, [0.2] * procs))  # processes up, hasher imported
        counts = list(pool.map(_verify_loop, [seconds] * procs))
    return sum(counts) / seconds


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" (+ uncommitted changes)" if git("status", "--porcelain", "gateway") else "")


def versions() -> str:
    names = ["uvicorn", "starlette", "strawberry-graphql", "graphql-core", "sqlalchemy",
             "aiosqlite", "asyncpg", "argon2-cffi", "uvloop", "httptools"]
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()
    found = [f"{n} {version(n)}" for n in names]
    return f"Python {platform.python_version()}, " + ", ".join(found) + (
        f", wrk {wrk_version[1]}" if len(wrk_version) > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", default="2")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", default=str(BENCH / "out"))
    parser.add_argument("--postgres-url",
                        default="postgresql+asyncpg://postgres@127.0.0.1:5432/gateway_bench")
    parser.add_argument("--peer", help="base URL of a running server of the original REST API")
    parser.add_argument("--peer-token", help="an x-access-token the peer accepts")
    parser.add_argument("--peer-name", default="original", help="the peer's name in the tables")
    parser.add_argument("--record", help="prepend the report to this RESULTS.md")
    parser.add_argument("--smoke", action="store_true",
                        help="a quick check that everything runs: one reference app only")
    args = parser.parse_args()
    if args.peer and not args.peer_token:
        parser.error("--peer needs --peer-token")
    args.workers = [int(w) for w in args.workers.replace(",", " ").split()]
    args.load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    bench = Bench(args)
    bench.run()
    report = bench.report()
    print(report)
    if args.record:
        record(Path(args.record), f"### {args.db}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
               + report + "\n")


def record(path: Path, section: str) -> None:
    marker = "<!-- runs: newest first -->"
    text = path.read_text() if path.exists() else f"# Benchmark results\n\n{marker}\n"
    head, _, rest = text.partition(marker)
    path.write_text(f"{head}{marker}\n\n{section}\n{rest.lstrip()}")


if __name__ == "__main__":
    main()
