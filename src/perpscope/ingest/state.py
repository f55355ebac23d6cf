"""Collector state in the data directory: per-stream backfill checkpoints and the live status file.

Both are JSON written atomically (temporary file, fsync, rename), so a crash leaves the old or the new
version, never a torn one. Files: ``<data_dir>/_state/checkpoints.json``, ``<data_dir>/_state/status.json``.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def state_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "_state"


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` via a fsynced temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:6]}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_json(path: Path) -> Any:
    """Parsed JSON at ``path``, or None when absent or unreadable (a reader never blocks a writer)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far one backfill stream got: ``[from_ms, next_ms)`` is in the store."""

    from_ms: int
    next_ms: int


class Checkpoints:
    """Backfill checkpoints keyed ``venue/stream[:period]/symbol``, saved after every store write."""

    def __init__(self, data_dir: Path) -> None:
        self.path = state_dir(data_dir) / "checkpoints.json"
        raw = read_json(self.path)
        self._data: dict[str, dict[str, int]] = raw if isinstance(raw, dict) else {}

    @staticmethod
    def key(venue: str, stream: str, symbol: str, period: str | None = None) -> str:
        return f"{venue}/{stream}{':' + period if period else ''}/{symbol}"

    def get(self, key: str) -> Checkpoint | None:
        v = self._data.get(key)
        if not isinstance(v, dict) or "from_ms" not in v or "next_ms" not in v:
            return None
        return Checkpoint(int(v["from_ms"]), int(v["next_ms"]))

    def put(self, key: str, cp: Checkpoint) -> None:
        self._data[key] = {"from_ms": cp.from_ms, "next_ms": cp.next_ms}
        write_json_atomic(self.path, self._data)

    def all(self) -> dict[str, Checkpoint]:
        return {k: c for k in self._data if (c := self.get(k)) is not None}
