"""Durable state for the local cluster: SQLite in WAL mode under ``--state DIR``.

Every persisted write is committed before the API answers, so a process killed at any moment
loses no acknowledged write. WAL with ``synchronous=NORMAL`` survives a crash of the process (the
case that matters here); only a power loss could drop the last transactions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from tether.localcluster.store import Key

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    grp TEXT NOT NULL,
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (grp, resource, namespace, name)
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


class SqliteBackend:
    """Objects keyed by (group, resource, namespace, name) plus the global revision counter."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def revision(self) -> int:
        row = self.db.execute("SELECT v FROM meta WHERE k = 'rv'").fetchone()
        return int(row[0]) if row else 0

    def load(self) -> Iterator[tuple[Key, dict[str, Any]]]:
        for grp, resource, data in self.db.execute("SELECT grp, resource, data FROM objects"):
            yield (grp, resource), orjson.loads(data)

    def put(self, key: Key, obj: dict[str, Any], rv: int) -> None:
        meta = obj["metadata"]
        self.db.execute("BEGIN")
        try:
            self.db.execute(
                "INSERT OR REPLACE INTO objects (grp, resource, namespace, name, data) VALUES (?, ?, ?, ?, ?)",
                (key[0], key[1], meta.get("namespace") or "", meta["name"], orjson.dumps(obj)),
            )
            self._set_rv(rv)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def delete(self, key: Key, namespace: str, name: str, rv: int) -> None:
        self.db.execute("BEGIN")
        try:
            self.db.execute(
                "DELETE FROM objects WHERE grp = ? AND resource = ? AND namespace = ? AND name = ?",
                (key[0], key[1], namespace, name),
            )
            self._set_rv(rv)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _set_rv(self, rv: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('rv', ?)", (str(rv),))

    def close(self) -> None:
        self.db.close()
