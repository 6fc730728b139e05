"""The agents' pages carry a strict Content Security Policy and cannot be framed; every
response says nosniff and limits the referrer; and the pages still work under the policy
in a real Chromium (no violation reported while an admin logs in and looks around)."""

from __future__ import annotations

import secrets

import httpx
import pytest
from browser import SHOTS
from conftest import Services, World
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth import hash_password
from inbox.model import Agent

pytestmark = pytest.mark.timeout(120)

PAGES = ["/console/", "/lead/", "/marketing/"]


@pytest.mark.parametrize("path", PAGES)
def test_agent_pages_send_a_csp_that_forbids_framing_and_inline_script(
    services: Services, path: str
) -> None:
    r = httpx.get(f"{services.base_url}{path}")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["object-src"] == ["'none'"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/api/openapi.json", "/widget.js", "/console/console.js"])
def test_every_response_says_nosniff_and_limits_the_referrer(services: Services, path: str) -> None:
    r = httpx.get(f"{services.base_url}{path}")
    assert r.status_code == 200
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] in ("no-referrer", "strict-origin-when-cross-origin")


def test_the_widget_script_carries_no_policy_that_would_bind_the_shop(services: Services) -> None:
    r = httpx.get(f"{services.base_url}/widget.js")
    assert "content-security-policy" not in r.headers
    assert "x-frame-options" not in r.headers


@pytest.fixture
async def admin(db: async_sessionmaker[AsyncSession], world: World) -> tuple[str, str]:
    password = secrets.token_urlsafe(10)
    email = f"csp-{secrets.token_hex(3)}@example.test"
    async with db() as session, session.begin():
        session.add(Agent(email=email, name="Ada", role="admin", language="it",
                          password_hash=hash_password(password)))  # fmt: skip
    return email, password


COLLECT_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));
"""


def test_the_pages_work_under_their_policy(
    services: Services, admin: tuple[str, str], browser: object
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    context.add_init_script(COLLECT_VIOLATIONS)
    email, password = admin
    for path in PAGES:
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda m, c=console: c.append(m.text) if m.type == "error" else None)
        page.goto(f"{services.base_url}{path}")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("form button[type=submit]")
        page.wait_for_function("() => !document.querySelector('input[name=password]')"
                               " || document.querySelector('input[name=password]').offsetParent === null")  # fmt: skip
        page.wait_for_timeout(800)  # the page's first requests and its socket
        page.screenshot(path=str(SHOTS / f"csp{path.strip('/')}.png"))
        assert page.evaluate("window.__violations") == [], path
        assert not [c for c in console if "Content Security Policy" in c], console
        page.close()
    context.close()
