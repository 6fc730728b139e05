"""One visitor, or one address, cannot hold an unbounded number of widget sockets: past
the limit a socket is closed with 1008 and a reason, and closing one frees its place."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from conftest import Services, World
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gateway.embedded_redis import free_port

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def strict_gateway(services: Services) -> Iterator[int]:
    """Another gateway of the session's, with small socket limits."""
    port = free_port()
    env = services.env(CROCEVIA_LIMIT_SOCKETS_PER_VISITOR="2", CROCEVIA_LIMIT_SOCKETS_PER_IP="4")
    with open(services.data_dir / f"serve-strict-{port}.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


async def open_socket(port: int, token: str) -> tuple[ClientConnection, dict | int]:  # type: ignore[type-arg]
    ws = await connect(f"ws://127.0.0.1:{port}/ws/widget")
    try:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        return ws, json.loads(await asyncio.wait_for(ws.recv(), 5))
    except ConnectionClosed as exc:
        return ws, exc.rcvd.code if exc.rcvd else -1


async def visitor_token(port: int, world: World) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        r = await http.post("/api/widget/sessions", json={"website_token": world.website_token})
        return str(r.json()["visitor_token"])


async def test_sockets_per_visitor_and_per_address_are_limited(
    strict_gateway: int, world: World
) -> None:
    port = strict_gateway
    first = await visitor_token(port, world)
    opened = [await open_socket(port, first) for _ in range(3)]
    assert [answer["type"] if isinstance(answer, dict) else answer for _, answer in opened] == [
        "ready", "ready", 1008]  # fmt: skip
    await opened[0][0].close()
    await asyncio.sleep(0.3)
    again = await open_socket(port, first)
    assert isinstance(again[1], dict) and again[1]["type"] == "ready"  # its place was freed

    # Two open for the first visitor; two more visitors from the same address fill it up.
    second = await visitor_token(port, world)
    more = [await open_socket(port, second) for _ in range(2)]
    assert [a["type"] if isinstance(a, dict) else a for _, a in more] == ["ready", "ready"]
    third = await visitor_token(port, world)
    ws, answer = await open_socket(port, third)
    assert answer == 1008
    for sock, _ in [*opened, again, *more, (ws, None)]:
        await sock.close()
