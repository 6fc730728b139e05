"""The raw baseline for bench/e2e.py: the same sockets and Redis stream, no database, no logic.

Speaks just enough of docs/api.md for the benchmark client: `/ws/widget` takes
`auth` then `message` frames, XADDs each to a stream and acks; `/ws/agent` takes
`auth` and forwards every stream entry as an `event` frame.

    python bench/baseline_server.py PORT REDIS_URL
"""

from __future__ import annotations

import asyncio
import json
import sys

from redis.asyncio import Redis
from websockets.asyncio.server import ServerConnection, serve

STREAM = "bench:baseline"


async def widget(ws: ServerConnection, redis: Redis) -> None:
    await ws.recv()
    await ws.send(json.dumps({"type": "ready", "visitor_id": "v", "conversation_id": None}))
    async for raw in ws:
        frame = json.loads(raw)
        if frame.get("type") != "message":
            continue
        msg = {"id": 0, "text": frame["text"], "client_id": frame["client_id"]}
        await redis.xadd(STREAM, {"data": json.dumps({"message": msg})}, maxlen=100_000)
        await ws.send(json.dumps({"type": "ack", "client_id": frame["client_id"], "message": msg}))


async def agent(ws: ServerConnection, redis: Redis) -> None:
    await ws.recv()
    await ws.send(json.dumps({"type": "ready", "agent": {"id": 0}}))
    last = "$"
    while True:
        batch = await redis.xread({STREAM: last}, block=2000, count=500)
        for _stream, entries in batch or []:
            for entry_id, fields in entries:
                last = entry_id.decode()
                data = json.loads(fields[b"data"])
                await ws.send(json.dumps({"type": "event", "id": last, "eid": 0,
                                          "event": "message.created", "data": data}))  # fmt: skip


async def main(port: int, redis_url: str) -> None:
    redis = Redis.from_url(redis_url)

    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        await (agent(ws, redis) if path.startswith("/ws/agent") else widget(ws, redis))

    async with serve(handler, "127.0.0.1", port):  # permessage-deflate on, as uvicorn
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
