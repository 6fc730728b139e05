"""Idle widget sockets per gateway process, what each costs, and a reconnect storm.

For each server in turn (a bare `websockets` server as the baseline, then `crocevia
serve` with permessage-deflate off and on), N widget sockets connect, authenticate
and sit idle; the server's RSS before and after gives the memory per socket. Then
(gateway only) every socket drops and all reconnect at once with a last event id:
the time until every one has its `ready` frame is the reconnect storm.

    python bench/idle_sockets.py                     # 5000 sockets
    python bench/idle_sockets.py --sockets 10000     # file descriptors allowing

The load generator runs in this process on the same cores as the server; the RSS is
the server's alone (/proc/PID/status).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from gateway.visitor_tokens import Visitor, issue  # noqa: E402
from inbox.db import create_engine, sessionmaker  # noqa: E402
from inbox.events import EVENTS_STREAM  # noqa: E402
from inbox.migrate import upgrade  # noqa: E402
from inbox.model import Inbox  # noqa: E402

BARE_SERVER = """
import asyncio, json, sys
from websockets.asyncio.server import serve

async def handler(ws):
    await ws.recv()  # the auth frame
    await ws.send(json.dumps({"type": "ready", "visitor_id": "v", "conversation_id": None}))
    async for _ in ws:
        pass

async def main(port, deflate):
    async with serve(handler, "127.0.0.1", port, compression="deflate" if deflate else None,
                     ping_interval=None):
        await asyncio.Future()

asyncio.run(main(int(sys.argv[1]), sys.argv[2] == "on"))
"""


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            _r, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            await w.wait_closed()
            await asyncio.sleep(0.5)
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


async def open_one(url: str, token: str, last: str | None) -> ClientConnection:
    for attempt in range(5):
        try:
            # The client offers permessage-deflate, as browsers do; the server decides.
            ws = await connect(url, open_timeout=60, ping_interval=None)
            await ws.send(json.dumps({"type": "auth", "token": token, "last_event_id": last}))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
            assert frame["type"] == "ready", frame
            return ws
        except (OSError, TimeoutError):
            await asyncio.sleep(0.2 * (attempt + 1))
    raise RuntimeError("could not connect")


async def open_many(url: str, tokens: list[str], last: str | None, parallel: int
                    ) -> list[ClientConnection]:  # fmt: skip
    sem = asyncio.Semaphore(parallel)

    async def one(token: str) -> ClientConnection:
        async with sem:
            return await open_one(url, token, last)

    return list(await asyncio.gather(*(one(t) for t in tokens)))


async def measure(name: str, url: str, pid: int, tokens: list[str]) -> list[ClientConnection]:
    warm = await open_many(url, tokens[:50], None, 50)  # lazy imports, first allocations
    await asyncio.sleep(1.0)
    before = rss_kb(pid)
    t0 = time.perf_counter()
    socks = await open_many(url, tokens[50:], None, 200)
    took = time.perf_counter() - t0
    await asyncio.sleep(3.0)  # idle
    after = rss_kb(pid)
    n = len(socks)
    print(f"{name:<34} sockets={n + len(warm):>6}  connect {n / took:>6.0f}/s  "
          f"RSS {before / 1024:>6.1f} -> {after / 1024:>7.1f} MiB  "
          f"{(after - before) / n:>6.1f} KB/socket", flush=True)  # fmt: skip
    return [*warm, *socks]


async def close_all(socks: list[ClientConnection]) -> None:
    for i in range(0, len(socks), 500):
        await asyncio.gather(*(ws.close() for ws in socks[i : i + 500]), return_exceptions=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--sockets", type=int, default=5000)
    ap.add_argument("--storm", type=int, default=2000, help="sockets in the reconnect storm")
    args = ap.parse_args()
    hard = raise_nofile()
    if hard < args.sockets * 2 + 200:
        print(f"RLIMIT_NOFILE is {hard}: client and server share the machine", file=sys.stderr)

    tmp = Path(tempfile.mkdtemp(prefix="crocevia-idle-"))
    database_url = f"sqlite:///{tmp / 'idle.sqlite3'}"
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    async with sessionmaker(engine)() as session, session.begin():
        inbox = Inbox(name="idle", channel="website", website_token=secrets.token_urlsafe(16),
                      settings={})  # fmt: skip
        session.add(inbox)
        await session.flush()
        inbox_id = inbox.id
    await engine.dispose()
    key = secrets.token_urlsafe(32)
    # Visitors without a contact row yet (none has written): the socket is all that exists.
    tokens = [issue(key, Visitor(inbox_id, secrets.token_urlsafe(16), 10**6 + i))
              for i in range(args.sockets)]  # fmt: skip
    redis = EmbeddedRedis(tmp / "redis").start()
    env = {**os.environ, "CROCEVIA_DATABASE_URL": database_url, "CROCEVIA_REDIS_URL": redis.url,
           "CROCEVIA_DATA_DIR": str(tmp), "CROCEVIA_SECRET_KEY": key,
           "CROCEVIA_LOG_LEVEL": "WARNING", "CROCEVIA_SENTIMENT": "off",
           # Every socket comes from 127.0.0.1: lift the per-address socket limit.
           "CROCEVIA_LIMIT_SOCKETS_PER_IP": "1000000"}  # fmt: skip
    print(f"# {args.sockets} idle widget sockets per server; RLIMIT_NOFILE {hard}")
    servers = [
        ("bare websockets, deflate off", [sys.executable, "-c", BARE_SERVER], "off"),
        ("bare websockets, deflate on", [sys.executable, "-c", BARE_SERVER], "on"),
        ("crocevia serve, deflate off", [sys.executable, "-m", "gateway.cli", "serve"], "off"),
        ("crocevia serve, deflate on", [sys.executable, "-m", "gateway.cli", "serve"], "on"),
    ]
    try:
        for name, cmd, deflate in servers:
            port = free_port()
            argv = [*cmd, str(port), deflate] if "-c" in cmd else [*cmd, "--port", str(port)]
            proc = subprocess.Popen(argv, env={**env, "CROCEVIA_WS_DEFLATE": deflate},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
            try:
                await wait_port(port, proc)
                url = f"ws://127.0.0.1:{port}/ws/widget"
                socks = await measure(name, url, proc.pid, tokens)
                if name == "crocevia serve, deflate off" and args.storm:
                    await close_all(socks[args.storm :])
                    socks = socks[: args.storm]
                    await storm(url, tokens[: args.storm], socks, redis.url)
                await close_all(socks)
            finally:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    finally:
        redis.stop()


async def storm(url: str, tokens: list[str], socks: list[ClientConnection], redis_url: str
                ) -> None:  # fmt: skip
    """Every socket drops; all reconnect at once, resuming from a recent event id."""
    r = Redis.from_url(redis_url)
    for i in range(200):  # a stream with something in it; nothing for these visitors
        await r.xadd(EVENTS_STREAM, {"eid": str(10**9 + i), "event": "bench.noise",
                                     "data": "{}", "r": f"|{10**9}||||||"})  # fmt: skip
    last = (await r.xrevrange(EVENTS_STREAM, "+", "-", count=100))[-1][0].decode()
    await r.aclose()
    for ws in socks:
        if ws.transport is not None:
            ws.transport.abort()
    await asyncio.sleep(1.0)
    t0 = time.perf_counter()
    again = await open_many(url, tokens, last, len(tokens))
    took = time.perf_counter() - t0
    print(
        f"reconnect storm: {len(again)} sockets resume at once (last_event_id 100 events "
        f"back): all ready in {took:.2f} s ({len(again) / took:.0f}/s)",
        flush=True,
    )
    await close_all(again)


if __name__ == "__main__":
    asyncio.run(main())
