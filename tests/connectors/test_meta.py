"""Messenger, Instagram and WhatsApp against a local server that answers like the Graph API.

Deliveries go to the real gateway (`/webhooks/meta/{inbox}`) signed like Meta signs
them; replies go out through the real worker and httpx to `FakeGraph`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_replies import wait_status
from conftest import Services, make_world
from crocevia_clients import Clients
from fakes_social.graph_api import FakeGraph
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.base import VerificationError
from connectors.meta import MetaConnector
from inbox.model import Contact, Conversation, Identity, Inbox, Message

pytestmark = pytest.mark.timeout(90)

PAGE_ID, IG_ID, PHONE_ID = "110000000000001", "178400000000001", "106000000000001"
ACCOUNT = {"messenger": ("page_id", PAGE_ID), "instagram": ("instagram_account_id", IG_ID),
           "whatsapp": ("phone_number_id", PHONE_ID)}  # fmt: skip
OBJECT = {"messenger": "page", "instagram": "instagram", "whatsapp": "whatsapp_business_account"}


@dataclass
class MetaInbox:
    inbox_id: int
    channel: str
    app_secret: str
    verify_token: str
    agent: tuple[int, str, str]


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    server = FakeGraph(secrets.token_urlsafe(24), {PHONE_ID})
    server.start()
    yield server
    server.stop()


MakeInbox = Callable[[str], Awaitable[MetaInbox]]


@pytest.fixture
def make_inbox(graph: FakeGraph, db: async_sessionmaker[AsyncSession], tmp_path: Path) -> MakeInbox:
    async def make(channel: str) -> MetaInbox:
        world = await make_world(db)
        folder = tmp_path / f"{channel}-{secrets.token_hex(3)}"
        folder.mkdir()
        app_secret, verify_token = secrets.token_hex(16), secrets.token_urlsafe(12)
        key, account = ACCOUNT[channel]
        settings: dict[str, Any] = {key: account, "api_base_url": graph.url}
        for name, value in (("app_secret", app_secret), ("verify_token", verify_token),
                            ("access_token", graph.token)):  # fmt: skip
            (folder / name).write_text(value + "\n")
            settings[f"{name}_file"] = str(folder / name)
        async with db() as session, session.begin():
            inbox = Inbox(name=channel, channel=channel, team_id=world.team_id, settings=settings)
            session.add(inbox)
            await session.flush()
            inbox_id = inbox.id
        return MetaInbox(inbox_id, channel, app_secret, verify_token, world.agents["anna"])

    return make


def uid() -> str:
    """Platform user ids are global (identities): every test talks from users of its own."""
    return str(10**14 + secrets.randbelow(10**14))


def wa_number() -> str:
    return "39" + str(3_000_000_000 + secrets.randbelow(10**9))


def messaging(inbox: MetaInbox, *events: dict[str, Any]) -> dict[str, Any]:
    """A Messenger or Instagram delivery."""
    account = ACCOUNT[inbox.channel][1]
    return {"object": OBJECT[inbox.channel],
            "entry": [{"id": account, "time": int(time.time() * 1000), "messaging": list(events)}]}  # fmt: skip


def msg_event(sender: str, inbox: MetaInbox, message: dict[str, Any] | None = None,
              ago: float = 0, **other: Any) -> dict[str, Any]:  # fmt: skip
    ev: dict[str, Any] = {"sender": {"id": sender}, "recipient": {"id": ACCOUNT[inbox.channel][1]},
                          "timestamp": int((time.time() - ago) * 1000), **other}  # fmt: skip
    if message is not None:
        ev["message"] = {"mid": f"m_{secrets.token_hex(12)}", **message}
    return ev


def whatsapp(*, messages: list[dict[str, Any]] = (), statuses: list[dict[str, Any]] = (),  # type: ignore[assignment]
             contacts: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]  # fmt: skip
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_ID},
    }
    if messages:
        value["contacts"], value["messages"] = list(contacts), list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}]}  # fmt: skip


def wa_message(
    number: str, kind: str, content: Any, ago: float = 0, **extra: Any
) -> dict[str, Any]:
    return {"from": number, "id": f"wamid.{secrets.token_hex(16)}",
            "timestamp": str(int(time.time() - ago)), "type": kind, kind: content, **extra}  # fmt: skip


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(services: Services, inbox: MetaInbox, payload: dict[str, Any],
                  sig: str | None = None) -> httpx.Response:  # fmt: skip
    body = json.dumps(payload).encode()
    headers = {"X-Hub-Signature-256": sig if sig is not None else signature(inbox.app_secret, body),
               "Content-Type": "application/json"}  # fmt: skip
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        return await http.post(f"/webhooks/meta/{inbox.inbox_id}", content=body, headers=headers)


async def messages_of(db: async_sessionmaker[AsyncSession], inbox_id: int) -> list[Message]:
    async with db() as session:
        rows = await session.execute(
            select(Message).where(Message.inbox_id == inbox_id).order_by(Message.id)
        )
        return list(rows.scalars())


async def identity(
    db: async_sessionmaker[AsyncSession], channel: str, external_id: str
) -> Identity:
    async with db() as session:
        return (
            await session.execute(select(Identity).where(Identity.channel == channel,
                                                         Identity.external_id == external_id))
        ).scalar_one()  # fmt: skip


# -- webhook verification ------------------------------------------------------------------------


async def test_hub_challenge_needs_our_verify_token(
    make_inbox: MakeInbox, services: Services
) -> None:
    inbox = await make_inbox("whatsapp")
    url = f"/webhooks/meta/{inbox.inbox_id}"
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        ok = await http.get(url, params={"hub.mode": "subscribe", "hub.challenge": "1158201444",
                                         "hub.verify_token": inbox.verify_token})  # fmt: skip
        assert ok.status_code == 200 and ok.text == "1158201444"
        for wrong in ({"hub.verify_token": inbox.verify_token + "x"}, {"hub.mode": "unsubscribe"}):
            params = {"hub.mode": "subscribe", "hub.challenge": "1",
                      "hub.verify_token": inbox.verify_token, **wrong}  # fmt: skip
            assert (await http.get(url, params=params)).status_code == 403


async def test_forged_signatures_are_refused_and_logged_and_duplicates_store_nothing(
    make_inbox: MakeInbox, services: Services, db: async_sessionmaker[AsyncSession]
) -> None:
    inbox = await make_inbox("messenger")
    payload = messaging(inbox, msg_event(uid(), inbox, {"text": "Salve!"}))
    body = json.dumps(payload).encode()
    for forged in ("", "sha256=" + "0" * 64, signature("another-app", body),
                   signature(inbox.app_secret, body).replace("sha256=", "sha1=")):  # fmt: skip
        r = await deliver(services, inbox, payload, forged)
        assert r.status_code == 401, r.text
    assert await messages_of(db, inbox.inbox_id) == []
    logs = "".join(p.read_text(errors="replace") for p in services.data_dir.glob("serve-*.log"))
    assert "webhook_forged" in logs and str(inbox.inbox_id) in logs

    r = await deliver(services, inbox, payload)
    assert r.status_code == 200 and r.json() == {"received": 1, "stored": 1}
    r = await deliver(services, inbox, payload)  # Meta retries the same delivery
    assert r.status_code == 200 and r.json() == {"received": 1, "stored": 0}
    assert len(await messages_of(db, inbox.inbox_id)) == 1


# -- inbound kinds, contacts -------------------------------------------------------------------------


async def test_messenger_text_image_file_sticker_reaction_and_profile(
    make_inbox: MakeInbox, graph: FakeGraph, services: Services,
    db: async_sessionmaker[AsyncSession],
) -> None:  # fmt: skip
    inbox = await make_inbox("messenger")
    psid = uid()
    graph.profiles[psid] = {"id": psid, "first_name": "Marco", "last_name": "Bianchi",
                            "profile_pic": "https://cdn.example.test/marco.jpg"}  # fmt: skip
    first = msg_event(psid, inbox, {"text": "Buongiorno"})
    payload = messaging(
        inbox,
        first,
        msg_event(psid, inbox, {"attachments": [{"type": "image", "payload": {"url": "https://cdn.example.test/a.jpg"}}]}),
        msg_event(psid, inbox, {"attachments": [{"type": "file", "payload": {"url": "https://cdn.example.test/f.pdf"}}]}),
        msg_event(psid, inbox, {"attachments": [{"type": "image", "payload": {"url": "https://cdn.example.test/s.png", "sticker_id": 369239263222822}}]}),
        msg_event(psid, inbox, reaction={"mid": first["message"]["mid"], "action": "react", "reaction": "love", "emoji": "\u2764"}),
        msg_event(PAGE_ID, inbox, {"text": "our echo", "is_echo": True}),
    )  # fmt: skip
    r = await deliver(services, inbox, payload)
    assert r.json() == {"received": 5, "stored": 5}
    text, image, file, sticker, reaction = await messages_of(db, inbox.inbox_id)
    assert text.text == "Buongiorno" and text.external_id == first["message"]["mid"]
    assert image.attachments[0]["kind"] == "image"
    assert file.attachments[0]["kind"] == "file"
    assert sticker.attachments[0]["kind"] == "sticker"
    assert reaction.text == "\u2764" and reaction.attachments[0]["kind"] == "reaction"
    assert reaction.attachments[0]["data"]["message_id"] == first["message"]["mid"]
    who = await identity(db, "messenger", psid)
    assert who.display_name == "Marco Bianchi"
    assert who.avatar_url == "https://cdn.example.test/marco.jpg"
    assert len(graph.calls_to("GET", f"/{psid}")) == 1
    assert (await deliver(services, inbox, payload)).json()["stored"] == 0


async def test_instagram_messages_are_parsed_like_messenger(
    make_inbox: MakeInbox, graph: FakeGraph, services: Services,
    db: async_sessionmaker[AsyncSession],
) -> None:  # fmt: skip
    inbox = await make_inbox("instagram")
    igsid = uid()
    graph.profiles[igsid] = {"id": igsid, "name": "Sara Verdi", "username": "sara.verdi",
                             "profile_pic": "https://cdn.example.test/sara.jpg"}  # fmt: skip
    r = await deliver(services, inbox, messaging(inbox, msg_event(igsid, inbox, {"text": "ciao!"})))
    assert r.json()["stored"] == 1
    who = await identity(db, "instagram", igsid)
    assert (who.display_name, who.handle) == ("Sara Verdi", "sara.verdi")
    # A Messenger delivery at an Instagram inbox's URL stores nothing.
    other = messaging(inbox, msg_event(uid(), inbox, {"text": "x"}))
    other["object"] = "page"
    assert (await deliver(services, inbox, other)).json()["stored"] == 0


async def test_whatsapp_kinds_and_the_phone_links_a_known_contact(
    make_inbox: MakeInbox, services: Services, db: async_sessionmaker[AsyncSession]
) -> None:
    inbox = await make_inbox("whatsapp")
    number = wa_number()
    async with db() as session, session.begin():
        known = Contact(name="Giulia (from the shop)", phone=f"+{number}", attributes={})
        session.add(known)
        await session.flush()
        known_id = known.id
    text = wa_message(number, "text", {"body": "Ho un problema con l'ordine"})
    messages = [
        text,
        wa_message(number, "image", {"id": "MEDIA1", "mime_type": "image/jpeg", "sha256": "abc",
                                     "caption": "lo scontrino"}),
        wa_message(number, "document", {"id": "MEDIA2", "mime_type": "application/pdf",
                                        "filename": "fattura.pdf"}),
        wa_message(number, "sticker", {"id": "MEDIA3", "mime_type": "image/webp", "animated": False}),
        wa_message(number, "reaction", {"message_id": text["id"], "emoji": "\U0001f44d"}),
    ]  # fmt: skip
    payload = whatsapp(messages=messages,
                       contacts=[{"profile": {"name": "Giulia R."}, "wa_id": number}])  # fmt: skip
    r = await deliver(services, inbox, payload)
    assert r.json() == {"received": 5, "stored": 5}
    rows = await messages_of(db, inbox.inbox_id)
    assert [m.external_id for m in rows] == [m["id"] for m in messages]
    assert rows[1].text == "lo scontrino" and rows[1].attachments[0]["data"]["media_id"] == "MEDIA1"
    assert (
        rows[2].attachments[0]["name"] == "fattura.pdf" and rows[2].attachments[0]["kind"] == "file"
    )
    assert rows[3].attachments[0]["kind"] == "sticker"
    assert rows[4].text == "\U0001f44d" and rows[4].attachments[0]["kind"] == "reaction"
    who = await identity(db, "whatsapp", number)
    assert who.contact_id == known_id and who.display_name == "Giulia R."
    assert (await deliver(services, inbox, payload)).json()["stored"] == 0


# -- replies, statuses, the 24-hour rule, rate limits ----------------------------------------------


@pytest.fixture
async def agent_login(
    services: Services,
) -> AsyncIterator[Callable[[MetaInbox], Awaitable[httpx.AsyncClient]]]:
    opened: list[httpx.AsyncClient] = []

    async def login(inbox: MetaInbox) -> httpx.AsyncClient:
        _id, email, password = inbox.agent
        http = httpx.AsyncClient(base_url=services.base_url)
        opened.append(http)
        r = await http.post("/api/auth/login", json={"email": email, "password": password})
        r.raise_for_status()
        http.headers["Authorization"] = f"Bearer {r.json()['token']}"
        return http

    yield login
    for http in opened:
        await http.aclose()


async def conversation_of(db: async_sessionmaker[AsyncSession], inbox_id: int) -> int:
    async with db() as session:
        return (
            await session.execute(select(Conversation.id).where(Conversation.inbox_id == inbox_id))
        ).scalar_one()


async def post_reply(
    http: httpx.AsyncClient, conv_id: int, text: str, **extra: Any
) -> httpx.Response:
    return await http.post(f"/api/conversations/{conv_id}/messages",
                           json={"text": text, "client_id": secrets.token_hex(8), **extra})  # fmt: skip


async def test_whatsapp_reply_and_its_delivered_and_read_statuses(
    make_inbox: MakeInbox, graph: FakeGraph, services: Services,
    db: async_sessionmaker[AsyncSession], agent_login: Any,
) -> None:  # fmt: skip
    inbox = await make_inbox("whatsapp")
    number = wa_number()
    await deliver(
        services, inbox, whatsapp(messages=[wa_message(number, "text", {"body": "ciao"})])
    )
    http = await agent_login(inbox)
    r = await post_reply(
        http, await conversation_of(db, inbox.inbox_id), "Buongiorno, come possiamo aiutarla?"
    )
    assert r.status_code == 201, r.text
    sent = await wait_status(db, r.json()["id"], "sent")
    (call,) = graph.sent()
    assert call.path == f"/v23.0/{PHONE_ID}/messages"
    assert call.json == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": number,
                         "type": "text", "text": {"body": "Buongiorno, come possiamo aiutarla?",
                                                  "preview_url": False}}  # fmt: skip
    wamid = sent.external_id
    assert wamid and wamid.startswith("wamid.")

    def status(name: str, **extra: Any) -> dict[str, Any]:
        return whatsapp(statuses=[{"id": wamid, "status": name, "timestamp": str(int(time.time())),
                                   "recipient_id": number, **extra}])  # fmt: skip

    assert (await deliver(services, inbox, status("delivered"))).status_code == 200
    await wait_status(db, sent.id, "delivered")
    await deliver(services, inbox, status("read"))
    await wait_status(db, sent.id, "read")
    await deliver(services, inbox, status("delivered"))  # late and out of order: ignored
    assert (await wait_status(db, sent.id, "read")).status == "read"

    r = await post_reply(http, await conversation_of(db, inbox.inbox_id), "un'altra")
    failed_id = (await wait_status(db, r.json()["id"], "sent")).external_id
    await deliver(services, inbox, whatsapp(statuses=[{
        "id": failed_id, "status": "failed", "timestamp": str(int(time.time())), "recipient_id": number,
        "errors": [{"code": 131026, "title": "Message undeliverable"}]}]))  # fmt: skip
    failed = await wait_status(db, r.json()["id"], "failed")
    assert failed.error == "Message undeliverable"


async def test_the_24_hour_rule_refuses_free_form_replies_but_not_templates(
    make_inbox: MakeInbox, graph: FakeGraph, services: Services,
    db: async_sessionmaker[AsyncSession], agent_login: Any, clients: Clients,
) -> None:  # fmt: skip
    inbox = await make_inbox("whatsapp")
    number = wa_number()
    old = wa_message(number, "text", {"body": "ieri"}, ago=25 * 3600)
    await deliver(services, inbox, whatsapp(messages=[old]))
    conv_id = await conversation_of(db, inbox.inbox_id)
    http = await agent_login(inbox)

    r = await post_reply(http, conv_id, "Mi scusi il ritardo")
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "reply_window_closed"
    assert "24-hour" in error["message"] and "/template" in error["message"]

    _id, email, password = inbox.agent
    agent = await clients.agent(email, password)
    await agent.connect()
    frame = await agent.reply(conv_id, "Mi scusi il ritardo")
    assert frame["type"] == "error" and frame["code"] == "reply_window_closed"
    assert "24-hour" in frame["message"]

    note = await post_reply(http, conv_id, "nota interna", private=True)  # notes are always fine
    assert note.status_code == 201
    r = await post_reply(http, conv_id, "/template order_delay it | Giulia | 4521")
    assert r.status_code == 201, r.text
    await wait_status(db, r.json()["id"], "sent")
    (call,) = graph.sent()
    assert call.json["type"] == "template" and call.json["template"] == {
        "name": "order_delay", "language": {"code": "it"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Giulia"},
                                                       {"type": "text", "text": "4521"}]}],
    }  # fmt: skip
    assert not graph.calls_to("POST", "/messages")[:-1]  # the refused replies never left

    # Once the customer writes again, free-form replies are allowed again.
    await deliver(
        services, inbox, whatsapp(messages=[wa_message(number, "text", {"body": "oggi"})])
    )
    assert (await post_reply(http, conv_id, "Eccoci!")).status_code == 201

    messenger = await make_inbox("messenger")
    psid = uid()
    await deliver(
        services,
        messenger,
        messaging(messenger, msg_event(psid, messenger, {"text": "x"}, ago=30 * 3600)),
    )
    http2 = await agent_login(messenger)
    r = await post_reply(http2, await conversation_of(db, messenger.inbox_id), "/template a b")
    assert r.status_code == 409 and "Wait for the customer" in r.json()["error"]["message"]


async def test_graph_rate_limits_are_retried_and_window_refusals_fail_visibly(
    make_inbox: MakeInbox, graph: FakeGraph, services: Services,
    db: async_sessionmaker[AsyncSession], agent_login: Any,
) -> None:  # fmt: skip
    inbox = await make_inbox("messenger")
    psid = uid()
    await deliver(services, inbox, messaging(inbox, msg_event(psid, inbox, {"text": "ci sono"})))
    conv_id = await conversation_of(db, inbox.inbox_id)
    http = await agent_login(inbox)

    graph.fail_next(
        429, 613, "Calls to this api have exceeded the rate limit.", {"Retry-After": "1"}
    )
    r = await post_reply(http, conv_id, "Arriviamo")
    sent = await wait_status(db, r.json()["id"], "sent")
    limited, delivered = graph.calls_to("POST", "/messages")
    assert limited.status == 429 and delivered.status == 200 and delivered.at - limited.at >= 0.9
    assert delivered.json == {"recipient": {"id": psid}, "messaging_type": "RESPONSE",
                              "message": {"text": "Arriviamo"}}  # fmt: skip
    assert sent.external_id and sent.external_id.startswith("m_")

    graph.fail_next(400, 10, "This message is sent outside of allowed window.", subcode=2018278)
    r = await post_reply(http, conv_id, "troppo tardi")
    failed = await wait_status(db, r.json()["id"], "failed")
    assert failed.error and failed.error.startswith("outside the 24-hour window")


async def test_connector_checks_without_a_gateway(
    make_inbox: MakeInbox, db: async_sessionmaker[AsyncSession]
) -> None:
    inbox = await make_inbox("whatsapp")
    async with db() as session:
        conn = MetaConnector.for_inbox(await session.get_one(Inbox, inbox.inbox_id))
    with pytest.raises(VerificationError):
        conn.verify({"X-Hub-Signature-256": "sha256=00"}, b"{}")
    conn.verify({"x-hub-signature-256": signature(inbox.app_secret, b"{}")}, b"{}")
    with pytest.raises(VerificationError):
        conn.answer_challenge({"hub.mode": "subscribe", "hub.challenge": "1"})
    other = whatsapp(messages=[wa_message(wa_number(), "text", {"body": "x"})])
    other["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    assert conn.parse(other) == []  # another number of the same business account


async def test_one_unreadable_event_is_skipped_and_its_neighbours_are_stored(
    make_inbox: MakeInbox, services: Services, db: async_sessionmaker[AsyncSession]
) -> None:
    wa = await make_inbox("whatsapp")
    number = wa_number()
    good = wa_message(number, "text", {"body": "Il pacco è arrivato rotto"})
    no_sender = wa_message(number, "text", {"body": "?"})
    del no_sender["from"]
    r = await deliver(services, wa, whatsapp(messages=[no_sender, good]))
    assert r.status_code == 200, r.text
    assert [m.text for m in await messages_of(db, wa.inbox_id)] == ["Il pacco è arrivato rotto"]

    messenger = await make_inbox("messenger")
    user = uid()
    opt_in = {"recipient": {"id": ACCOUNT["messenger"][1]}, "timestamp": int(time.time() * 1000),
              "optin": {"ref": "checkout"}}  # fmt: skip
    r = await deliver(services, messenger, messaging(
        messenger, opt_in, msg_event(user, messenger, {"text": "Buongiorno"})))  # fmt: skip
    assert r.status_code == 200, r.text
    assert [m.text for m in await messages_of(db, messenger.inbox_id)] == ["Buongiorno"]


async def test_a_whatsapp_flow_reply_shows_what_the_customer_filled_in(
    make_inbox: MakeInbox, services: Services, db: async_sessionmaker[AsyncSession]
) -> None:
    wa = await make_inbox("whatsapp")
    answers = {"flow_token": "secret-token", "order_number": "A-1234", "reason": "Taglia sbagliata"}
    flow = wa_message(wa_number(), "interactive", {
        "type": "nfm_reply",
        "nfm_reply": {"name": "flow", "body": "Richiesta di reso", "response_json": json.dumps(answers)},
    })  # fmt: skip
    r = await deliver(services, wa, whatsapp(messages=[flow]))
    assert r.status_code == 200, r.text
    (stored,) = await messages_of(db, wa.inbox_id)
    assert stored.text.splitlines() == ["📋 Richiesta di reso", "order number: A-1234",
                                        "reason: Taglia sbagliata"]  # fmt: skip
    assert "secret-token" not in stored.text


async def test_whatsapp_media_are_downloaded_through_the_graph_api(
    make_inbox: MakeInbox, services: Services, db: async_sessionmaker[AsyncSession],
    graph: FakeGraph,
) -> None:  # fmt: skip
    JPEG = b"\xff\xd8\xff\xe0" + secrets.token_bytes(2048)
    graph.media["1290318236184"] = (JPEG, "image/jpeg")
    wa = await make_inbox("whatsapp")
    photo = wa_message(wa_number(), "image", {"id": "1290318236184", "mime_type": "image/jpeg",
                                              "sha256": "x", "caption": "la ricevuta"})  # fmt: skip
    gone = wa_message(wa_number(), "document", {"id": "999000111", "mime_type": "application/pdf",
                                                "filename": "fattura.pdf"})  # fmt: skip
    r = await deliver(services, wa, whatsapp(messages=[photo, gone]))
    assert r.status_code == 200, r.text
    stored, missing = await messages_of(db, wa.inbox_id)
    (a,) = stored.attachments
    assert a["url"].startswith("/api/files/") and a["content_type"] == "image/jpeg"
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        assert (await http.get(a["url"])).content == JPEG
    (b,) = missing.attachments
    assert b["url"] is None and "not available" in b["data"]["error"]
