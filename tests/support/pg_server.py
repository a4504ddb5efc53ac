"""A throwaway local PostgreSQL server for the ``postgres`` tests: initdb and pg_ctl in a
temporary directory, listening on 127.0.0.1 only, on a free port, trust authentication.

As root, the server runs as the ``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USER = "skillstream"


class ServerUnavailable(RuntimeError):
    pass


def find_bindir() -> Path:
    """The directory of initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    raise ServerUnavailable(
        "the postgres tests need PostgreSQL's server binaries (initdb, pg_ctl), found neither "
        "on PATH nor in /usr/lib/postgresql/*/bin: apt-get install postgresql (.ci/run does)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    bindir: Path
    directory: Path
    port: int
    user: str | None  # the OS user the server runs as (None: this one)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        kwargs = {"user": self.user} if self.user else {}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(self.directory)}
        result: subprocess.CompletedProcess[str] = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, env=env, cwd=self.directory, **kwargs  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            log = self.directory / "server.log"
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise ServerUnavailable(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{tail}"
            )
        return result

    def start(self) -> None:
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust",
            "-E", "UTF8", "--no-sync", "--no-instructions",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.directory} "
            "-c fsync=off -c max_connections=100"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def start_server() -> Server:
    """Start a server; raise :class:`ServerUnavailable` saying why it could not."""
    bindir = find_bindir()
    user = None
    directory = Path(tempfile.mkdtemp(prefix="skillstream-pg-"))
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(directory, ignore_errors=True)
            raise ServerUnavailable(
                "running as root, the postgres tests start the server as the 'postgres' user, "
                "which does not exist (apt-get install postgresql creates it)"
            ) from None
        os.chown(directory, entry.pw_uid, entry.pw_gid)
        user = "postgres"
    os.chmod(directory, 0o700)
    last: Exception | None = None
    for _ in range(3):  # the free port may be taken between the probe and the start
        server = Server(bindir, directory, _free_port(), user)
        try:
            server.start()
            return server
        except ServerUnavailable as exc:
            last = exc
            shutil.rmtree(directory / "data", ignore_errors=True)
            time.sleep(0.2)
    shutil.rmtree(directory, ignore_errors=True)
    assert last is not None
    raise last


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A server of its own with a fresh database, its URL yielded; a test fails at once,
    saying why, when no server can start. The server stops afterwards."""
    import psycopg
    import pytest

    try:
        server = start_server()
    except ServerUnavailable as exc:
        pytest.fail(f"cannot start a local PostgreSQL for the postgres tests: {exc}", pytrace=False)
    name = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        yield server.url(name)
    finally:
        server.stop()
