"""Content digest of a store, per month file and per partition: ``python scripts/store_digest.py DIR [OUT]``.

Each digest is the SHA-256 of the file's (or the partition's) rows sorted by every column and written
as CSV, so two stores with the same rows in the same month files compare equal whatever their row
order, row groups or compression. Used to check that a change to the importer stores the same content
(import the same files with the old and the new code, compare the two outputs line by line).
Prints ``<record>/<venue>/<symbol>[/<month>] <rows> <sha256>`` lines, sorted.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import polars as pl


def digest(df: pl.DataFrame) -> str:
    """SHA-256 of ``df``'s rows sorted by every column, as CSV (row order never matters)."""
    rows = df.sort(df.columns, nulls_last=True, maintain_order=True) if df.height else df
    return hashlib.sha256(rows.write_csv().encode()).hexdigest()


def store_digests(root: Path) -> list[str]:
    """One line per month file and per partition of the store at ``root``."""
    lines: list[str] = []
    for part in sorted(root.glob("*/venue=*/symbol=*")):
        rel = "/".join(p.split("=", 1)[-1] for p in part.relative_to(root).parts)
        frames = []
        for f in sorted(part.glob("*.parquet")):
            df = pl.read_parquet(f)
            frames.append(df)
            lines.append(f"{rel}/{f.stem} {df.height} {digest(df)}")
        if frames:
            whole = pl.concat(frames, how="diagonal_relaxed")
            lines.append(f"{rel} {whole.height} {digest(whole)}")
    return sorted(lines)


def main() -> None:
    lines = store_digests(Path(sys.argv[1]))
    text = "\n".join(lines) + "\n"
    if len(sys.argv) > 2:
        Path(sys.argv[2]).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
