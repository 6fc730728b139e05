"""Security headers on every response, and a strict Content Security Policy on the agents'
pages (console, team lead, marketing, settings).

Every response: `X-Content-Type-Options: nosniff`, `Referrer-Policy:
strict-origin-when-cross-origin`. The agents' pages also get a CSP that allows only this
origin's scripts, styles, images and sockets (no inline script, no eval), may not be framed
(`frame-ancestors 'none'`, `X-Frame-Options: DENY`), and send no referrer at all. The
widget script and the demo shop page are meant for other sites' pages and get no CSP of
ours. A header a route set itself is left as it is.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

AGENT_PAGES = ("/console", "/lead", "/marketing", "/settings")
AGENT_PAGE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "media-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def headers_for(path: str) -> dict[str, str]:
    made = {"X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "strict-origin-when-cross-origin"}  # fmt: skip
    if path == "/" or path.startswith(AGENT_PAGES):
        made |= {"Content-Security-Policy": AGENT_PAGE_CSP, "X-Frame-Options": "DENY",
                 "Referrer-Policy": "no-referrer"}  # fmt: skip
    return made


class PageHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = headers_for(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
