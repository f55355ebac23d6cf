"""The alerts' persisted state: which events were admitted (de-duplication and cooldown) and the outbox
of deliveries still owed, in one SQLite file, so a restart of ``perpscope alerts run`` neither loses nor
repeats an alert.

An alert is admitted and its deliveries (one row per target, with the exact body to send) are queued in
one transaction; a delivery is marked sent in its own transaction the moment its target accepts it. A
crash can therefore only repeat the one delivery in flight when it happened (the target accepted it and
the process died before the commit): at-least-once, with the alert's key in the ``Idempotency-Key``
header and the ``json`` body so a receiver can tell. SQLite's journal makes every write atomic: a crash
mid-write leaves the previous state.

Times: ``ts_ms`` the alert's bar (ms UTC, event time, what cooldown compares); ``due_s``/``*_at_s``
wall-clock Unix seconds (when to attempt next; they must survive a restart).
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from perpscope.alerts.rules import Alert
from perpscope.core.errors import PerpscopeError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    key TEXT PRIMARY KEY,          -- Alert.key: rule|venue|symbol|bar
    ts_ms INTEGER NOT NULL,
    admitted INTEGER NOT NULL      -- 1: sent on; 0: seen but held back by the cooldown
);
CREATE TABLE IF NOT EXISTS cooldown (
    slot TEXT PRIMARY KEY,         -- rule|venue|symbol
    last_ms INTEGER NOT NULL       -- the bar of the last admitted alert
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_key TEXT NOT NULL,
    target TEXT NOT NULL,          -- Webhook identity (a hash: the URL holds a secret, never stored)
    body TEXT NOT NULL,            -- the JSON sent, fixed when queued
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    due_s REAL NOT NULL,
    last_error TEXT,
    queued_at_s REAL NOT NULL,
    done_at_s REAL,
    UNIQUE (alert_key, target)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, target, due_s, id);
"""


@dataclass(frozen=True)
class Delivery:
    """One owed delivery: ``body`` (JSON text) of alert ``alert_key`` to ``target``, attempted
    ``attempts`` times so far."""

    id: int
    alert_key: str
    target: str
    body: str
    attempts: int

    def json(self) -> Any:
        return json.loads(self.body)


class OutboxBusy(PerpscopeError):
    """Another process holds the state file (two ``alerts run`` sharing one would both send what is
    owed)."""


class Outbox:
    """De-duplication/cooldown state and owed deliveries in the SQLite file ``path`` (``":memory:"``
    for one process's life, e.g. ``alerts test``). One process at a time: a second one raises
    :class:`OutboxBusy` (the lock is the OS's, so a killed process leaves none behind)."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._lock: IO[bytes] | None = None
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._lock = open(f"{self.path}.lock", "wb")  # noqa: SIM115 (held until close())
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock.close()
                raise OutboxBusy(
                    f"{self.path}: another process (an `alerts run`?) is using this state file"
                ) from None
        # autocommit mode: every transaction is explicit (BEGIN IMMEDIATE … COMMIT) below
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a committed 'sent' survives a power cut
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            self._lock.close()  # releases the lock

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def admit(self, alerts: Iterable[tuple[Alert, int]], bodies: dict[str, Any], now_s: float) -> list[Alert]:
        """Admit each ``(alert, cooldown_ms)`` that is new and outside its rule's cooldown, and queue
        its delivery to every target of ``bodies`` (target → ``fn(alert) -> JSON body``), all in one
        transaction. Returns the admitted alerts (what the console shows)."""
        out: list[Alert] = []
        with self._tx() as db:
            for a, cooldown_ms in alerts:
                if db.execute("SELECT 1 FROM events WHERE key = ?", (a.key,)).fetchone():
                    continue
                slot = f"{a.rule}|{a.venue}|{a.symbol}"
                row = db.execute("SELECT last_ms FROM cooldown WHERE slot = ?", (slot,)).fetchone()
                ok = row is None or a.ts_ms - int(row[0]) >= cooldown_ms
                db.execute("INSERT INTO events VALUES (?, ?, ?)", (a.key, a.ts_ms, int(ok)))
                if not ok:
                    continue
                db.execute(
                    "INSERT INTO cooldown VALUES (?, ?) ON CONFLICT (slot) DO UPDATE SET last_ms = ?",
                    (slot, a.ts_ms, a.ts_ms),
                )
                for target, body_of in bodies.items():
                    db.execute(
                        "INSERT OR IGNORE INTO deliveries (alert_key, target, body, due_s, queued_at_s) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (a.key, target, json.dumps(body_of(a), default=str), now_s, now_s),
                    )
                out.append(a)
        return out

    def due(self, target: str, now_s: float) -> list[Delivery]:
        """The pending deliveries to ``target``, oldest first, up to the first not due by ``now_s``
        (a delivery waiting for its retry holds back the later ones: a target gets its alerts in
        order)."""
        rows = self._db.execute(
            "SELECT id, alert_key, target, body, attempts, due_s FROM deliveries "
            "WHERE state = 'pending' AND target = ? ORDER BY id",
            (target,),
        ).fetchall()
        out = []
        for *fields, due_s in rows:
            if due_s > now_s:
                break
            out.append(Delivery(*fields))
        return out

    def sent(self, d: Delivery, now_s: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET state = 'sent', attempts = ?, done_at_s = ?, last_error = NULL "
                "WHERE id = ?",
                (d.attempts + 1, now_s, d.id),
            )

    def retry(self, d: Delivery, error: str, due_s: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET attempts = ?, due_s = ?, last_error = ? WHERE id = ?",
                (d.attempts + 1, due_s, error, d.id),
            )

    def failed(self, d: Delivery, error: str, now_s: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET state = 'failed', attempts = ?, done_at_s = ?, last_error = ? "
                "WHERE id = ?",
                (d.attempts + 1, now_s, error, d.id),
            )

    def pending(self) -> dict[str, int]:
        """Per target, how many deliveries are still owed."""
        rows = self._db.execute(
            "SELECT target, COUNT(*) FROM deliveries WHERE state = 'pending' GROUP BY target"
        ).fetchall()
        return {str(t): int(n) for t, n in rows}

    def next_due(self, targets: Iterable[str]) -> float | None:
        """When the next delivery to one of ``targets`` is due (Unix s; per target its oldest pending
        one, see :meth:`due`), None if nothing is owed."""
        ts = list(targets)
        if not ts:
            return None
        q = ",".join("?" * len(ts))
        row = self._db.execute(
            "SELECT MIN(due_s) FROM deliveries WHERE id IN (SELECT MIN(id) FROM deliveries "
            f"WHERE state = 'pending' AND target IN ({q}) GROUP BY target)",
            ts,
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def counts(self) -> dict[str, int]:
        """Deliveries per state (``pending``, ``sent``, ``failed``)."""
        rows = self._db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall()
        return {str(s): int(n) for s, n in rows}
