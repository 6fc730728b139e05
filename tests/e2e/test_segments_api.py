"""Segments, signal exports and the marketing overview through the real gateway: roles,
live counts, paging, streamed exports with their audit entries, the CLI, and no message
text for marketing anywhere."""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from conftest import Services, World
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth import hash_password
from inbox.model import Agent, AuditEntry, Contact, Conversation, Message, utcnow

pytestmark = pytest.mark.timeout(120)
SECRET_TEXT = "il mio IBAN è IT60X0542811101000000123456"


@dataclass
class Floor:
    cohort: str
    contacts: dict[str, int]
    conversation_id: int
    tokens: dict[str, str]  # role -> bearer token


@pytest.fixture
async def floor(db: async_sessionmaker[AsyncSession], world: World, services: Services) -> Floor:
    """Three contacts of a cohort of their own: an unhappy Telegram customer, a happy
    website one, one who never wrote; and one agent per role."""
    cohort = f"api-{secrets.token_hex(4)}"
    now = utcnow()
    contacts: dict[str, int] = {}
    logins: dict[str, tuple[str, str]] = {}
    async with db() as session, session.begin():
        for role in ("agent", "marketing", "lead", "admin"):
            password = secrets.token_urlsafe(10)
            email = f"{role}-{cohort}@example.test"
            session.add(Agent(email=email, name=role.title(), role=role, presence="online",
                              password_hash=hash_password(password)))  # fmt: skip
            logins[role] = (email, password)
        for key, stage in (("unhappy", "customer"), ("happy", "lead"), ("silent", "lead")):
            contact = Contact(name=key.title(), lifecycle_stage=stage,
                              attributes={"cohort": cohort})  # fmt: skip
            session.add(contact)
            await session.flush()
            contacts[key] = contact.id
        convs = {}
        for key, channel, scores in (
            ("unhappy", "telegram", (-0.6, -0.7)),
            ("happy", "website", (0.6,)),
        ):
            conv = Conversation(inbox_id=world.inbox_id, contact_id=contacts[key], channel=channel,
                                status="open", threaded=True, team_id=world.team_id,
                                created_at=now - timedelta(days=2), labels=["promo"])  # fmt: skip
            session.add(conv)
            await session.flush()
            convs[key] = conv.id
            for i, score in enumerate(scores):
                session.add(Message(conversation_id=conv.id, inbox_id=world.inbox_id,
                                    direction="in", text=SECRET_TEXT, attachments=[],
                                    status="received", author_contact_id=contacts[key],
                                    sentiment_score=score,
                                    sentiment_label="negative" if score < 0 else "positive",
                                    created_at=now - timedelta(days=1, hours=-i)))  # fmt: skip
    tokens = {}
    with httpx.Client(base_url=services.base_url) as http:
        for role, (email, password) in logins.items():
            r = http.post("/api/auth/login", json={"email": email, "password": password})
            tokens[role] = r.json()["token"]
    return Floor(cohort, contacts, convs["unhappy"], tokens)


def _client(services: Services, floor: Floor, role: str) -> httpx.Client:
    return httpx.Client(base_url=services.base_url, timeout=60,
                        headers={"Authorization": f"Bearer {floor.tokens[role]}"})  # fmt: skip


def _scoped(floor: Floor, *rules: dict[str, object]) -> dict[str, object]:
    cohort = {"signal": "attribute", "key": "cohort", "op": "=", "value": floor.cohort}
    return {"all": [cohort, *rules]}


def test_segments_crud_counts_and_members(services: Services, floor: Floor) -> None:
    unhappy = _scoped(floor, {"signal": "sentiment_avg_30d", "op": "<", "value": -0.3},
                      {"signal": "channels", "op": "contains", "value": "telegram"})  # fmt: skip
    with _client(services, floor, "marketing") as m:
        r = m.post("/api/segments", json={"name": f"Scontenti {floor.cohort}", "rules": unhappy})
        assert r.status_code == 201, r.text
        seg = r.json()
        again = m.post(
            "/api/segments", json={"name": f"Scontenti {floor.cohort}", "rules": unhappy}
        )
        assert again.status_code == 409
        assert m.get(f"/api/segments/{seg['id']}").json()["count"] == 1
        assert seg["id"] in [s["id"] for s in m.get("/api/segments").json()["segments"]]

        everyone = m.post("/api/segments", json={"name": f"Tutti {floor.cohort}",
                                                 "rules": _scoped(floor)}).json()  # fmt: skip
        assert m.get(f"/api/segments/{everyone['id']}").json()["count"] == 3
        seen, cursor = [], None
        while True:
            page = m.get(f"/api/segments/{everyone['id']}/members",
                         params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()  # fmt: skip
            seen += [x["contact_id"] for x in page["members"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted(floor.contacts.values())
        assert m.get(f"/api/segments/{everyone['id']}/members?cursor=abc").status_code == 400

        # Injection attempts are data: stored as given, matching nobody, the table intact.
        evil = _scoped(floor, {"signal": "labels", "op": "contains", "value": "x' OR 1=1 --"})
        r = m.post("/api/segments", json={"name": "x'); DROP TABLE segments; --", "rules": evil})
        assert r.status_code == 201 and r.json()["rules"] == evil
        assert m.get(f"/api/segments/{r.json()['id']}").json()["count"] == 0
        for bad in (
            {"signal": "name; DROP TABLE contacts", "op": "=", "value": "x"},
            {"signal": "channels", "op": "LIKE", "value": "%"},
            {"signal": "messages_in", "op": ">", "value": "1 OR 1=1"},
        ):
            r = m.post("/api/segments", json={"name": f"bad {secrets.token_hex(3)}", "rules": bad})
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_field"
        assert m.post("/api/segments", json={"name": "no rules"}).status_code == 400

        # Edited: renamed and narrowed to the unhappy customer; a taken name is refused.
        r = m.patch(f"/api/segments/{everyone['id']}",
                    json={"name": f"Tutti gli scontenti {floor.cohort}", "rules": unhappy})  # fmt: skip
        assert r.status_code == 200 and r.json()["rules"] == unhappy, r.text
        assert m.get(f"/api/segments/{everyone['id']}").json()["count"] == 1
        taken = m.patch(f"/api/segments/{everyone['id']}", json={"name": seg["name"]})
        assert taken.status_code == 409
        bad = m.patch(f"/api/segments/{everyone['id']}", json={"rules": {"signal": "x"}})
        assert bad.status_code == 400

        assert m.delete(f"/api/segments/{everyone['id']}").status_code == 200
        assert m.get(f"/api/segments/{everyone['id']}").status_code == 404
        assert m.delete(f"/api/segments/{everyone['id']}").status_code == 404


async def test_exports_stream_and_are_audited(
    services: Services, floor: Floor, db: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    name = f"Promo {floor.cohort}"
    with _client(services, floor, "lead") as lead:
        r = lead.post("/api/segments", json={"name": name, "rules": _scoped(floor)})
        assert r.status_code == 201
        with lead.stream(
            "GET", "/api/signals/export", params={"format": "csv", "segment": name}
        ) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/csv")
            assert "attachment" in resp.headers["content-disposition"]
            assert "content-length" not in resp.headers  # streamed
            text = "".join(resp.iter_text())
        # For the lead's Excel in Italian: BOM, ";", decimal commas, Italian column names.
        assert text.startswith("\ufeff")
        rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
        assert sorted(int(x["ID contatto"]) for x in rows) == sorted(floor.contacts.values())
        unhappy = next(x for x in rows if int(x["ID contatto"]) == floor.contacts["unhappy"])
        assert unhappy["Canali"] == "telegram" and unhappy["Messaggi negativi di fila"] == "2"
        assert unhappy["Etichette"] == "promo" and unhappy["Sentiment medio 30 gg"] == "-0,65"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", unhappy["Ultimo contatto"])
        assert lead.patch("/api/me", json={"language": "en"}).status_code == 200
        english = lead.get("/api/signals/export", params={"format": "csv", "segment": name}).text
        rows = list(csv.DictReader(io.StringIO(english.removeprefix("\ufeff"))))
        unhappy = next(x for x in rows if int(x["contact_id"]) == floor.contacts["unhappy"])
        assert unhappy["negative_streak"] == "2" and unhappy["sentiment_avg_30d"] == "-0.65"

        r = lead.get("/api/signals/export", params={"format": "ndjson"})
        lines = [json.loads(x) for x in r.text.splitlines()]
        assert set(floor.contacts.values()) <= {x["contact_id"] for x in lines}
        assert lead.get("/api/signals/export", params={"format": "xml"}).status_code == 400
        assert lead.get("/api/signals/export", params={"segment": "nope"}).status_code == 404
        assert SECRET_TEXT not in text and SECRET_TEXT not in r.text

    async with db() as session:
        entries = list((await session.execute(
            select(AuditEntry).where(AuditEntry.action == "signals.exported")
            .order_by(AuditEntry.id.desc()).limit(2))).scalars())  # fmt: skip
    assert {e.details["format"] for e in entries} == {"csv", "ndjson"}
    assert entries[1].details["segment"] == name and entries[1].target_type == "segment"

    # The same from the command line, to a file.
    out = tmp_path / "promo.ndjson"
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "signals", "export", "--format", "ndjson",
         "--segment", name, "--output", str(out)],
        env=services.env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "exported 3 contacts" in done.stderr
    assert "\r[" not in done.stderr  # no progress bar when stderr is not a terminal
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(x["contact_id"] for x in got) == sorted(floor.contacts.values())
    missing = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "signals", "export", "--segment", "nope"],
        env=services.env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2
    async with db() as session:
        last = (await session.execute(select(AuditEntry).where(
            AuditEntry.action == "signals.exported").order_by(AuditEntry.id.desc()).limit(1))).scalar_one()  # fmt: skip
    assert last.details["via"] == "cli" and last.actor_agent_id is None


def test_roles_agents_cannot_and_marketing_never_reads_message_text(
    services: Services, floor: Floor
) -> None:
    with _client(services, floor, "agent") as agent:
        for path in ("/api/signals/export", "/api/segments", "/api/marketing/overview"):
            assert agent.get(path).status_code == 403
        r = agent.post("/api/segments", json={"name": "mine", "rules": {"all": []}})
        assert r.status_code == 403
    unhappy = floor.contacts["unhappy"]
    with _client(services, floor, "marketing") as m:
        assert m.get(f"/api/conversations/{floor.conversation_id}/messages").status_code in (
            403,
            404,
        )
        assert m.get(f"/api/contacts/{unhappy}").status_code in (403, 404)
        listed = m.get("/api/conversations", params={"view": "all"})
        assert SECRET_TEXT not in listed.text
        seg = m.post("/api/segments", json={"name": f"Tutti i {floor.cohort}",
                                            "rules": _scoped(floor)}).json()  # fmt: skip
        bodies = [
            m.get("/api/segments").text,
            m.get(f"/api/segments/{seg['id']}").text,
            m.get(f"/api/segments/{seg['id']}/members").text,
            m.get("/api/signals/export", params={"format": "ndjson"}).text,
            m.get("/api/signals/export", params={"format": "csv"}).text,
            m.get("/api/marketing/overview").text,
        ]
        assert all(SECRET_TEXT not in b and "IBAN" not in b for b in bodies)
    with httpx.Client(base_url=services.base_url) as anonymous:
        assert anonymous.get("/api/signals/export").status_code == 401


def test_overview_and_the_contacts_sentiment_rollup(services: Services, floor: Floor) -> None:
    with _client(services, floor, "marketing") as m:
        r = m.get("/api/marketing/overview")
        assert r.status_code == 200
        body = r.json()
        assert len(body["weeks"]) in (2, 3)  # the last 7 days touch two or three weeks
        channels = {c["channel"]: c for c in body["channels"]}
        assert sum(channels["telegram"]["messages_in"]) >= 2
        assert all(len(c["sentiment"]) == len(body["weeks"]) for c in body["channels"])
        assert [f["stage"] for f in body["funnel"]][:3] == ["lead", "prospect", "customer"]
        assert isinstance(body["segments"], list)
        bad = m.get("/api/marketing/overview", params={"from": "2020-01-01T00:00:00+00:00",
                                                        "to": "2019-01-01T00:00:00+00:00"})  # fmt: skip
        assert bad.status_code == 400
    with _client(services, floor, "lead") as lead:
        body = lead.get(f"/api/contacts/{floor.contacts['unhappy']}").json()
    rollup = body["sentiment"]
    assert rollup["negative_streak"] == 2 and rollup["avg_30d"] == pytest.approx(-0.65)
    assert rollup["current"] == pytest.approx((0.6 * -0.6 + -0.7) / 1.6, abs=1e-4)
    assert rollup["conversations"][str(floor.conversation_id)]["current"] == rollup["current"]
