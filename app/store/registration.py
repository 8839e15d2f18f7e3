"""What `chatwootai register` remembers between runs: the id of the account webhook it created
(so a restart updates that webhook instead of creating another one)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from app.store.db import connect, db_path, migrate

REGISTRATION_MIGRATIONS = (
    """
    CREATE TABLE registration (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
    """,
)


class RegistrationState:
    def __init__(self, data_dir: Path):
        self._conn: sqlite3.Connection = connect(db_path(data_dir))
        migrate(self._conn, "registration", REGISTRATION_MIGRATIONS)

    def get(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM registration WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def set(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO registration (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, value, time.time()),
        )

    def delete(self, key: str) -> None:
        self._conn.execute("DELETE FROM registration WHERE key = ?", (key,))

    def close(self) -> None:
        self._conn.close()
