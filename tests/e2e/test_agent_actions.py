"""One action per agent verb (gateway/agent_actions.py): a reply, a note, a retry asked
over REST or over the agent socket does the same thing and is refused for the same
reasons, with the same code and message."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from conftest import World
from crocevia_clients import AgentClient, Clients

pytestmark = pytest.mark.timeout(60)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _socket(agent: AgentClient, frame: dict[str, Any]) -> dict[str, Any]:
    cid = frame.get("client_id")
    await agent.send(frame)
    got = await agent.wait_for(
        lambda f: f["type"] in ("ack", "error") and f.get("client_id") == cid
    )
    return got


async def test_a_reply_with_files_is_the_same_over_rest_and_socket(
    clients: Clients, world: World
) -> None:
    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    await agent.connect()
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    conv_id = (await visitor.say("Mi mandate la fattura?"))["message"]["conversation_id"]
    file_ids = []
    for _ in range(2):
        up = await agent.http.post("/api/attachments", files={"file": ("f.png", PNG, "image/png")})
        assert up.status_code == 201, up.text
        file_ids.append(up.json()["id"])

    rest_cid, socket_cid = str(uuid.uuid4()), str(uuid.uuid4())
    r = await agent.http.post(f"/api/conversations/{conv_id}/messages", json={
        "text": "Eccola", "client_id": rest_cid, "attachments": [file_ids[0]]})  # fmt: skip
    assert r.status_code == 201, r.text
    by_rest = r.json()
    by_socket = (await _socket(agent, {"type": "reply", "client_id": socket_cid,
                                       "conversation_id": conv_id, "text": "Eccola",
                                       "attachments": [file_ids[1]]}))["message"]  # fmt: skip
    shape = ("direction", "text", "private", "status", "conversation_id")
    assert {k: by_rest[k] for k in shape} == {k: by_socket[k] for k in shape}
    assert [a["url"] for a in by_rest["attachments"]] == [f"/api/files/{file_ids[0]}"]
    assert [a["url"] for a in by_socket["attachments"]] == [f"/api/files/{file_ids[1]}"]
    # The same client id again answers the message it made, on either path.
    again = await agent.http.post(f"/api/conversations/{conv_id}/messages",
                                  json={"text": "Eccola", "client_id": rest_cid})  # fmt: skip
    assert again.status_code == 200 and again.json()["id"] == by_rest["id"]

    # A file-only reply is accepted on both; an empty one refused on both, same words.
    r = await agent.http.post(f"/api/conversations/{conv_id}/messages", json={
        "text": "", "client_id": str(uuid.uuid4()), "attachments": [file_ids[0]]})  # fmt: skip
    assert r.status_code == 201, r.text
    empty_cid = str(uuid.uuid4())
    rest_err = await agent.http.post(f"/api/conversations/{conv_id}/messages",
                                     json={"text": " ", "client_id": empty_cid})  # fmt: skip
    socket_err = await _socket(agent, {"type": "reply", "client_id": empty_cid,
                                       "conversation_id": conv_id, "text": " "})  # fmt: skip
    assert rest_err.status_code == 400 and socket_err["type"] == "error"
    assert rest_err.json()["error"]["message"] == socket_err["message"]

    # A file that was never uploaded, a conversation one may not see: refused alike.
    for body, frame_extra, status in (
        ({"attachments": ["f" * 32]}, {"attachments": ["f" * 32]}, 404),
        ({"text": "x" * 20_000}, {"text": "x" * 20_000}, 413),
    ):
        cid = str(uuid.uuid4())
        rest = await agent.http.post(f"/api/conversations/{conv_id}/messages",
                                     json={"text": "ok", "client_id": cid, **body})  # fmt: skip
        sock = await _socket(agent, {"type": "reply", "client_id": cid,
                                     "conversation_id": conv_id, "text": "ok", **frame_extra})  # fmt: skip
        assert rest.status_code == status, rest.text
        assert rest.json()["error"]["code"] == sock["code"]
        assert rest.json()["error"]["message"] == sock["message"]
    missing = await agent.http.post("/api/conversations/999999/messages",
                                    json={"text": "ok", "client_id": str(uuid.uuid4())})  # fmt: skip
    sock = await _socket(agent, {"type": "reply", "client_id": "c-missing",
                                 "conversation_id": 999999, "text": "ok"})  # fmt: skip
    assert missing.status_code == 404 and sock["code"] == "not_found"
    assert missing.json()["error"]["message"] == sock["message"]


async def test_a_retry_of_a_sent_reply_is_refused_alike(clients: Clients, world: World) -> None:
    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    await agent.connect()
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    conv_id = (await visitor.say("Ciao"))["message"]["conversation_id"]
    reply = (await agent.reply(conv_id, "Buongiorno!"))["message"]
    # Sent first: a retry racing the worker's send saw 'pending' over REST and 'sent' on
    # the socket (two refusals, two messages).
    await agent.wait_for(
        lambda f: (
            f.get("event") == "message.updated"
            and f["data"]["message"]["id"] == reply["id"]
            and f["data"]["message"]["status"] == "sent"
        )
    )
    rest = await agent.http.post(f"/api/messages/{reply['id']}/retry")
    await agent.send({"type": "retry", "message_id": reply["id"]})
    sock = await agent.wait_for(
        lambda f: f["type"] in ("ack", "error") and f.get("client_id") is None
    )
    assert rest.status_code == 409, rest.text
    assert sock["type"] == "error" and sock["code"] == rest.json()["error"]["code"] == "conflict"
    assert sock["message"] == rest.json()["error"]["message"]
