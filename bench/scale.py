"""Throughput with 1, 2 and 3 gateway processes (one worker, one database, one Redis).

The load of bench/e2e.py at saturation (each visitor keeps 8 messages in flight),
the visitors spread round-robin over the gateways, one agent on the first gateway
receiving every message (so fan-out crosses processes through Redis). Each gateway
count runs on its own fresh database; the raw baseline runs in the same run.

Beside the rate, the CPU time each gateway process spent during the load (from
/proc), per message: the first gateway's holds the agent (it reads the whole events
stream), the others' hold only visitors (they read their visitors' events).

    python bench/scale.py                 # SQLite
    python bench/scale.py --database-url postgresql://postgres@127.0.0.1/crocevia_bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from e2e import Result, open_socket, seed, spawn, wait_http
from sqlalchemy import text
from websockets.asyncio.client import ClientConnection

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from proc_cpu import cpu_seconds  # noqa: E402  -- bench/proc_cpu.py

from gateway.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from inbox.db import create_engine  # noqa: E402
from inbox.migrate import upgrade  # noqa: E402


async def events_read(port: int) -> str:
    """What the gateway read for its sockets, from its /metrics (stream + contacts)."""
    async with httpx.AsyncClient() as http:
        text_ = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    found = {}
    for line in text_.splitlines():
        if line.startswith("crocevia_hub_events_read_total{"):
            source = line.split('source="', 1)[1].split('"', 1)[0]
            found[source] = int(float(line.rsplit(" ", 1)[1]))
    if not found:
        return "?"
    return "+".join(str(found.get(s, 0)) for s in ("stream", "contacts"))


async def saturate(name: str, ws_urls: list[str], tokens: list[str], agent_token: str,
                   per_visitor: int, window: int = 8) -> Result:  # fmt: skip
    total = len(tokens) * per_visitor
    sent_at: dict[str, int] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    agent = await open_socket(f"{ws_urls[0]}/ws/agent", agent_token)
    socks: list[ClientConnection] = [
        await open_socket(f"{ws_urls[i % len(ws_urls)]}/ws/widget", t) for i, t in enumerate(tokens)
    ]
    received = 0

    async def agent_reader() -> None:
        nonlocal received
        async for raw in agent:
            frame = json.loads(raw)
            if frame.get("event") != "message.created":
                continue
            start = sent_at.pop((frame["data"].get("message") or {}).get("client_id") or "", None)
            if start is not None:
                latencies.append((time.perf_counter_ns() - start) / 1e6)
                received += 1
                if received == total:
                    done.set()

    async def visitor(ws: ClientConnection, index: int) -> None:
        in_flight = asyncio.Semaphore(window)

        async def acks() -> None:  # the window moves on answers only, not on events
            async for raw in ws:
                if json.loads(raw).get("type") in ("ack", "error"):
                    in_flight.release()

        reader = asyncio.create_task(acks())
        for k in range(per_visitor):
            await in_flight.acquire()
            cid = str(uuid.uuid4())
            sent_at[cid] = time.perf_counter_ns()
            await ws.send(json.dumps({"type": "message", "client_id": cid,
                                      "text": f"benchmark message {index}/{k}"}))  # fmt: skip
        reader.cancel()

    reader = asyncio.create_task(agent_reader())
    await asyncio.sleep(0.3)
    t0 = time.perf_counter()
    await asyncio.gather(*(visitor(ws, i) for i, ws in enumerate(socks)))
    try:
        await asyncio.wait_for(done.wait(), timeout=120)
    except TimeoutError:
        pass
    elapsed = time.perf_counter() - t0
    reader.cancel()
    for ws in [agent, *socks]:
        await ws.close()
    return Result(name, total, received, elapsed, latencies)


async def run_cluster(gateways: int, database_url: str, redis_url: str, tmp: Path,
                      visitors: int, messages: int) -> Result:  # fmt: skip
    await asyncio.to_thread(upgrade, database_url)
    website_token, email, password = await seed(database_url)
    env = {**os.environ, "CROCEVIA_DATABASE_URL": database_url, "CROCEVIA_REDIS_URL": redis_url,
           "CROCEVIA_DATA_DIR": str(tmp), "CROCEVIA_LOG_LEVEL": "WARNING",
           "CROCEVIA_LIMIT_VISITOR_MESSAGES": "1000000", "CROCEVIA_LIMIT_IP_MESSAGES": "1000000",
           "CROCEVIA_LIMIT_WIDGET_SESSION_IP": "1000000", "CROCEVIA_LIMIT_LOGIN_IP": "1000000",
           "CROCEVIA_LIMIT_SOCKETS_PER_IP": "1000000"}  # fmt: skip
    ports = [free_port() for _ in range(gateways)]
    py = sys.executable
    procs = [spawn([py, "-m", "gateway.cli", "serve", "--port", str(p)], env,
                   tmp / f"gateway-{gateways}-{p}.log") for p in ports]  # fmt: skip
    procs.append(spawn([py, "-m", "gateway.cli", "worker"], env, tmp / f"worker-{gateways}.log"))
    try:
        for p, proc in zip(ports, procs, strict=False):
            wait_http(f"http://127.0.0.1:{p}/readyz", proc)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}") as http:
            r = await http.post("/api/auth/login", json={"email": email, "password": password})
            agent_token = r.json()["token"]
            tokens = []
            for _ in range(visitors):
                r = await http.post("/api/widget/sessions", json={"website_token": website_token})
                tokens.append(r.json()["visitor_token"])
        await asyncio.sleep(0.5)
        urls = [f"ws://127.0.0.1:{p}" for p in ports]
        before = [cpu_seconds(p.pid) for p in procs[:gateways]]
        res = await saturate(f"crocevia, {gateways} gateway(s)", urls, tokens, agent_token,
                             messages)  # fmt: skip
        spent = [cpu_seconds(p.pid) - b for p, b in zip(procs, before, strict=False)]
        per_msg = ", ".join(f"{s / res.received * 1e6:.0f}" for s in spent)
        read = [await events_read(p) for p in ports]
        print(f"  per gateway, the agent's first: CPU per message {per_msg} us; "
              f"events read (stream+contacts) {', '.join(read)}", flush=True)  # fmt: skip
        return res
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--database-url", default=None, help="PostgreSQL: dropped and made afresh")
    ap.add_argument("--visitors", type=int, default=60)
    ap.add_argument("--messages", type=int, default=200, help="per visitor")
    ap.add_argument("--max-gateways", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="crocevia-scale-"))
    redis = EmbeddedRedis(tmp / "redis").start()
    base_port = free_port()
    baseline = spawn([sys.executable, str(ROOT / "bench" / "baseline_server.py"), str(base_port),
                      redis.url], dict(os.environ), tmp / "baseline.log")  # fmt: skip
    try:
        await asyncio.sleep(1.0)
        engine = "PostgreSQL" if args.database_url else "SQLite"
        print(f"# {args.visitors} visitors x {args.messages} messages at saturation, {engine}")
        base = await saturate("raw baseline (1 process)", [f"ws://127.0.0.1:{base_port}"],
                              ["x"] * args.visitors, "x", args.messages)  # fmt: skip
        print(base.line(), flush=True)
        first = None
        for n in range(1, args.max_gateways + 1):
            if args.database_url:
                engine_ = create_engine(args.database_url)
                async with engine_.begin() as conn:
                    await conn.execute(text("DROP SCHEMA public CASCADE"))
                    await conn.execute(text("CREATE SCHEMA public"))
                await engine_.dispose()
                url = args.database_url
            else:
                url = f"sqlite:///{tmp / f'scale-{n}.sqlite3'}"
            res = await run_cluster(n, url, redis.url, tmp, args.visitors, args.messages)
            first = first or res
            print(f"{res.line()}  x{res.rate / first.rate:.2f} vs 1 gateway, "
                  f"{res.rate / base.rate:.2f} of baseline", flush=True)  # fmt: skip
    finally:
        baseline.kill()  # it has no clean shutdown of its own
        baseline.wait(10)
        redis.stop()


if __name__ == "__main__":
    asyncio.run(main())
