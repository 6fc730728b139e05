"""@mentions in private notes: "@giulia puoi controllare il reso?" tells Giulia.

A mention names an active colleague by the first word of their name or their email's
local part ("@giulia", "@giulia.bianchi"), case and accents aside. Only someone who may
see the conversation is mentioned (a note never leaks to another team), never the author.
Each mention is stored until the agent opens the conversation (inbox/conversations.py
`mark_read`), so an agent who was offline finds it later.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import Viewer
from inbox.model import Agent, Conversation, Mention, Message, utcnow

_MENTION = re.compile(r"(?<![\w@])@([^\W\d_][\w.\-]{0,63})", re.UNICODE)


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFD", text.lower())
    return "".join(ch for ch in plain if unicodedata.category(ch) != "Mn").rstrip(".-")


def handles(text: str) -> set[str]:
    """The names written after @ in a note, folded."""
    return {_fold(m) for m in _MENTION.findall(text)}


def _names_of(agent: Agent) -> set[str]:
    first = agent.name.split()[0] if agent.name.split() else ""
    local = agent.email.split("@")[0]
    return {_fold(x) for x in (first, local, agent.name.replace(" ", "")) if x}


async def record(
    session: AsyncSession, note: Message, conversation: Conversation, author: Agent
) -> list[int]:
    """Store who the note mentions; returns their agent ids."""
    wanted = handles(note.text)
    if not wanted:
        return []
    agents = (await session.execute(select(Agent).where(Agent.active.is_(True)))).scalars()
    named = [
        a for a in agents
        if a.id != author.id and _names_of(a) & wanted
        and Viewer.of(a).may_see(conversation.team_id, conversation.assignee_id)
    ]  # fmt: skip
    for agent in named:
        session.add(Mention(message_id=note.id, conversation_id=conversation.id, agent_id=agent.id,
                            author_agent_id=author.id, created_at=utcnow()))  # fmt: skip
    return [a.id for a in named]


async def unread_for(session: AsyncSession, agent_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The agent's mentions not yet read, newest first."""
    rows = await session.execute(
        select(Mention, Message, Agent)
        .join(Message, Message.id == Mention.message_id)
        .outerjoin(Agent, Agent.id == Mention.author_agent_id)
        .where(Mention.agent_id == agent_id, Mention.read_at.is_(None))
        .order_by(Mention.id.desc())
        .limit(limit)
    )
    return [
        {"id": m.id, "conversation_id": m.conversation_id, "message_id": m.message_id,
         "text": msg.text[:300], "author": author.name if author else None,
         "created_at": m.created_at.isoformat()}
        for m, msg, author in rows.tuples()
    ]  # fmt: skip


async def mark_read(session: AsyncSession, agent_id: int, conversation_id: int) -> None:
    await session.execute(
        update(Mention)
        .where(Mention.agent_id == agent_id, Mention.conversation_id == conversation_id,
               Mention.read_at.is_(None))
        .values(read_at=utcnow())
    )  # fmt: skip
