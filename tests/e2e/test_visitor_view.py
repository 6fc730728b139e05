"""A visitor's socket and history carry only what docs/api.md promises them: no labels,
priority, assignee, team, sentiment, language, agent ids or contact record — live, after a
resume, and over REST."""

from __future__ import annotations

import pytest
from conftest import World
from crocevia_clients import Clients

pytestmark = pytest.mark.timeout(60)

AGENT_ONLY = ("labels", "priority", "assignee_id", "team_id", "waiting_since", "sentiment",
              "language", "contact", "private", "first_response_at", "snoozed_until")  # fmt: skip


def leaks(value: object, path: str = "") -> list[str]:
    found = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in AGENT_ONLY:
                found.append(f"{path}.{key}")
            if key == "author" and isinstance(inner, dict) and "id" in inner:
                found.append(f"{path}.author.id")
            found += leaks(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += leaks(inner, f"{path}[{i}]")
    return found


async def test_visitors_get_the_whitelist_live_on_resume_and_over_rest(
    clients: Clients, world: World
) -> None:
    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    await agent.connect()
    someone = await clients.visitor(world.website_token)  # the stream is not empty
    await someone.connect()
    await someone.say("Buongiorno")
    before = (await agent.http.get("/api/conversations")).json()["last_event_id"]
    visitor = await clients.visitor(world.website_token, name="Giulia")
    await visitor.connect()
    ack = await visitor.say("Il mio ordine è in ritardo, sono arrabbiata")
    conv_id = ack["message"]["conversation_id"]
    r = await agent.http.patch(f"/api/conversations/{conv_id}",
                               json={"labels": ["vip", "ritardo"], "priority": "urgent"})  # fmt: skip
    assert r.status_code == 200, r.text
    reply = await agent.reply(conv_id, "Mi scusi, controllo subito")
    live = await visitor.wait_for(
        lambda f: (
            f.get("event") == "message.updated"
            and f["data"]["message"]["id"] == reply["message"]["id"]
        )
    )
    frames = [ack, live, *await visitor.quiet(0.5)]
    assert [leak for f in frames for leak in leaks(f)] == []
    assert live["data"]["message"]["author"]["name"] == "Anna"

    # A reconnect from before this visitor's first event replays them through the same view.
    again = clients.tab(visitor)
    await again.connect(last_event_id=before)
    replayed = await again.quiet(1.0)
    assert any(f.get("event") == "conversation.updated" for f in replayed)
    assert [leak for f in replayed for leak in leaks(f)] == []

    history = (await visitor.http.get("/api/widget/messages")).json()
    assert [leak for leak in leaks(history)] == []
    assert [m["text"] for m in history["messages"]] == [
        "Il mio ordine è in ritardo, sono arrabbiata", "Mi scusi, controllo subito"]  # fmt: skip


async def test_a_message_is_acked_to_its_own_tab_and_shown_live_to_the_others(
    clients: Clients, world: World
) -> None:
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    await visitor.say("Buongiorno")  # makes the contact; this socket joins it
    opened = await visitor.wait_for(lambda f: f.get("event") == "conversation.created")
    other = clients.tab(visitor)
    await other.connect()

    ack = await visitor.say("Avete la taglia M?")
    cid = ack["client_id"]
    seen = await other.wait_for(lambda f: f.get("event") == "message.created"
                                and f["data"]["message"]["client_id"] == cid)  # fmt: skip
    assert seen["data"]["message"]["id"] == ack["message"]["id"]
    # The sending tab had the message in its ack: the event is not sent to it too (a
    # later event, the other tab's message, shows it was not merely late).
    later = await other.say("E la L?")
    await visitor.wait_for(lambda f: f.get("event") == "message.created"
                           and f["data"]["message"]["client_id"] == later["client_id"])  # fmt: skip
    own = [f for f in visitor.backlog if f.get("event") == "message.created"
           and f["data"]["message"]["client_id"] == cid]  # fmt: skip
    assert own == []

    # A socket resuming from before it gets it in its backlog, like any other event (after
    # the first message's, which came with the conversation.created).
    again = clients.tab(visitor)
    await again.connect(last_event_id=opened["id"])
    replayed = await again.quiet(1.0)
    assert [f["data"]["message"]["client_id"] for f in replayed
            if f.get("event") == "message.created"][-2:] == [cid, later["client_id"]]  # fmt: skip
