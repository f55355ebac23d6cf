"""Where things are in the Binance public-data archive (``data.binance.vision``).

Layout, as Binance publishes it (see ``binance/binance-public-data`` README)::

    data/<spot|futures/um|futures/cm>/<daily|monthly>/<dataset>/<SYMBOL>[/<interval>]/<file>.zip
    <file> = <SYMBOL>-<interval>-<YYYY-MM-DD|YYYY-MM>   kline datasets (klines, markPriceKlines, ...)
           = <SYMBOL>-<dataset>-<YYYY-MM-DD|YYYY-MM>    every other dataset

with a ``<file>.zip.CHECKSUM`` beside each zip (``<sha256>  <file>.zip``). The kline datasets share
one file-name pattern, so which of them a file is comes from its folder.

This module is pure: it maps paths to what they hold and builds archive paths; parsers and the
downloader share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Literal

Segment = Literal["spot", "um", "cm"]
Period = Literal["daily", "monthly"]


@dataclass(frozen=True, slots=True)
class Dataset:
    """One archive dataset.

    Attributes
    ----------
    name : str
        Folder name in the archive (``klines``, ``metrics``, ...).
    segments : tuple of str
        Market segments it is published for (``spot``, ``um`` = USDⓈ-M futures, ``cm`` = COIN-M).
    periods : tuple of str
        ``daily`` and/or ``monthly`` files.
    kline : bool
        File names carry the bar interval instead of the dataset name, and a folder per interval.
    """

    name: str
    segments: tuple[Segment, ...]
    periods: tuple[Period, ...]
    kline: bool = False


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("klines", ("spot", "um"), ("daily", "monthly"), kline=True),
        Dataset("markPriceKlines", ("um",), ("daily", "monthly"), kline=True),
        Dataset("indexPriceKlines", ("um",), ("daily", "monthly"), kline=True),
        Dataset("premiumIndexKlines", ("um",), ("daily", "monthly"), kline=True),
        Dataset("aggTrades", ("spot", "um"), ("daily", "monthly")),
        Dataset("fundingRate", ("um",), ("monthly",)),
        Dataset("metrics", ("um",), ("daily",)),
        Dataset("bookDepth", ("um",), ("daily",)),
        # Legacy: published for COIN-M (and earlier for USDⓈ-M), since discontinued.
        Dataset("liquidationSnapshot", ("um", "cm"), ("daily",)),
    )
}
KLINE_DATASETS = tuple(n for n, d in DATASETS.items() if d.kline)
_SEGMENT_PREFIX: dict[Segment, str] = {"spot": "data/spot", "um": "data/futures/um", "cm": "data/futures/cm"}

_FILE_RE = re.compile(
    r"^(?P<symbol>[A-Z0-9]+(?:_[A-Z0-9]+)?)-(?P<kind>[A-Za-z0-9]+)-(?P<date>\d{4}-\d{2}(?:-\d{2})?)"
    r"\.(?:zip|csv|csv\.gz)$"
)
_SYMBOL_RE = re.compile(r"^[A-Z0-9]+(?:_[A-Z0-9]+)?$")
_INTERVAL_RE = re.compile(r"^\d+(?:s|m|h|d|w|mo)$")


@dataclass(frozen=True, slots=True)
class ArchivePath:
    """What a file's path says about it (every part may be unknown)."""

    dataset: str | None
    segment: Segment | None
    symbol: str | None
    interval: str | None
    date: str | None
    #: True when the dataset came from the folder (not guessed from a kline-style file name).
    dataset_from_folder: bool
    #: The symbol folder (``.../<dataset>/<SYMBOL>/...``), when the path has one.
    folder_symbol: str | None = None


def inspect_path(path: Path | str) -> ArchivePath:
    """Read dataset, market segment, symbol, interval and date from an archive-style path.

    The dataset is the path part that names one (``.../daily/metrics/BTCUSDT/...``); failing that,
    the file name (``BTCUSDT-metrics-2024-01-01.zip``); a kline-style name (``BTCUSDT-1m-...``)
    outside a dataset folder is taken as ``klines``.
    """
    p = PurePosixPath(Path(path).as_posix())
    parts = p.parts
    dataset: str | None = None
    from_folder = False
    folder_symbol: str | None = None
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] in DATASETS:
            dataset, from_folder = parts[i], True
            if i + 1 < len(parts) - 1 and _SYMBOL_RE.match(parts[i + 1]):
                folder_symbol = parts[i + 1]
            break
    segment: Segment | None = None
    for i, part in enumerate(parts[:-1]):
        if part == "spot":
            segment = "spot"
        elif part == "futures" and i + 1 < len(parts) - 1 and parts[i + 1] in ("um", "cm"):
            segment = "um" if parts[i + 1] == "um" else "cm"
    symbol = interval = day = None
    m = _FILE_RE.match(p.name)
    if m:
        symbol, kind, day = m.group("symbol"), m.group("kind"), m.group("date")
        if _INTERVAL_RE.match(kind):
            interval = kind
            if dataset is None:
                dataset = "klines"
        elif dataset is None and kind in DATASETS:
            dataset = kind
    return ArchivePath(dataset, segment, symbol, interval, day, from_folder, folder_symbol)


def archive_path(
    segment: Segment, period: Period, dataset: str, symbol: str, day: date, interval: str | None = None
) -> str:
    """Archive path (no leading slash) of one zip.

    E.g. ``data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip``. For ``monthly``
    files only the year and month of ``day`` are used.
    """
    ds = DATASETS[dataset]
    sym = symbol.upper()
    stamp = day.strftime("%Y-%m-%d") if period == "daily" else day.strftime("%Y-%m")
    if ds.kline:
        if not interval:
            raise ValueError(f"{dataset} needs a bar interval (1m, 5m, 1h, ...)")
        return f"{_SEGMENT_PREFIX[segment]}/{period}/{dataset}/{sym}/{interval}/{sym}-{interval}-{stamp}.zip"
    return f"{_SEGMENT_PREFIX[segment]}/{period}/{dataset}/{sym}/{sym}-{dataset}-{stamp}.zip"
