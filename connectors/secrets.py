"""Secrets named by an inbox's settings: never the secret itself, only where it lives.

`{name}_env` names an environment variable and `{name}_file` a file; the variable
wins when both are set. Used by the social connectors (X, Meta).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The inbox's settings name a secret that cannot be read."""


def read_secret(settings: Mapping[str, Any], name: str) -> str | None:
    """The secret named by settings `{name}_env` or `{name}_file`; None when neither is set."""
    env = settings.get(f"{name}_env")
    if env and os.environ.get(str(env)):
        return os.environ[str(env)].strip() or None
    path = settings.get(f"{name}_file")
    if path:
        try:
            return Path(str(path)).read_text().strip() or None
        except OSError as exc:
            raise ConfigError(f"cannot read {name}_file {path}: {exc.strerror}") from None
    return None
