"""The one IMAP mailbox the `dovecot` fixture (tests/conftest.py) serves."""

from __future__ import annotations

import secrets

MAILBOX = "support@shop.test"
IMAP_PASSWORD = "imap-" + secrets.token_hex(4)
