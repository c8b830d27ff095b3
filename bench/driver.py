"""The benchmark driver: seed, start real uvicorn processes, load them with wrk, print one table.

Run it through ``bench/run.sh`` (``make bench``); see bench/RESULTS.md for what it measures.
"""

from __future__ import annotations

import argparse
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
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import seed

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LUA = BENCH / "wrk.lua"
SECRET = "bench-secret-key-long-enough-for-hs256-signing"
LOGIN_USER = seed.username(1)
GRAPHQL_SCREEN = (
    "{ me { username } feed(limit: %d) { id title url posted author { username } } }"
)
PROBE_DELAY_MS = 10  # the /healthz probe: one connection, a request every 10 ms

S1, S2, S3, S4, S5 = (
    "1 template by id", "2 REST feed", "3 GraphQL feed", "4 login (Basic)", "5 /healthz under 4"
)
IDLE = "  /healthz idle probe"


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
        return [
            self.app,
            self.scenario,
            str(self.workers),
            f"{self.rps:.0f}",
            f"{statistics.fmean(r.p50_ms for r in self.runs):.2f}",
            f"{self.p99:.2f}",
            str(sum(r.failures for r in self.runs)),
            f"{sum(first.rss_mb):.0f} → {sum(last.rss_mb):.0f}",
            f"{max(last.rss_mb):.0f}",
            self.sql,
            " / ".join(f"{r.rps:.0f}" for r in self.runs) + (f"; {self.note}" if self.note else ""),
        ]


HEADER = ["app", "scenario", "workers", "req/s", "p50 ms", "p99 ms", "non-2xx",
          "RSS MB run1 → run2", "max MB/worker", "SQL/req", "req/s per run"]


class Server:
    """One uvicorn (``workers`` processes) on a free loopback port."""

    def __init__(self, factory: str, env: dict[str, str], workers: int, logdir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        log = open(logdir / f"{factory.split(':')[0]}-{self.port}.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH), "--factory", factory,
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
             "--no-access-log", "--log-level", "warning"],
            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
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


def wrk_start(
    url: str, seconds: int, *, connections: int, env: dict[str, str]
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(LUA), url],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


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


@dataclass
class Scenario:
    name: str
    path: str
    env: dict[str, str]
    connections: int
    method: str = "GET"
    body: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {}
        if "BENCH_TOKEN" in self.env:
            headers["x-access-token"] = self.env["BENCH_TOKEN"]
        if "BENCH_BASIC" in self.env:
            headers["Authorization"] = self.env["BENCH_BASIC"]
        if self.body:
            headers["Content-Type"] = "application/json"
        return headers

    def probe(self, server: Server, path: str | None = None) -> tuple[int, str, bytes]:
        """One request outside the load: its status and its X-SQL-Statements count."""
        status, headers, content = http(
            server.base + (path or self.path), method=self.method, headers=self.headers(),
            body=self.body.encode() if self.body else None,
        )
        lowered = {k.lower(): v for k, v in headers.items()}
        return status, lowered.get("x-sql-statements", "?"), content


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
        self.graphql_sql: dict[int, str] = {}

    def measure(
        self, server: Server, row: Row, scenario: Scenario, *, warmup: bool = True
    ) -> None:
        url = server.base + scenario.path
        env = scenario.env | {"BENCH_METHOD": scenario.method}
        if scenario.body:
            env["BENCH_BODY"] = scenario.body
        if warmup and self.args.warmup:
            wrk_result(wrk_start(url, self.args.warmup, connections=scenario.connections,
                                 env=env))
        for _ in range(2):
            result = wrk_result(wrk_start(url, self.args.duration,
                                          connections=scenario.connections, env=env))
            row.runs.append(to_run(result, server.rss_mb()))

    def run_app(self, app: str, factory: str, env: dict[str, str], workers: int,
                scenarios: list[Scenario]) -> Server:
        server = Server(factory, env, workers, self.workdir)
        try:
            for scenario in scenarios:
                row = Row(app, scenario.name, workers)
                self.rows.append(row)
                status, sql, content = scenario.probe(server)
                if status != 200:
                    row.note = f"skipped: probe answered {status} {content[:80]!r}"
                    continue
                row.sql = sql
                self.measure(server, row, scenario)
        finally:
            server.stop()
        return server

    def data_scenarios(self, token: str) -> list[Scenario]:
        auth = {"BENCH_TOKEN": token}
        c = self.args.connections
        return [
            Scenario(S1, "/template/1", auth | {"BENCH_IDS": f"1:{seed.TEMPLATES}"}, c),
            Scenario(S2, "/?limit=100", auth, c),
        ]

    def run(self) -> None:
        args = self.args
        print(f"seeding {self.url}", file=sys.stderr)
        import asyncio
        asyncio.run(seed.seed(self.url))
        gateway_env = {
            "DATABASE_URL": self.url,
            "SECRET_KEY": SECRET,
            "GATEWAY_COUNT_SQL": "true",
            "TOKEN_TTL_SECONDS": "86400",
        }
        ceilings = [("ceiling", {"CEILING_DATABASE_URL": self.url, "CEILING_DRIVER": "engine"})]
        if args.db == "sqlite" and not args.smoke:
            ceilings.append(
                ("ceiling-sqlite3", {"CEILING_DATABASE_URL": self.url, "CEILING_DRIVER": "sqlite3"})
            )
        for workers in args.workers:
            for name, env in ceilings:
                print(f"{name}, {workers} worker(s)", file=sys.stderr)
                self.run_app(name, "ceiling:create", env, workers, self.data_scenarios("-"))
            print(f"gateway, {workers} worker(s)", file=sys.stderr)
            self.run_gateway(gateway_env, workers)

    def run_gateway(self, env: dict[str, str], workers: int) -> None:
        server = Server("gateway_app:create", env, workers, self.workdir)
        try:
            password = seed.password_of(LOGIN_USER)
            basic = "Basic " + base64.b64encode(f"{LOGIN_USER}:{password}".encode()).decode()
            status, _, content = http(server.base + "/login", headers={"Authorization": basic})
            if status != 200:
                raise SystemExit(f"gateway login failed: {status} {content[:200]!r}")
            token = json.loads(content)["token"]
            scenarios = self.data_scenarios(token)
            scenarios.append(Scenario(
                S3, "/graphql", {"BENCH_TOKEN": token}, self.args.connections, method="POST",
                body=json.dumps({"query": GRAPHQL_SCREEN % 100}),
            ))
            for scenario in scenarios:
                row = Row("gateway", scenario.name, workers)
                self.rows.append(row)
                status, sql, content = scenario.probe(server)
                if status != 200 or b'"errors"' in content:
                    row.note = f"skipped: probe answered {status} {content[:80]!r}"
                    continue
                row.sql = sql
                if scenario.name == S3:
                    ten = json.dumps({"query": GRAPHQL_SCREEN % 10}).encode()
                    _, headers, _ = http(server.base + "/graphql", method="POST",
                                         headers=scenario.headers(), body=ten)
                    row.sql = f"{sql} (limit 10: {headers.get('x-sql-statements', '?')})"
                self.measure(server, row, scenario)
            self.login_storm(server, basic, workers)
        finally:
            server.stop()

    def login_storm(self, server: Server, basic: str, workers: int) -> None:
        login = Scenario(S4, "/login", {"BENCH_BASIC": basic}, 4 * workers)
        probe = Scenario(IDLE, "/healthz", {"BENCH_DELAY": str(PROBE_DELAY_MS)}, 1)
        idle = Row("gateway", IDLE, workers, sql=probe.probe(server)[1])
        self.rows.append(idle)
        self.measure(server, idle, probe, warmup=False)
        self.argon2[workers] = argon2_rate(self.args.duration)
        storm = Row("gateway", S4, workers, sql=login.probe(server)[1])
        during = Row("gateway", S5, workers, sql=idle.sql)
        self.rows += [storm, during]
        if self.args.warmup:
            wrk_result(wrk_start(server.base + "/login", self.args.warmup,
                                 connections=login.connections, env=login.env))
        for _ in range(2):
            hashing = wrk_start(server.base + "/login", self.args.duration,
                                connections=login.connections, env=login.env)
            time.sleep(0.2)  # let the storm start before the probe does
            probing = wrk_start(server.base + "/healthz", max(1, self.args.duration - 1),
                                connections=1, env=probe.env)
            probed = wrk_result(probing)
            hashed = wrk_result(hashing)
            rss = server.rss_mb()
            storm.runs.append(to_run(hashed, rss))
            during.runs.append(to_run(probed, rss))

    # ---- the report -------------------------------------------------------------------

    def find(self, app: str, scenario: str, workers: int) -> Row | None:
        for row in self.rows:
            if (row.app, row.scenario, row.workers) == (app, scenario, workers) and row.runs:
                return row
        return None

    def ratios(self) -> list[tuple[str, str, str, str]]:
        out: list[tuple[str, str, str, str]] = []

        def add(target: str, what: str, value: float | None, goal: str, ok: bool | None) -> None:
            shown = "n/a" if value is None else f"{value:.2f}"
            verdict = "n/a" if ok is None else ("met" if ok else "MISSED")
            out.append((target, what, f"{shown} (goal {goal})", verdict))

        for w in self.args.workers:
            for scenario in (S1, S2):
                gw = self.find("gateway", scenario, w)
                for ref in ("ceiling", "ceiling-sqlite3"):
                    ceiling = self.find(ref, scenario, w)
                    if gw and ceiling:
                        r = gw.rps / ceiling.rps
                        add("1" if ref == "ceiling" else "5", f"{scenario}, {w}w: gateway / {ref}",
                            r, "≥ 0.60" if ref == "ceiling" else "info",
                            r >= 0.6 if ref == "ceiling" else None)
            gql, feed = self.find("gateway", S3, w), self.find("gateway", S2, w)
            if gql and feed:
                r = gql.rps / feed.rps
                add("2", f"{S3}, {w}w: GraphQL / REST feed req/s", r, "≥ 0.70", r >= 0.7)
                counts = gql.sql.replace("(limit 10:", "").replace(")", "").split()
                add("2", f"{S3}, {w}w: SQL for limit 100 = limit 10 ({gql.sql})", None,
                    "equal", len(set(counts)) == 1)
            else:
                add("2", f"{S3}, {w}w", None, "≥ 0.70", None)
            storm = self.find("gateway", S4, w)
            if storm and w in self.argon2:
                r = storm.rps / self.argon2[w]
                add("3", f"{S4}, {w}w: login / raw argon2 ({self.argon2[w]:.1f}/s)", r,
                    "≥ 0.80", r >= 0.8)
            idle, during = self.find("gateway", IDLE, w), self.find("gateway", S5, w)
            if idle and during:
                r = during.p99 / idle.p99
                add("3", f"{S5}, {w}w: p99 {during.p99:.1f} / idle {idle.p99:.1f} ms", r,
                    "≤ 3", r <= 3)
        failures = sum(r.failures for row in self.rows for r in row.runs)
        add("4", "non-2xx responses, all scenarios", failures, "0", failures == 0)
        per_worker = max((max(r.rss_mb) for row in self.rows for r in row.runs if r.rss_mb),
                         default=0.0)
        add("4", "largest worker RSS, MB", per_worker, "≤ 150", per_worker <= 150)
        growth = max(
            (sum(row.runs[1].rss_mb) - sum(row.runs[0].rss_mb) for row in self.rows
             if row.app == "gateway" and len(row.runs) == 2),
            default=0.0,
        )
        add("4", "largest gateway RSS growth run1 → run2, MB", growth, "≤ 2 (not growing)",
            growth <= 2)
        return out

    def report(self) -> str:
        lines = [
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; database: {self.args.db} "
            f"({self.url}); workers: {', '.join(map(str, self.args.workers))}; "
            f"{self.args.duration} s per run after a {self.args.warmup} s warm-up; "
            f"wrk -t1 -c{self.args.connections} (login: 4 per worker; probe: 1, paced "
            f"{PROBE_DELAY_MS} ms)",
            f"- commit: {commit()}; {versions()}",
            f"- machine: {os.cpu_count()} cores ({platform.machine()}), shared with the load "
            "generator and with other work",
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
    names = ["uvicorn", "starlette", "strawberry-graphql", "sqlalchemy", "aiosqlite", "asyncpg",
             "argon2-cffi", "uvloop", "httptools"]
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()
    found = [f"{n} {version(n)}" for n in names]
    return f"Python {platform.python_version()}, " + ", ".join(found) + (
        f", wrk {wrk_version[1]}" if len(wrk_version) > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", default="1 2")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workdir", default=str(BENCH / "out"))
    parser.add_argument("--postgres-url",
                        default="postgresql+asyncpg://postgres@127.0.0.1:5432/gateway_bench")
    parser.add_argument("--record", help="prepend the report to this RESULTS.md")
    parser.add_argument("--smoke", action="store_true",
                        help="a quick check that everything runs: one reference app only")
    args = parser.parse_args()
    args.workers = [int(w) for w in args.workers.replace(",", " ").split()]
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
