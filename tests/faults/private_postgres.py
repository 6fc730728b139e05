"""A PostgreSQL cluster of a test's own: initdb in a temporary folder, on a free port.

The fault tests restart it at will; the machine's own server, and every other test run
using it, never notice.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from gateway.embedded_redis import free_port


def postgres_bin() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, else Debian's newest /usr/lib/postgresql/N."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(versions[-1]).parent if versions else None


class PrivatePostgres:
    """initdb, start, restart and stop a throwaway cluster (trust auth, 127.0.0.1 only)."""

    def __init__(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError("no initdb: install PostgreSQL's server package")
        self.bindir = bindir
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="crocevia-pg-"))
        # The server refuses to run as root: it runs as the `postgres` system user then.
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stdout.decode()}{done.stderr.decode()}")

    def _ctl(self, action: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", action, "-w", "-t", "60", "-D", str(self.folder / "data"),
                  "-l", str(self.folder / "server.log"), "-o", options)  # fmt: skip

    def start(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres",
                  "--no-sync")  # fmt: skip
        self._ctl("start")
        return self

    def restart(self) -> None:
        self._ctl("restart")

    def halt(self) -> None:
        """Stop the server, keeping its data (`resume` starts it again)."""
        self._ctl("stop")

    def resume(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.folder / "data"))
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
