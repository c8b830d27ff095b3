"""Profile one benchmark scenario: the gateway in this process under uvicorn, loaded by wrk,
sampled by pyinstrument (``make bench`` installs it). Prints where the event loop's time goes.

Usage: ``python bench/profile.py [PATH] [SECONDS]`` with DATABASE_URL pointing at a seeded
database (bench/seed.py); PATH defaults to the REST feed ``/?limit=1000``. A PATH of
``graphql`` posts the GraphQL feed screen instead; ``login`` signs in with Basic auth, as
the login storm does (the hashing itself runs on threads the profiler does not sample).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys

import uvicorn
import uvloop
from driver import GRAPHQL_SCREEN, LUA, SECRET, free_port, http
from pyinstrument import Profiler
from seed import READER, password_of

from gateway.app import create_app
from gateway.settings import Settings


async def profile(path: str, seconds: int) -> str:
    os.environ.setdefault("SECRET_KEY", SECRET)
    app = create_app(Settings.from_env())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", access_log=False))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    basic = base64.b64encode(f"{READER}:{password_of(READER)}".encode()).decode()
    status, _, body = await asyncio.to_thread(
        http, base + "/login", headers={"Authorization": "Basic " + basic}
    )
    assert status == 200, body
    env = {**os.environ, "BENCH_TOKEN": json.loads(body)["token"]}
    if path == "graphql":
        path = "/graphql"
        env |= {"BENCH_METHOD": "POST", "BENCH_BODY": json.dumps({"query": GRAPHQL_SCREEN % 110})}
    connections = 16
    if path == "login":  # the login storm: Basic sign-ins, 4 connections as per worker there
        path, connections = "/login", 4
        env = {**os.environ, "BENCH_BASIC": "Basic " + basic}
    wrk = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(LUA), base + path]
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    done = await asyncio.to_thread(subprocess.run, wrk, env=env, capture_output=True, text=True)
    profiler.stop()
    server.should_exit = True
    await serving
    tree = profiler.output_text(unicode=True, color=False)
    flat = profiler.output_text(unicode=True, color=False, flat=True, flat_time="self")
    return "\n".join([done.stdout.splitlines()[-1], tree, "Self time, by function:", flat])


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "/?limit=1000"
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    print(uvloop.run(profile(path, seconds)))


if __name__ == "__main__":
    main()
