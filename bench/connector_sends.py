"""Replies sent through one connector, with and without the worker's kept HTTP pool.

A local server answers like the Graph API's `POST /{version}/{page}/messages` (in a
process of its own, uvicorn). Three runs, one after the other, each sending N replies
with C at a time from this process:

- baseline: one plain httpx client posting the same body (what the platform's HTTP
  side allows on this machine);
- fresh: `MetaConnector.send` as outside a keeping cache, a new client (and pool, and
  TCP connection) per reply;
- kept: the same connector built by the worker's `ConnectorCache(keep_connections=True)`.

    python bench/connector_sends.py                  # 2000 replies, 16 at a time

Plain HTTP on 127.0.0.1: a real platform adds a TLS handshake per new connection,
which the kept pool saves too; that is not in these figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.channels import ConnectorCache  # noqa: E402
from gateway.embedded_redis import free_port  # noqa: E402
from inbox.model import Inbox  # noqa: E402
from inbox.types import Channel, OutboundMessage  # noqa: E402

SERVER = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body",
                "body": b'{"recipient_id":"5550001","message_id":"m_1"}'})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            lifespan="off", access_log=False)
"""

PAGE = "1029384756"


def _reply(n: int) -> OutboundMessage:
    return OutboundMessage(n, 1, 1, Channel.MESSENGER, "5550001", f"Risposta numero {n}")


async def _run(n: int, concurrency: int, send: Callable[[int], Awaitable[object]]) -> float:
    todo = iter(range(n))

    async def lane() -> None:
        for i in todo:
            await send(i)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def main(n: int, concurrency: int) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as probe:
            for _ in range(100):
                try:
                    await probe.get(base)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        os.environ["BENCH_META_TOKEN"] = "bench-token"
        inbox = Inbox(id=1, name="Bench", channel="messenger", settings={
            "page_id": PAGE, "access_token_env": "BENCH_META_TOKEN",
            "app_secret_env": "BENCH_META_TOKEN", "api_base_url": base})  # fmt: skip

        async with httpx.AsyncClient(base_url=f"{base}/v23.0", trust_env=False,
                                     limits=httpx.Limits(max_connections=concurrency)) as raw:  # fmt: skip
            body = {"recipient": {"id": "5550001"}, "messaging_type": "RESPONSE"}

            async def plain(i: int) -> object:
                r = await raw.post(f"/{PAGE}/messages", json={**body, "message": {"text": str(i)}})
                return r.raise_for_status()

            baseline = await _run(n, concurrency, plain)

        fresh_cache = ConnectorCache()
        fresh = await _run(n, concurrency, lambda i: fresh_cache.get(inbox).send(_reply(i)))
        kept_cache = ConnectorCache(keep_connections=True)
        kept = await _run(n, concurrency, lambda i: kept_cache.get(inbox).send(_reply(i)))
        await kept_cache.aclose()
    finally:
        server.terminate()
        server.wait(10)
    print(f"replies: {n}, {concurrency} at a time, one local Graph-like server (plain HTTP)")
    print(f"  baseline (one httpx client)   {baseline:8.0f} replies/s")
    print(
        f"  connector, client per reply   {fresh:8.0f} replies/s   {fresh / baseline:.2f}x baseline"
    )
    print(f"  connector, kept pool (worker) {kept:8.0f} replies/s   {kept / baseline:.2f}x baseline"
          f"   {kept / fresh:.2f}x per-reply clients")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replies", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.replies, args.concurrency))
