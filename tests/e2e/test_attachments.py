"""Visitors and agents share files; types come from the bytes, and nothing runs inline."""

from __future__ import annotations

import pytest
from conftest import World
from crocevia_clients import Clients

pytestmark = pytest.mark.timeout(60)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


async def test_a_visitor_sends_an_image_and_an_svg_is_refused(
    world: World, clients: Clients
) -> None:
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    r = await visitor.http.post(
        "/api/widget/attachments", files={"file": ("foto.png", PNG, "image/png")}
    )
    assert r.status_code == 201, r.text
    uploaded = r.json()
    assert uploaded["content_type"] == "image/png" and uploaded["size"] == len(PNG)
    # An SVG named .png and declared image/png is still an SVG: refused.
    r = await visitor.http.post(
        "/api/widget/attachments", files={"file": ("x.png", SVG, "image/png")}
    )
    assert r.status_code == 415 and "application/octet-stream" in r.json()["error"]["message"]

    ack = await visitor.say_with(text="", attachments=[uploaded["id"]])
    assert ack["type"] == "ack"
    assert ack["message"]["attachments"][0]["url"] == uploaded["url"]
    got = await visitor.http.get(uploaded["url"])
    assert got.content == PNG and got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"


async def test_agent_uploads_are_served_as_downloads_unless_raster_images(
    world: World, clients: Clients
) -> None:
    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    r = await agent.http.post(
        "/api/attachments", files={"file": ("logo.svg", SVG, "image/svg+xml")}
    )
    assert r.status_code == 201
    got = await agent.http.get(r.json()["url"])
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith("attachment")
    assert (await agent.http.get("/api/files/not-a-real-id")).status_code == 404
