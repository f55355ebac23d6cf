"""The archive's file formats as :class:`~perpscope.venues.base.FileFormat` objects, one per dataset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from perpscope.core.errors import InputError
from perpscope.venues.archive.book_depth import BOOK_DEPTH_COLUMNS, parse_book_depth
from perpscope.venues.archive.common import Columns, FileContext, open_file
from perpscope.venues.archive.funding import FUNDING_COLUMNS, parse_funding
from perpscope.venues.archive.klines import KLINE_COLUMNS, parse_klines
from perpscope.venues.archive.layout import Segment, inspect_path
from perpscope.venues.archive.liquidations import (
    LIQUIDATION_COLUMNS,
    LIQUIDATION_COLUMNS_WITH_SYMBOL,
    parse_liquidations,
)
from perpscope.venues.archive.metrics import METRICS_COLUMNS, parse_metrics
from perpscope.venues.archive.trades import FUTURES_COLUMNS, SPOT_COLUMNS, parse_agg_trades
from perpscope.venues.base import Parsed

Parser = Callable[[FileContext], list[Parsed]]


@dataclass
class ArchiveFormat:
    """One Binance archive dataset as an importable file format.

    ``sniff`` recognizes the dataset from the path (the dataset folder, else the file name) and checks
    the first line has the dataset's column count (and names, when it is a header). ``parse`` always
    parses as :attr:`dataset`, whatever the path says — that is how a caller forces a dataset.
    (Not frozen: :class:`~perpscope.venues.base.FileFormat` declares ``name`` and ``description`` as
    plain attributes, which a frozen dataclass does not satisfy for mypy.)
    """

    name: str
    description: str
    dataset: str
    #: rows from the exchange's own archive rank first (perpscope.records.sources)
    source_kind: ClassVar[str] = "archive"
    parser: Parser
    layouts: tuple[Columns, ...]
    #: Also recognize the file by an exact header outside an archive-style path (only for datasets
    #: whose header no other dataset shares, e.g. ``metrics`` saved under any name).
    by_header: bool = False

    def sniff(self, path: Path, first_line: str) -> bool:
        found = inspect_path(path).dataset
        if found is None and self.by_header:
            fields = [f.strip().strip('"').lower() for f in first_line.split(",")]
            return any(fields == list(lay) for lay in self.layouts)
        if found != self.dataset:
            return False
        if not first_line:  # unreadable or empty: let parse() say what is wrong with it
            return True
        fields = [f.strip().strip('"').lower() for f in first_line.split(",")]
        layouts = [lay for lay in self.layouts if len(lay) == len(fields)]
        if not layouts:
            return False
        head = fields[0][:1]
        if head.isdigit() or head in ("-", "+", "."):
            return True
        return any(fields == list(lay) for lay in layouts)

    def parse(self, path: Path) -> list[Parsed]:
        return self.parser(open_file(path, self.dataset))


FORMATS: list[ArchiveFormat] = [
    ArchiveFormat(
        "binance-archive-klines",
        "Binance public archive klines (futures/um → perp, spot → spot), trade-price candles",
        "klines",
        parse_klines,
        (KLINE_COLUMNS,),
    ),
    ArchiveFormat(
        "binance-archive-mark-klines",
        "Binance public archive markPriceKlines (USDⓈ-M), mark-price candles",
        "markPriceKlines",
        parse_klines,
        (KLINE_COLUMNS,),
    ),
    ArchiveFormat(
        "binance-archive-index-klines",
        "Binance public archive indexPriceKlines (USDⓈ-M), index-price candles",
        "indexPriceKlines",
        parse_klines,
        (KLINE_COLUMNS,),
    ),
    ArchiveFormat(
        "binance-archive-premium-klines",
        "Binance public archive premiumIndexKlines (USDⓈ-M), premium index as fractions",
        "premiumIndexKlines",
        parse_klines,
        (KLINE_COLUMNS,),
    ),
    ArchiveFormat(
        "binance-archive-aggtrades",
        "Binance public archive aggTrades (futures/um and spot) → trades",
        "aggTrades",
        parse_agg_trades,
        (FUTURES_COLUMNS, SPOT_COLUMNS),
    ),
    ArchiveFormat(
        "binance-archive-funding",
        "Binance public archive fundingRate (monthly, USDⓈ-M) → funding",
        "fundingRate",
        parse_funding,
        (FUNDING_COLUMNS,),
    ),
    ArchiveFormat(
        "binance-archive-metrics",
        "Binance public archive metrics (5-minute or daily) → open interest and long/short ratios",
        "metrics",
        parse_metrics,
        (METRICS_COLUMNS,),
        by_header=True,
    ),
    ArchiveFormat(
        "binance-archive-book-depth",
        "Binance public archive bookDepth (USDⓈ-M) → depth within ±1…5% of mid",
        "bookDepth",
        parse_book_depth,
        (BOOK_DEPTH_COLUMNS,),
    ),
    ArchiveFormat(
        "binance-archive-liquidations",
        "Binance public archive liquidationSnapshot (legacy) → liquidations",
        "liquidationSnapshot",
        parse_liquidations,
        (LIQUIDATION_COLUMNS, LIQUIDATION_COLUMNS_WITH_SYMBOL),
    ),
]
_BY_DATASET = {f.dataset: f for f in FORMATS}


def format_for(dataset: str) -> ArchiveFormat:
    """The format of one archive dataset (``klines``, ``metrics``, ...)."""
    try:
        return _BY_DATASET[dataset]
    except KeyError:
        raise KeyError(f"unknown archive dataset {dataset!r}; known: {', '.join(_BY_DATASET)}") from None


def parse_file(path: Path, dataset: str | None = None, segment: Segment | None = None) -> list[Parsed]:
    """Parse one archive file.

    Parameters
    ----------
    path : Path
        A ``.zip`` (as published), ``.csv`` or ``.csv.gz``.
    dataset : str, optional
        Archive dataset (``klines``, ``markPriceKlines``, ``metrics``, ...); default: from the path.
    segment : {"um", "spot", "cm"}, optional
        Market segment; default: from the path (``futures/um``, ``spot``, ``futures/cm``).

    Raises
    ------
    InputError
        Naming file, line and problem; nothing is returned for a bad file.
    """
    ds = dataset or inspect_path(path).dataset
    if ds is None:
        raise InputError(str(path), "cannot tell which archive dataset this file is", hint="pass dataset=")
    fmt = format_for(ds)
    return fmt.parser(open_file(path, ds, segment))
