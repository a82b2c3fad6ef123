"""Where the export worker reads from: PostgreSQL (server-side cursor) or SQLite.

Both read the query in batches, each batch one unit of work. A batch being fetched
when the cancel comes is abandoned (the query is cancelled: nothing of it was written
yet); a batch being written is finished. Closing releases the connection.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql

from jobwarden.worker.context import CancellationToken

Row = Sequence[Any]


class SourceError(Exception):
    """The source could not be read: its message is the database's."""


class Source(Protocol):
    """A query result read in batches."""

    columns: list[str]

    def count(self, timeout: float) -> int | None:
        """Rows the query returns, or None if counting took longer than `timeout`."""
        ...

    def open(self) -> None:
        """Start the query (sets `columns`)."""
        ...

    def batches(self, size: int) -> Iterator[list[Row]]:
        """The rows, `size` at a time."""
        ...

    def close(self) -> None:
        """Release the connection (idempotent)."""
        ...


def clean_query(query: str) -> str:
    """The query without trailing semicolons and whitespace (it is wrapped)."""
    return query.strip().rstrip(";").rstrip()


def _pg_message(error: psycopg.Error) -> str:
    diag = error.diag
    primary = diag.message_primary or str(error).strip().splitlines()[0]
    detail = f" ({diag.message_detail})" if diag.message_detail else ""
    state = f" [SQLSTATE {diag.sqlstate}]" if diag.sqlstate else ""
    return f"{primary}{detail}{state}"


class PostgresSource:
    """A read-only, repeatable-read transaction with a server-side cursor."""

    CURSOR_NAME = "jobwarden_export"

    def __init__(
        self, uri: str, query: str, token: CancellationToken, *, application_name: str
    ) -> None:
        self.query = clean_query(query)
        self.token = token
        self.columns: list[str] = []
        self._cursor: psycopg.ServerCursor[Any] | None = None
        params = psycopg.conninfo.conninfo_to_dict(uri)
        extra: dict[str, Any] = {"application_name": application_name[:63]}
        if "connect_timeout" not in params:
            extra["connect_timeout"] = 15
        token.raise_if_cancelled()
        try:
            self.conn = psycopg.connect(uri, autocommit=False, **extra)
        except psycopg.Error as error:
            raise SourceError(f"cannot connect to PostgreSQL: {_pg_message(error)}") from None
        self.conn.read_only = True
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ

    def _interrupt(self) -> None:
        self.conn.cancel_safe(timeout=5)

    def count(self, timeout: float) -> int | None:
        counting = sql.SQL("SELECT count(*) FROM ({}) AS jobwarden_export").format(
            sql.SQL(self.query)  # the user's query, verbatim
        )
        with self.conn.cursor() as cursor, self.token.interrupting(self._interrupt):
            cursor.execute("SAVEPOINT jobwarden_count")
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [str(int(timeout * 1000))]
            )
            try:
                cursor.execute(counting)
                row = cursor.fetchone()
                total = int(row[0]) if row else None
            except psycopg.Error:
                if self.token.cancelled:
                    raise
                total = None  # too slow, or not countable: the real query says why
            # Undoes the statement_timeout; the snapshot stays for the export itself.
            cursor.execute("ROLLBACK TO SAVEPOINT jobwarden_count")
            cursor.execute("RELEASE SAVEPOINT jobwarden_count")
        return total

    def open(self) -> None:
        self._cursor = self.conn.cursor(name=self.CURSOR_NAME)
        try:
            with self.token.interrupting(self._interrupt):
                self._cursor.execute(self.query)
        except psycopg.Error as error:
            raise SourceError(f"query failed: {_pg_message(error)}") from None
        self.columns = [column.name for column in self._cursor.description or []]

    def batches(self, size: int) -> Iterator[list[Row]]:
        assert self._cursor is not None, "open() first"
        while True:
            try:
                with self.token.interrupting(self._interrupt):
                    rows = self._cursor.fetchmany(size)
            except psycopg.Error as error:
                raise SourceError(f"query failed: {_pg_message(error)}") from None
            if not rows:
                return
            yield rows

    def close(self) -> None:
        # Ends the transaction (and the cursor) and the session: nothing stays
        # behind in pg_stat_activity.
        self.conn.close()


class SqliteSource:
    """A SQLite database file, opened read-only."""

    def __init__(self, path: Path, query: str, token: CancellationToken) -> None:
        self.query = clean_query(query)
        self.token = token
        self.columns: list[str] = []
        self._cursor: sqlite3.Cursor | None = None
        if not path.is_file():
            raise SourceError(f"SQLite database {path} does not exist")
        uri = "file:" + urllib.parse.quote(str(path)) + "?mode=ro"
        try:
            self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        except sqlite3.Error as error:
            raise SourceError(f"cannot open SQLite database {path}: {error}") from None

    def count(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        self.conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
        try:
            with self.token.interrupting(self.conn.interrupt):
                row = self.conn.execute(
                    f"SELECT count(*) FROM ({self.query}) AS jobwarden_export"
                ).fetchone()
            return int(row[0]) if row else None
        except sqlite3.Error:
            return None  # too slow, or not countable: the real query says why
        finally:
            self.conn.set_progress_handler(None, 0)

    def open(self) -> None:
        try:
            with self.token.interrupting(self.conn.interrupt):
                self._cursor = self.conn.execute(self.query)
        except sqlite3.Error as error:
            raise SourceError(f"query failed: {error}") from None
        self.columns = [column[0] for column in self._cursor.description or []]

    def batches(self, size: int) -> Iterator[list[Row]]:
        assert self._cursor is not None, "open() first"
        while True:
            try:
                with self.token.interrupting(self.conn.interrupt):
                    rows = self._cursor.fetchmany(size)
            except sqlite3.Error as error:
                raise SourceError(f"query failed: {error}") from None
            if not rows:
                return
            yield rows

    def close(self) -> None:
        self.conn.close()
