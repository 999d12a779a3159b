"""The batch journal: one SQLite row per study, so a re-run skips finished work and a killed batch resumes.

States and transitions (each one a single committed transaction):

    pending --claim--> running --written--> written --stored--> done
                          |                    \\-- (no --store) --> done
                          \\--fail--> failed  (re-run: claimed again)

A batch killed at any moment leaves studies ``running`` or ``written``; the next
run claims ``running`` studies again (outputs are written by temp file + rename
and the SR's UIDs are deterministic, so redoing is harmless) and for ``written``
ones only stores the SR already on disk, so a stored SR is never a different draft
than the one on disk. ``completions`` counts transitions to ``done``: a study done
exactly once has 1. WAL mode with synchronous=FULL makes every commit durable.
The journal holds UIDs, paths, reasons and timings: no patient names or IDs.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from radfound.errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    key TEXT PRIMARY KEY,          -- Study Instance UID (or the folder for non-DICOM input)
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'written', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    completions INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    sr_uid TEXT,
    outputs TEXT,                  -- JSON {"sr": path, "txt": path, "json": path}
    timings TEXT,                  -- JSON {"retrieve_s": ..., "decode_s": ..., ...}
    updated REAL NOT NULL
);
"""

FINISHED = "done"


@dataclass
class JournalRow:
    key: str
    state: str
    attempts: int
    completions: int
    reason: str | None
    sr_uid: str | None
    outputs: dict
    timings: dict


def _lock_file(fh) -> bool:
    """Non-blocking exclusive lock of an open file; released by the OS when the process dies."""
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


class Journal:
    """Thread-safe access to the batch journal file (one connection, one lock).

    One process at a time: a second batch on the same output folder would re-claim the
    first one's ``running`` studies, so it is refused (``<journal>.lock``, held until exit).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._owner = open(self.path.with_name(self.path.name + ".lock"), "a+")
        if not _lock_file(self._owner):
            self._owner.close()
            raise ConfigError("another radfound batch is already using this output folder", self.path.parent)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._owner.close()  # releases the process lock

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write(self, sql: str, params: tuple) -> int:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                n = self._db.execute(sql, params).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return n

    def add(self, keys: list[str]) -> None:
        """Record studies as pending (studies already known keep their state)."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR IGNORE INTO studies (key, state, updated) VALUES (?, 'pending', ?)",
                [(k, now) for k in keys],
            )
            self._db.execute("COMMIT")

    def claim(self, key: str) -> str | None:
        """Take a study for work; returns its previous state ('written' when only storing is left), None if done."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT state, sr_uid FROM studies WHERE key = ?", (key,)).fetchone()
            if row is None or row[0] == FINISHED:
                self._db.execute("COMMIT")
                return None
            # outputs already on disk (written, or failed while storing): only the store step is left
            previous = "written" if row[0] == "written" or (row[0] == "failed" and row[1]) else row[0]
            new_state = "written" if previous == "written" else "running"
            self._db.execute(
                "UPDATE studies SET state = ?, attempts = attempts + 1, reason = NULL, updated = ? WHERE key = ?",
                (new_state, time.time(), key),
            )
            self._db.execute("COMMIT")
            return previous

    def written(self, key: str, sr_uid: str | None, outputs: dict, timings: dict) -> None:
        self._write(
            "UPDATE studies SET state = 'written', sr_uid = ?, outputs = ?, timings = ?, updated = ? "
            "WHERE key = ? AND state IN ('running', 'written')",
            (sr_uid, json.dumps(outputs), json.dumps(timings), time.time(), key),
        )

    def done(self, key: str, timings: dict | None = None) -> None:
        sql = "UPDATE studies SET state = 'done', completions = completions + 1, updated = ?"
        params: tuple = (time.time(),)
        if timings is not None:
            sql += ", timings = ?"
            params += (json.dumps(timings),)
        self._write(sql + " WHERE key = ? AND state IN ('running', 'written')", params + (key,))

    def fail(self, key: str, reason: str) -> None:
        self._write("UPDATE studies SET state = 'failed', reason = ?, updated = ? WHERE key = ? AND state != 'done'",
                    (reason, time.time(), key))

    def get(self, key: str) -> JournalRow | None:
        rows = self.rows([key])
        return rows[0] if rows else None

    def rows(self, keys: list[str] | None = None) -> list[JournalRow]:
        with self._lock:
            if keys is None:
                cur = self._db.execute("SELECT * FROM studies ORDER BY key")
                found = cur.fetchall()
            else:
                found = []
                for k in keys:
                    found += self._db.execute("SELECT * FROM studies WHERE key = ?", (k,)).fetchall()
        return [
            JournalRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6] or "{}"), json.loads(r[7] or "{}"))
            for r in found
        ]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT state, COUNT(*) FROM studies GROUP BY state").fetchall())
