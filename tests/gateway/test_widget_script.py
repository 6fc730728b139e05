"""/widget.js: the widget with the shared live-socket client inlined (a classic script on a
shop's page cannot import modules), rebuilt when a source changes, revalidated by ETag."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from conftest import Services

from gateway.widget_script import WidgetScript

WEB = Path(__file__).resolve().parents[2] / "web"


def test_the_shared_client_is_inlined_at_the_marker_without_its_export(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "widget").mkdir()
    (tmp_path / "shared" / "lib.js").write_text(
        "/* lib */\nexport function lib() {\n  return 1;\n}\n"
    )
    source = tmp_path / "widget" / "w.js"
    source.write_text("(function () {\n  /* @inline ../shared/lib.js */\n  lib();\n})();\n")
    script = WidgetScript(source)
    built = script.get()
    assert built.text.decode() == (
        "(function () {\n  /* lib */\n  function lib() {\n    return 1;\n  }\n  lib();\n})();\n"
    )
    assert script.get() is built  # nothing changed: the same build

    (tmp_path / "shared" / "lib.js").write_text("export function lib() {\n  return 2;\n}\n")
    stat = (tmp_path / "shared" / "lib.js").stat()
    os.utime(tmp_path / "shared" / "lib.js", (stat.st_atime, stat.st_mtime + 5))
    rebuilt = script.get()
    assert b"return 2;" in rebuilt.text and rebuilt.etag != built.etag


def test_the_served_widget_is_one_valid_classic_script(services: Services) -> None:
    r = httpx.get(f"{services.base_url}/widget.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    text = r.text
    assert "function liveSocket(" in text
    assert "@inline" not in text and "export " not in text
    assert text.startswith("/* Crocevia chat widget")
    node = shutil.which("node")
    if node:  # a syntax check as a classic script (not a module) where Node is installed
        check = subprocess.run([node, "--check", "-"], input=text, capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    again = httpx.get(
        f"{services.base_url}/widget.js", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304 and not again.content


@pytest.mark.parametrize("page", ["console/console.js", "lead/lead.js"])
def test_the_agent_pages_import_the_same_client(page: str) -> None:
    assert 'import { liveSocket } from "../web/shared/live_socket.js";' in (WEB / page).read_text()
    assert "new WebSocket(" not in (WEB / page).read_text()
