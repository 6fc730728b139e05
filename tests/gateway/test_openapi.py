"""The OpenAPI document and the routes agree, both ways."""

from __future__ import annotations

import httpx
from conftest import Services
from starlette.routing import Route

from gateway.app import api_routes
from gateway.openapi import document


def test_every_api_route_is_documented_and_every_documented_path_is_routed() -> None:
    doc = document()["paths"]
    routed: set[tuple[str, str]] = set()
    for route in api_routes():
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                routed.add((route.path, method.lower()))
    documented = {(path, method) for path, ops in doc.items() for method in ops}
    assert routed == documented


def test_served_document_and_operations_endpoints(services: Services) -> None:
    with httpx.Client(base_url=services.base_url) as http:
        assert http.get("/api/openapi.json").json()["openapi"].startswith("3.1")
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz").json()
        assert ready == {"ready": True, "checks": {"database": "ok", "redis": "ok"}}
        metrics = http.get("/metrics").text
        for name in (
            "crocevia_messages_in_total",
            "crocevia_inbound_to_agent_seconds",
            "crocevia_sockets",
            "crocevia_outbox_backlog",
            "crocevia_outbound_retries_total",
        ):
            assert name in metrics  # fmt: skip
