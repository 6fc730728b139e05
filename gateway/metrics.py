"""Prometheus metrics of one process (gateway or worker), served at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_IN = Counter("crocevia_messages_in_total", "Inbound messages stored", ["channel"])
MESSAGES_OUT = Counter(
    "crocevia_messages_out_total", "Replies handed to a platform", ["channel", "result"]
)
INBOUND_TO_AGENT = Histogram(
    "crocevia_inbound_to_agent_seconds",
    "From an inbound message reaching the gateway to its event written to an agent socket",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SOCKETS = Gauge("crocevia_sockets", "Connected WebSockets", ["kind"])
HUB_EVENTS_READ = Counter(
    "crocevia_hub_events_read_total",
    "Events this gateway read for its sockets: the whole stream (agents) or its contacts' channels",
    ["source"],
)
OUTBOX_BACKLOG = Gauge("crocevia_outbox_backlog", "Outbox rows not yet published")
OUTBOUND_RETRIES = Counter("crocevia_outbound_retries_total", "Reply sends retried", ["channel"])
INGEST_BATCH = Histogram(
    "crocevia_ingest_batch_size",
    "Inbound messages committed per transaction",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200),
)
INGEST_COMMIT = Histogram(
    "crocevia_ingest_commit_seconds",
    "Wall time of one group commit of inbound messages: tags, transaction, commit",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1),
)
