"""A throw-away PostgreSQL server for the tests (and bench/): Debian's binaries,
a fresh cluster in a temporary directory, a free port on 127.0.0.1.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres`
user (created by Debian's package) through `runuser`. Clients connect over TCP with
a password (scram-sha-256), as a worker would with a URI from a Secret.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from devcluster.process import free_port

INSTALL_HINT = (
    "install Debian's `postgresql` and `postgresql-postgis` packages (.ci/run does: "
    "apt-get install postgresql postgresql-postgis)"
)


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL is not installed, or did not start."""


def find_bindir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin with initdb, or pg_config's."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PostgresUnavailableError(f"no PostgreSQL server binaries found: {INSTALL_HINT}")


class PostgresServer:
    """One running server; `stop()` removes it and its data."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.run_as = "postgres" if os.geteuid() == 0 else None
        if self.run_as is not None:
            try:
                pwd.getpwnam(self.run_as)
            except KeyError:
                raise PostgresUnavailableError(
                    f"running as root but there is no `postgres` user: {INSTALL_HINT}"
                ) from None
        # Not under pytest's tmp dir: its parents are private to root.
        self.workdir = Path(tempfile.mkdtemp(prefix="jobwarden-pg-"))
        self.data = self.workdir / "data"
        self.log = self.workdir / "postgres.log"
        self.port = free_port()
        self.user = "postgres"
        self.password = secrets.token_hex(12)
        self.started = False

    def _run(self, *argv: str, timeout: float = 120) -> None:
        command = [*(["runuser", "-u", self.run_as, "--"] if self.run_as else []), *argv]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise PostgresUnavailableError(
                f"{' '.join(argv[:2])} failed ({result.returncode}):\n{result.stderr}"
                f"{result.stdout}\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server log, for error messages."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def start(self) -> PostgresServer:
        """initdb, then start and wait until it accepts connections."""
        password_file = self.workdir / "pwfile"
        password_file.write_text(self.password + "\n")
        if self.run_as is not None:
            entry = pwd.getpwnam(self.run_as)
            for path in (self.workdir, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            f"--pwfile={password_file}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        password_file.unlink()
        options = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self.started = True
        return self

    def stop(self) -> None:
        """Stop the server (immediately) and remove its files."""
        if self.started:
            with contextlib.suppress(PostgresUnavailableError, subprocess.TimeoutExpired):
                self._run(
                    str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"
                )
            self.started = False
        shutil.rmtree(self.workdir, ignore_errors=True)

    def uri(self, database: str = "postgres") -> str:
        """A libpq URI with the superuser's password, as a Secret would hold it."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit connection as the superuser."""
        return psycopg.connect(self.uri(database), autocommit=True)

    def create_database(self, name: str | None = None) -> str:
        """A fresh database; returns its name."""
        name = name or f"t_{uuid.uuid4().hex[:10]}"
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def has_postgis(self) -> bool:
        """Whether the PostGIS extension is installed on this machine."""
        share = subprocess.run(
            [str(self.bindir / "pg_config"), "--sharedir"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return bool(share) and Path(share, "extension", "postgis.control").exists()

    def backends(self, database: str) -> list[tuple[int, str, str]]:
        """(pid, application_name, state) of the sessions connected to `database`,
        except the one asking."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT pid, application_name, coalesce(state, '') FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [database],
            ).fetchall()
        return [(int(str(r[0])), str(r[1]), str(r[2])) for r in rows]


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A server for the duration of the block."""
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()
