"""Demo data for `crocevia demo`: a team, an admin, two agents, a website inbox.

Passwords are generated at first seed, never written in code; they are printed
and kept in the data folder (`demo-logins.txt`, mode 0600).
"""

from __future__ import annotations

import os
import secrets

from sqlalchemy import select

from gateway.auth import hash_password
from gateway.settings import Settings
from inbox.db import create_engine, sessionmaker
from inbox.model import Agent, CannedResponse, Inbox, Team

DEMO_AGENTS = [
    ("admin@crocevia.local", "Amministratore", "admin", "it"),
    ("giulia@crocevia.local", "Giulia Rossi", "agent", "it"),
    ("marco@crocevia.local", "Marco Bianchi", "agent", "en"),
]
CANNED = {
    "ciao": "Buonasera {{contact.name}}, sono {{agent.name}}: come posso aiutarla?",
    "spedizione": "Gli ordini partono entro 24 ore lavorative; il tracking arriva per email.",
    "reso": "Può chiedere il reso entro 30 giorni dalla sezione Ordini del suo account.",
    "hello": "Hi {{contact.name}}, this is {{agent.name}}: how can I help?",
}


async def create_agent(
    settings: Settings, email: str, name: str, role: str, password: str, team: str | None = None
) -> None:
    engine = create_engine(settings.database_url)
    async with sessionmaker(engine)() as session, session.begin():
        agent = Agent(email=email, name=name, role=role, password_hash=hash_password(password))
        if team:
            found = (await session.execute(select(Team).where(Team.name == team))).scalar_one()
            agent.teams = [found]
        session.add(agent)
    await engine.dispose()


async def seed_demo(settings: Settings) -> list[str]:
    logins_file = settings.data_dir / "demo-logins.txt"
    engine = create_engine(settings.database_url)
    try:
        async with sessionmaker(engine)() as session, session.begin():
            seeded = (await session.execute(select(Inbox).limit(1))).first() is not None
            if seeded and logins_file.exists():
                return logins_file.read_text().splitlines()
            team = Team(name="Assistenza clienti")
            session.add(team)
            lines = []
            for email, name, role, language in DEMO_AGENTS:
                password = secrets.token_urlsafe(9)
                session.add(
                    Agent(
                        email=email, name=name, role=role, language=language,
                        password_hash=hash_password(password), teams=[team], presence="online",
                    )
                )  # fmt: skip
                lines.append(f"{role:<6} {email}  password: {password}")
            await session.flush()
            inbox = Inbox(
                name="Negozio online",
                channel="website",
                team_id=team.id,
                website_token=secrets.token_urlsafe(18),
                hmac_secret=secrets.token_urlsafe(32),
                settings={
                    "greeting": "Ciao! Scrivici, rispondiamo in pochi minuti.",
                    "prechat": {"name": "optional", "email": "required"},
                },
            )
            session.add(inbox)
            session.add_all(CannedResponse(short_code=k, text=v) for k, v in CANNED.items())
            await session.flush()
            lines.append(f"website token: {inbox.website_token}")
    finally:
        await engine.dispose()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(logins_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return lines
