"""JSON that is valid but absurd — a number that overflows to infinity, nesting a hundred
thousand levels deep — is refused with 400 by every HTTP endpoint and closes a socket
with 1007, instead of a 500 or a crashed socket."""

from __future__ import annotations

import ast
import json
import secrets

import httpx
import pytest
from conftest import Services, World
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gateway import strict_json
from gateway.auth import hash_password
from inbox.model import Agent

pytestmark = pytest.mark.timeout(60)

DEEP = "[" * 100_000 + "]" * 100_000
OVERFLOW_RULE = '{"name": "n%s", "rules": {"signal": "messages_in", "op": ">", "value": 1e999}}'


def test_the_decoder_refuses_what_nothing_downstream_can_hold() -> None:
    for text in ("1e999", "-1e999", "NaN", "Infinity", '{"a": -Infinity}', DEEP,
                 "[" * 65 + "]" * 65):  # fmt: skip
        with pytest.raises(ValueError):
            strict_json.loads(text)
    assert strict_json.loads("[" * 64 + "]" * 64) is not None
    # Refused before decoding: the C decoder never hits RecursionError, after which
    # CPython 3.11 could no longer compile code in this process.
    compile("x = [1]", "<check>", "exec", ast.PyCF_ONLY_AST)
    assert strict_json.loads('{"n": 1.5e300, "i": 12345678901234567890}')["n"] == 1.5e300


@pytest.fixture
async def marketing_token(
    services: Services, db: async_sessionmaker[AsyncSession], world: World
) -> str:
    password = secrets.token_urlsafe(10)
    email = f"json-{secrets.token_hex(3)}@example.test"
    async with db() as session, session.begin():
        session.add(Agent(email=email, name="Mara", role="marketing",
                          password_hash=hash_password(password)))  # fmt: skip
    r = httpx.post(
        f"{services.base_url}/api/auth/login", json={"email": email, "password": password}
    )
    return str(r.json()["token"])


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/widget/sessions", "/api/segments"])
@pytest.mark.parametrize("body", [DEEP, '{"website_token": "x", "n": 1e999}', '{"a": NaN}'])
def test_http_endpoints_answer_400(
    services: Services, marketing_token: str, path: str, body: str
) -> None:
    r = httpx.post(f"{services.base_url}{path}", content=body,
                   headers={"Content-Type": "application/json",
                            "Authorization": f"Bearer {marketing_token}"})  # fmt: skip
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_json"


def test_an_overflowing_number_never_reaches_the_database(
    services: Services, marketing_token: str
) -> None:
    r = httpx.post(f"{services.base_url}/api/segments",
                   content=OVERFLOW_RULE % secrets.token_hex(3),
                   headers={"Content-Type": "application/json",
                            "Authorization": f"Bearer {marketing_token}"})  # fmt: skip
    assert r.status_code == 400, r.text


@pytest.mark.parametrize(
    "frame", ["[" * 30_000 + "]" * 30_000, '{"type": "message", "text": "x", "n": 1e999}']
)
async def test_sockets_close_with_1007(services: Services, world: World, frame: str) -> None:
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        r = await http.post("/api/widget/sessions", json={"website_token": world.website_token})
        token = r.json()["visitor_token"]
    async with connect(f"{services.ws_url}/ws/widget", max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await ws.recv())["type"] == "ready"
        await ws.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
