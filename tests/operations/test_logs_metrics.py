"""Request ids, the access log and /metrics, in process and under `gateway serve --workers 2`."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.observability import metrics
from gateway.observability.logs import JsonFormatter, TextFormatter, TurnHandler
from gateway.settings import Settings, SettingsError
from tests.conftest import MakeApp
from tests.support.actions import Actions
from tests.support.live import prepare_database
from tests.support.serve_process import ServeProcess

PASSWORD = "alice-secret-password"


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gateway.access"]


def sample(metrics: str, name: str, **labels: str) -> float:
    """One sample's value in Prometheus text (0 when absent)."""
    for line in metrics.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match is None or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if found.items() >= labels.items():
            return float(match[3])
    return 0.0


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123", True),
        ("A.b_c-9", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("has space", False),
        ("semi;colon", False),
        ("ünïcode", False),
        ("", False),
    ],
)
async def test_request_id_kept_when_sane_else_generated(
    client: httpx.AsyncClient, sent: str, kept: bool
) -> None:
    headers = {"x-request-id": sent.encode()}  # raw bytes, as a client may send them
    response = await client.get("/healthz", headers=headers)
    returned = response.headers["x-request-id"]
    if kept:
        assert returned == sent
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", returned)


async def test_request_id_on_every_kind_of_response(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    calls = {
        404: client.get("/no/such/path", headers={"x-request-id": "r404"}),
        405: client.patch("/login", headers={"x-request-id": "r405"}),
        413: client.post(
            "/template", content=b"x" * (1024 * 1024 + 1), headers={"x-request-id": "r413"}
        ),
        401: client.get("/", headers={"x-request-id": "r401"}),
        200: client.get("/readyz", headers={"x-request-id": "r200"}),
        304: client.get("/static/graphiql/start.js",
                        headers={"x-request-id": "r304", "if-none-match": "*"}),
    }
    for status, call in calls.items():
        response = await call
        assert response.status_code == status
        assert response.headers["x-request-id"] == f"r{status}"
    logged = {r.access["request_id"]: r.access for r in access_lines(caplog)}  # type: ignore[attr-defined]
    assert logged["r404"]["route"] == "<unmatched>"
    assert logged["r405"]["route"] == "/login"
    assert logged["r401"]["route"] == "/"
    assert logged["r304"]["route"] == "/static/{path}"  # a mount's path once
    assert {logged[f"r{s}"]["status"] for s in calls} == set(calls)


async def test_a_bug_is_500_with_request_id_and_one_line(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app = await make_app()

    async def broken(request: Request) -> Response:
        raise RuntimeError("a bug")

    # A bug planted at /healthz (in this app's own route list): what it raises passes
    # every inner handler.
    routes = app.router.routes
    (index,) = [i for i, r in enumerate(routes) if getattr(r, "path", "") == "/healthz"]
    routes[index] = Route("/healthz", broken)
    caplog.set_level(logging.INFO, logger="gateway")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/healthz", headers={"x-request-id": "bug-1"})
    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error"}
    assert response.headers["x-request-id"] == "bug-1"
    lines = [r for r in access_lines(caplog) if r.access["request_id"] == "bug-1"]  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].access["status"] == 500  # type: ignore[attr-defined]


async def test_access_log_has_route_template_user_and_graphql_operation(
    act: Actions, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await act.create_user("alice")
    headers = await act.login("alice")
    caplog.set_level(logging.INFO, logger="gateway")
    await act.client.get("/template/12345", headers=headers)
    await act.client.post(
        "/graphql", json={"query": "query MyScreen { me { username } }"}, headers=headers
    )
    first, second = access_lines(caplog)[-2:]
    assert first.access == first.access | {  # type: ignore[attr-defined]
        "method": "GET",
        "route": "/template/{template_id}",
        "status": 404,
        "user": alice.public_id,
        "graphql_operation": None,
    }
    assert second.access["graphql_operation"] == "MyScreen"  # type: ignore[attr-defined]
    assert second.access["user"] == alice.public_id  # type: ignore[attr-defined]
    assert first.access["duration_ms"] >= 0  # type: ignore[attr-defined]


async def test_no_log_line_holds_a_token_or_password(
    act: Actions, caplog: pytest.LogCaptureFixture
) -> None:
    await act.create_user("alice", password=PASSWORD)
    caplog.set_level(logging.DEBUG)
    client = act.client
    basic = await client.get("/login", auth=("alice", PASSWORD))
    token = basic.json()["token"]
    form = await client.post("/login", data={"username": "alice", "password": PASSWORD})
    wrong = await client.post("/login", json={"username": "alice", "password": PASSWORD + "x"})
    gql = await client.post(
        "/graphql",
        json={
            "query": "mutation In($p: String!) { login(username: \"alice\", password: $p) "
            "{ token } }",
            "variables": {"p": PASSWORD},
        },
    )
    await client.get("/", headers={"x-access-token": token})
    await client.get("/", headers={"Authorization": f"Bearer {token}"})
    await client.get("/", headers={"x-access-token": token + "forged"})
    assert (basic.status_code, form.status_code, wrong.status_code) == (200, 200, 401)
    tokens = [token, form.json()["token"], gql.json()["data"]["login"]["token"]]

    assert len(access_lines(caplog)) == 7
    for formatter in (TextFormatter(), JsonFormatter()):
        for record in caplog.records:
            line = formatter.format(record)
            assert PASSWORD not in line
            for secret in tokens:
                assert secret not in line
                assert secret.split(".")[2] not in line  # not even the signature


async def test_json_lines_parse_with_every_field(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    await client.get("/healthz", headers={"x-request-id": "json-1"})
    record = access_lines(caplog)[-1]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "json-1"
    assert line["level"] == "INFO" and line["logger"] == "gateway.access"
    assert line["time"].endswith("Z")
    assert {k: line[k] for k in ("method", "route", "status")} == {
        "method": "GET",
        "route": "/healthz",
        "status": 200,
    }
    assert isinstance(line["duration_ms"], float)


def test_log_settings_are_checked() -> None:
    settings = Settings.from_env({"LOG_FORMAT": "JSON", "LOG_LEVEL": "debug"}, env_file=None)
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    with pytest.raises(SettingsError, match="^LOG_FORMAT: expected text or json"):
        Settings.from_env({"LOG_FORMAT": "xml"}, env_file=None)
    with pytest.raises(SettingsError, match="^LOG_LEVEL: "):
        Settings.from_env({"LOG_LEVEL": "loud"}, env_file=None)


async def test_metrics_count_requests_logins_and_operations(act: Actions) -> None:
    client = act.client
    before = (await client.get("/metrics")).text
    await act.create_user("alice")
    headers = await act.login("alice")
    await client.get("/login", auth=("alice", "wrong-password"))
    for _ in range(3):
        await client.get("/template/7", headers=headers)
    await client.post("/graphql", json={"query": "query Feed { feed { id } }"}, headers=headers)
    after = (await client.get("/metrics")).text

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta(
        "gateway_http_requests_total", method="GET", route="/template/{template_id}", status="404"
    ) == 3
    assert delta(
        "gateway_http_request_duration_seconds_count",
        method="GET",
        route="/template/{template_id}",
    ) == 3
    assert delta("gateway_logins_total", outcome="success") == 1
    assert delta("gateway_logins_total", outcome="failure") == 1
    assert delta("gateway_graphql_operations_total", operation="Feed") == 1
    assert sample(after, "gateway_db_pool_size") > 0
    assert "gateway_db_pool_checked_out" in after


async def test_metrics_token(make_app: MakeApp) -> None:
    app: Starlette = await make_app(metrics_token="scrape-me", app_tokens_required=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "message" in missing.json()
    assert "gateway_http_requests_total" in right.text  # no app or user token needed


@pytest.mark.slow
def test_two_workers_count_each_request_once(sqlite_url: str, tmp_path: Path) -> None:
    """Requests spread over both workers of `gateway serve --workers 2`; every scrape,
    whichever worker answers it, shows the exact number sent."""
    prepare_database(sqlite_url)
    folder = tmp_path / "metrics"
    with ServeProcess(
        sqlite_url,
        tmp_path,
        workers=2,
        LOG_FORMAT="json",
        PROMETHEUS_MULTIPROC_DIR=str(folder),
    ) as server:

        def counting_pids() -> set[str]:
            return {p.stem.rsplit("_", 1)[1] for p in folder.glob("counter_*.db")}

        async def burst(n: int) -> None:
            # concurrent new connections, so the kernel hands them to either worker
            limits = httpx.Limits(max_keepalive_connections=0)
            async with httpx.AsyncClient(
                base_url=server.base_url, timeout=60, limits=limits
            ) as client:
                responses = await asyncio.gather(*(client.get("/healthz") for _ in range(n)))
            assert all(r.status_code == 200 for r in responses)

        sent = 0
        while len(counting_pids()) < 2 and sent < 2000:
            asyncio.run(burst(40))
            sent += 40
        assert len(counting_pids()) == 2, "one worker answered every request"

        scrapes = []
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=server.base_url, timeout=60, limits=limits) as client:
            for _ in range(6):
                scrapes.append(client.get("/metrics").text)
        for text in scrapes:
            assert sample(
                text, "gateway_http_requests_total", method="GET", route="/healthz", status="200"
            ) == sent + 5 * 2  # and the readiness probes of ServeProcess
        exit_status = server.terminate()

    assert exit_status == 0
    lines = [json.loads(line) for line in server.log_lines()]  # every line is JSON
    healthz = [x for x in lines if x.get("route") == "/healthz"]
    assert len(healthz) == sent + 10
    assert len({x["request_id"] for x in healthz}) == len(healthz)


@pytest.mark.parametrize(
    "moments",
    [[0.5], [1700000000.9994, 1700000001.0, 1700000001.0005], [1799999999.25, 1700000000.75]],
)
def test_each_line_has_its_own_time_in_utc_to_the_millisecond(moments: list[float]) -> None:
    """Lines within one second share its formatted part; the next second, or an earlier
    one (a record made before another but logged after it), is formatted again."""
    for created in moments:
        record = logging.LogRecord("gateway", logging.INFO, __file__, 1, "m", None, None)
        record.created, record.msecs = created, (created - int(created)) * 1000 // 1
        stamp = datetime.fromtimestamp(int(created), UTC).strftime("%Y-%m-%dT%H:%M:%S")
        expected = f"{stamp}.{int(record.msecs):03d}Z"
        assert TextFormatter().format(record).startswith(expected + " INFO gateway m")
        assert json.loads(JsonFormatter().format(record))["time"] == expected


async def test_a_turns_requests_reach_the_metrics_together_at_the_next_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the requests answered in one turn of the event loop count is written at the
    start of the next turn, once per value (with several workers each write is a lock
    and a write to a shared file), and adds up exactly as one observation at a time
    would: each latency in the bucket whose bound it does not exceed."""
    route = "/a-turn-of-the-loop"
    count = {"method": "GET", "route": route, "status": "200"}
    latency = {"method": "GET", "route": route}
    value_class = type(metrics.REQUESTS.labels("GET", route, "200")._value)
    writes: list[float] = []
    inc = value_class.inc

    def counted_inc(self: Any, amount: float) -> None:
        writes.append(amount)
        inc(self, amount)

    monkeypatch.setattr(value_class, "inc", counted_inc)

    def seen(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    in_flight = seen("gateway_http_requests_in_flight", {})
    latencies = [0.0, 0.005, 0.0051, 0.01, 0.02, 11.0]
    for _ in latencies:
        metrics.request_started()
    for seconds in latencies:
        metrics.count_request("GET", route, 200, seconds)
    metrics.request_started()  # one still in flight at the end of the turn
    assert seen("gateway_http_requests_total", count) == 0  # not in this turn
    assert writes == []

    await asyncio.sleep(0)
    assert seen("gateway_http_requests_total", count) == 6
    assert seen("gateway_http_request_duration_seconds_sum", latency) == pytest.approx(11.0401)
    buckets = {
        le: seen("gateway_http_request_duration_seconds_bucket", {**latency, "le": le})
        for le in ("0.005", "0.01", "0.025", "10.0", "+Inf")
    }
    assert buckets == {"0.005": 2, "0.01": 4, "0.025": 5, "10.0": 5, "+Inf": 6}
    assert seen("gateway_http_requests_in_flight", {}) == in_flight + 1
    assert len(writes) == 6  # the count, the sum, four buckets (the gauge is set)
    metrics.count_request("GET", route, 200, 0.001)
    metrics.write_counts()
    assert seen("gateway_http_requests_in_flight", {}) == in_flight


async def test_the_lines_of_a_turn_are_written_together_at_the_next_turn() -> None:
    """The served log handler writes the lines of one turn of the event loop in one
    write at the start of the next; a line from a thread with no loop goes out at once,
    after the lines still waiting; ``flush`` (at exit too) writes what waits."""
    writes: list[str] = []

    class Stream:
        def write(self, text: str) -> None:
            writes.append(text)

        def flush(self) -> None:
            pass

    handler = TurnHandler(Stream())
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("gateway.tests.turn")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        for n in range(3):
            logger.info("line %d", n)
        assert writes == []
        await asyncio.sleep(0)
        assert len(writes) == 1
        assert [line.split()[-1] for line in writes[0].splitlines()] == ["0", "1", "2"]

        logger.info("waiting")
        thread = threading.Thread(target=logger.info, args=("from a thread",))
        thread.start()
        thread.join()
        assert len(writes) == 2
        assert [line.split(" ", 3)[-1] for line in writes[1].splitlines()] == [
            "waiting", "from a thread"
        ]

        logger.info("the last")
        handler.flush()
        assert writes[2].endswith("the last\n")
        await asyncio.sleep(0)
        assert len(writes) == 3  # nothing was left for the turn
    finally:
        logger.removeHandler(handler)
