"""Demo data for `crocevia demo`: a round-robin team, an admin, a team lead, two agents,
a marketing user, and a website inbox with business hours, an auto-reply and SLA targets.

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
    ("lea@crocevia.local", "Lea Conti", "lead", "it"),
    ("giulia@crocevia.local", "Giulia Rossi", "agent", "it"),
    ("marco@crocevia.local", "Marco Bianchi", "agent", "en"),
    ("mara@crocevia.local", "Mara Galli", "marketing", "it"),
]
WEEKDAYS = [["09:00", "13:00"], ["14:00", "20:00"]]
DEMO_INBOX_SETTINGS = {
    "greeting": "Ciao! Scrivici, rispondiamo in pochi minuti.",
    "prechat": {"name": "optional", "email": "required"},
    "business_hours": {
        "schedule": {**{d: WEEKDAYS for d in ("mon", "tue", "wed", "thu", "fri")},
                     "sat": [["10:00", "18:00"]], "sun": []},
        "holidays": "IT",
        "closures": [],
    },
    "auto_reply": {},  # the default texts, in Italian or English
    "sla": {
        "urgent": {"first_response_minutes": 5, "next_response_minutes": 10},
        "high": {"first_response_minutes": 15, "next_response_minutes": 30},
        "normal": {"first_response_minutes": 60, "next_response_minutes": 120},
        "low": {"first_response_minutes": 240},
    },
    "pending_resolve_after_hours": 72,
}  # fmt: skip
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
            team = Team(name="Assistenza clienti", routing_policy="round_robin")
            session.add(team)
            lines = []
            for email, name, role, language in DEMO_AGENTS:
                password = secrets.token_urlsafe(9)
                session.add(
                    Agent(
                        email=email, name=name, role=role, language=language,
                        password_hash=hash_password(password),
                        teams=[team] if role in ("agent", "lead") else [],
                        languages="it,en" if language == "it" else "en",
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
                settings=DEMO_INBOX_SETTINGS,
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
