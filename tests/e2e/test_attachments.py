"""Visitors and agents share files; types come from the bytes, and nothing runs inline."""

from __future__ import annotations

import asyncio

import pytest
from conftest import Services, World
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


async def test_a_chunked_upload_is_refused_while_it_streams(
    world: World, clients: Clients, services: Services
) -> None:
    """No Content-Length: the limit is enforced on the bytes as they arrive. A client
    streaming 64 MiB gets its 413 near the 10 MiB limit, not after the whole body was
    spooled to a temporary file."""
    visitor = await clients.visitor(world.website_token)
    token = visitor.session["visitor_token"]
    reader, writer = await asyncio.open_connection("127.0.0.1", services.port)
    boundary = "crocevia-test-boundary"
    writer.write(
        (f"POST /api/widget/attachments HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n"
         f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n").encode()
    )  # fmt: skip
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + PNG  # fmt: skip
    answer = asyncio.create_task(reader.readline())
    sent = 0
    chunk = b"\x00" * (256 * 1024)
    for piece in [head, *[chunk] * 256]:  # 64 MiB in all
        if answer.done():
            break
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        try:
            await writer.drain()
        except ConnectionError:
            break
        sent += len(piece)
    status_line = await asyncio.wait_for(answer, 30)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line
    assert sent < 24 * 1024 * 1024, f"the server took {sent >> 20} MiB before refusing"
