"""The conversation list shows what a person last wrote, never Crocevia's own automatic
messages (the out-of-hours reply, the CSAT question)."""

from __future__ import annotations

from conftest import Services, World
from crocevia_clients import Clients
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.model import Message


async def test_the_list_preview_skips_automatic_messages(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    conv_id = (await visitor.say("Siete aperti domenica?"))["message"]["conversation_id"]
    async with db() as session, session.begin():  # what the out-of-hours reply stores
        session.add(Message(conversation_id=conv_id, inbox_id=world.inbox_id, direction="out",
                            text="Grazie per averci scritto! Ti risponderemo lunedì.",
                            attachments=[], status="sent", client_key=f"auto:away:{conv_id}"))  # fmt: skip
    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    listed = (await agent.http.get("/api/conversations", params={"view": "all"})).json()
    (conv,) = [c for c in listed["conversations"] if c["id"] == conv_id]
    assert conv["last_message"]["text"] == "Siete aperti domenica?"
