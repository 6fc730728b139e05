"""The ASGI gateway: HTTP API, webhooks, WebSockets, auth; and the processes around it."""
