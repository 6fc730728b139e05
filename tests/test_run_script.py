"""`./run test` itself: the SQLite and the PostgreSQL runs get their own databases.

The script runs for real with a stand-in virtual environment whose python, ruff, mypy and
check-jsonschema record how they were called instead of testing.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def stand_in(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_sqlite_run_never_gets_the_postgresql_url(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    record = tmp_path / "runs"
    record.mkdir()
    stand_in(venv / "bin" / "python",
             f'echo "${{CROCEVIA_TEST_DATABASE_URL:-sqlite}}" > "{record}/$$"\n')  # fmt: skip
    for tool in ("ruff", "check-jsonschema", "mypy"):
        stand_in(venv / "bin" / tool, "exit 0\n")
    (venv / ".installed-[test]").touch()
    os.utime(venv / ".installed-[test]", (2**31, 2**31))  # newer than pyproject.toml
    url = "postgresql://postgres@127.0.0.1:1/never_used"
    env = {**os.environ, "CROCEVIA_VENV": str(venv), "CROCEVIA_TEST_DATABASE_URL": url,
           "PATH": f"{tmp_path}:{os.environ['PATH']}"}  # fmt: skip
    # apt is not what this test is about: pretend the browser and mail tools are there.
    for tool in ("chromium", "dovecot", "openssl"):
        if shutil.which(tool) is None:
            stand_in(tmp_path / tool, "exit 0\n")
    done = subprocess.run(["bash", str(ROOT / "run"), "test"], cwd=ROOT, env=env,
                          capture_output=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    seen = sorted(f.read_text().strip() for f in record.iterdir())
    assert seen == [url, "sqlite"]
