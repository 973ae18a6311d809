"""A throwaway PostgreSQL server for the test suite: its own data folder, a free port on
127.0.0.1, password authentication (scram-sha-256) for one superuser with a random password,
and a database ``analytics``. Stopped and removed when done.

    with PgServer.start() as server:
        server.psql("SELECT 1")          # "1"
        server.url                       # postgresql://tester@127.0.0.1:PORT/analytics (no password)

The server binaries (initdb, pg_ctl, postgres) are looked for on PATH, then in Debian's
/usr/lib/postgresql/<version>/bin (the newest first); :func:`find_bin` returns None when there
are none (Debian's ``postgresql`` package provides them). PostgreSQL refuses to run as root, so
as root the server runs as the ``postgres`` user (``runuser -u postgres --``), which owns the
data folder. The password reaches psql only through its environment, never a command line.
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SEARCH = "/usr/lib/postgresql/*/bin"
USER = "tester"
DATABASE = "analytics"
SERVER_USER = "postgres"  # who runs the server when the tests run as root


def _version(folder: str) -> tuple[int, ...]:
    found = re.search(r"/postgresql/([0-9.]+)/bin", folder)
    return tuple(int(p) for p in found.group(1).split(".") if p) if found else (0,)


def find_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: PATH's first, else the newest Debian install; None when neither."""
    on_path = shutil.which("initdb")
    if on_path:
        folder = Path(on_path).resolve().parent
        if (folder / "pg_ctl").is_file():
            return folder
        if shutil.which("pg_ctl"):
            return Path(on_path).parent
    for folder in sorted(glob.glob(SEARCH), key=_version, reverse=True):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def free_port() -> int:
    """A port nothing listens on at this moment (bound to port 0 and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgServer:
    """A running throwaway server. Use :meth:`start`; :meth:`stop` (or leaving ``with``) ends it.

    Attributes:
        url: ``postgresql://tester@127.0.0.1:PORT/analytics``, without the password.
        password: the superuser's random password.
        port: the TCP port on 127.0.0.1.
    """

    def __init__(self, bin_dir: Path, folder: Path, port: int, password: str):
        self.bin_dir = bin_dir
        self.folder = folder
        self.port = port
        self.password = password
        self.user = USER
        self.database = DATABASE
        self.url = f"postgresql://{USER}@127.0.0.1:{port}/{DATABASE}"
        self._running = False

    # -- life ----------------------------------------------------------------------------

    @classmethod
    def start(cls, bin_dir: Path | None = None) -> PgServer:
        """Make a data folder, initialise it and start the server; raises RuntimeError on failure."""
        bin_dir = bin_dir or find_bin()
        if bin_dir is None:
            raise RuntimeError("no PostgreSQL server binary (initdb) found")
        folder = Path(tempfile.mkdtemp(prefix="pgserver-", dir="/tmp"))
        server = cls(bin_dir, folder, free_port(), "pw" + secrets.token_hex(12))
        try:
            server._init()
            for _ in range(3):
                if server._start():
                    break
                server.port = free_port()  # taken between choosing and binding: another one
                server.url = f"postgresql://{USER}@127.0.0.1:{server.port}/{DATABASE}"
            else:
                raise RuntimeError(f"PostgreSQL did not start:\n{server._log()}")
            server.psql('CREATE DATABASE :"database"', database="postgres", variables={"database": DATABASE})
        except BaseException:
            server.stop()
            raise
        atexit.register(server.stop)  # should the session end without its fixture's teardown
        return server

    def _as_server_user(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, SERVER_USER, SERVER_USER)

    def _init(self) -> None:
        self.folder.chmod(0o755)  # the server user must reach its data folder inside
        self._own(self.folder)
        pwfile = self.folder / "pwfile"
        pwfile.touch(mode=0o600)
        self._own(pwfile)
        pwfile.write_text(self.password + "\n")
        (self.folder / "sock").mkdir(mode=0o700)
        self._own(self.folder / "sock")
        try:
            done = subprocess.run(
                self._as_server_user([str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "scram-sha-256",
                                      f"--pwfile={pwfile}", "-U", USER, "-E", "UTF8", "--locale=C", "--no-sync"]),
                capture_output=True, text=True, timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def _start(self) -> bool:
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder / 'sock'} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=40")
        done = subprocess.run(
            self._as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"),
                                  "-o", options, "-w", "-t", "60", "start"]),
            capture_output=True, text=True, timeout=120,
        )
        self._running = done.returncode == 0
        return self._running

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder; safe to call twice."""
        if self._running:
            subprocess.run(
                self._as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                capture_output=True, text=True, timeout=120,
            )
            self._running = False
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _log(self) -> str:
        try:
            return (self.folder / "server.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # -- use -----------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """This process's environment with the password for libpq (psql, or a playbook run)."""
        return {**os.environ, "PGPASSWORD": self.password}

    def psql_path(self) -> str:
        return "/usr/bin/psql" if Path("/usr/bin/psql").is_file() else str(self.bin_dir / "psql")

    def psql(self, sql: str, database: str | None = None, variables: dict[str, str] | None = None) -> str:
        """Run ``sql`` (read from stdin) in psql, stopping at the first error; returns its output,
        unaligned and tuples only. ``variables`` are psql variables the SQL quotes itself
        (``:'name'`` for a value, ``:"name"`` for a name). Raises RuntimeError with psql's message on failure."""
        given = [arg for name, value in (variables or {}).items() for arg in ("-v", f"{name}={value}")]
        done = subprocess.run(
            [self.psql_path(), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", *given, "-h", "127.0.0.1", "-p", str(self.port),
             "-U", USER, "-d", database or DATABASE, "-f", "-"],
            input=sql, capture_output=True, text=True, env=self.env(), timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout.strip()
