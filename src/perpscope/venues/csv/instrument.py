"""Record identity from a mapping block: ``venue``, ``symbol``, ``market`` and ``canonical`` columns.

Without a scheme, ``base`` and ``quote`` come from the block (constants or columns) and ``symbol`` is
whatever the block says. With ``scheme = "binance"`` the symbol text is split the Binance way,
``BASE QUOTE [_yymmdd | _PERP]``, trying the known quote assets (by default those of
:mod:`perpscope.venues.binance.symbols`, or the block's ``quotes``). A symbol with no known quote
suffix gets ``default_quote`` when the block gives one (recorders that strip ``USDT`` from every
symbol) and is an error otherwise; the stored ``symbol`` is then rebuilt as Binance spells it
(``BTC`` → ``BTCUSDT``, ``ETH_250627`` → ``ETHUSDT_250627``). A dated contract is market ``future``.
"""

from __future__ import annotations

import re

import polars as pl

from perpscope.core.errors import InputError
from perpscope.venues.binance.symbols import QUOTE_ASSETS
from perpscope.venues.csv.model import RecordSpec
from perpscope.venues.csv.values import LINE, first_bad, text

_BASE, _QUOTE, _EXPIRY = "\x1fbase", "\x1fquote", "\x1fexpiry"
#: what records.is_canonical accepts, and what the store accepts as a folder name
CANONICAL_RE = r"^[A-Z0-9]+-[A-Z0-9]+-(PERP|SPOT|\d{6})$"
VENUE_RE = r"^[A-Za-z0-9._+\-]+$"


def binance_pattern(quotes: tuple[str, ...]) -> str:
    """Regex splitting an upper-case Binance symbol into ``base``, ``quote``, ``expiry``, ``perp``.

    The base is as short as possible such that the rest is exactly a quote (plus a suffix), which is
    the longest matching quote: ``ETHFDUSD`` → ETH/FDUSD, ``NEIROETHUSDT`` → NEIROETH/USDT. The base
    may be any text without ``_`` or spaces: Binance lists non-ASCII perps such as ``币安人生USDT``.
    """
    alts = "|".join(re.escape(q) for q in sorted(quotes, key=len, reverse=True))
    return rf"^(?P<base>[^_\s]+?)(?P<quote>{alts})?(?:_(?P<expiry>\d{{6}})|(?P<perp>_PERP))?$"


def identity_columns(df: pl.DataFrame, block: RecordSpec, source: str, notes: list[str]) -> pl.DataFrame:
    """Add ``venue``, ``symbol``, ``market`` and ``canonical``; raise naming the line of a bad symbol.

    Canonical symbols are ASCII letters and digits (``BTC-USDT-PERP``) and venues name store folders
    (letters, digits, ``. _ + -``). Rows of an instrument whose base is not ASCII (Binance lists
    ``币安人生USDT``) are skipped with a note; any other character that cannot form these is an error.
    """
    df = _binance_identity(df, block, source) if block.scheme == "binance" else _given_identity(df, block)
    df = df.with_columns(text(block.venue).alias("venue"))
    _require_filled(df, block, source)
    df = _with_canonical(df, block, source)
    df = _skip_non_ascii(df, notes)
    _check_names(df, block, source)
    return df.drop(_BASE, _QUOTE, _EXPIRY)


def _binance_identity(df: pl.DataFrame, block: RecordSpec, source: str) -> pl.DataFrame:
    """Base, quote, expiry, market and ``symbol`` (as Binance spells it) split from the block's symbol
    text the Binance way; an error naming the line of a symbol that does not split."""
    pattern = binance_pattern(block.quotes or QUOTE_ASSETS)
    parts = text(block.symbol).str.to_uppercase().str.extract_groups(pattern)
    expiry = parts.struct.field("expiry")
    quote = parts.struct.field("quote")
    if block.default_quote:
        quote = pl.coalesce(quote, pl.lit(block.default_quote.upper()))
    suffix = (
        pl.when(expiry.is_not_null())
        .then(pl.lit("_") + expiry)
        .when(parts.struct.field("perp").is_not_null())
        .then(pl.lit("_PERP"))
        .otherwise(pl.lit(""))
    )
    df = df.with_columns(
        parts.struct.field("base").alias(_BASE),
        quote.alias(_QUOTE),
        expiry.alias(_EXPIRY),
        pl.when(expiry.is_not_null()).then(pl.lit("future")).otherwise(text(block.market)).alias("market"),
    ).with_columns(pl.concat_str([pl.col(_BASE), pl.col(_QUOTE), suffix]).alias("symbol"))
    i = first_bad(df, pl.col(_BASE).is_null() | pl.col(_QUOTE).is_null())
    if i is not None:
        raw = df.select(text(block.symbol)).item(i, 0)
        known = ", ".join(block.quotes or QUOTE_ASSETS)
        raise InputError(
            source,
            f"{block.label}: cannot split symbol {raw!r} into base and quote the Binance way "
            f"(known quotes: {known})",
            row=int(df.item(i, LINE)),
            hint="set `default_quote` in the mapping if the file strips the quote asset",
        )
    return df


def _given_identity(df: pl.DataFrame, block: RecordSpec) -> pl.DataFrame:
    """Base, quote, market and symbol as the block gives them (no scheme: no expiry)."""
    assert block.base is not None and block.quote is not None
    return df.with_columns(
        text(block.base).alias(_BASE),
        text(block.quote).alias(_QUOTE),
        pl.lit(None, dtype=pl.String).alias(_EXPIRY),
        text(block.market).alias("market"),
        text(block.symbol).alias("symbol"),
    )


def _require_filled(df: pl.DataFrame, block: RecordSpec, source: str) -> None:
    """An error naming the first line whose base, symbol, quote or venue is missing or empty."""
    for col, what in (
        (_BASE, "base asset"),
        ("symbol", "symbol"),
        (_QUOTE, "quote asset"),
        ("venue", "venue"),
    ):
        i = first_bad(df, pl.col(col).is_null() | (pl.col(col) == ""))
        if i is not None:
            raise InputError(source, f"{block.label}: the {what} is empty", row=int(df.item(i, LINE)))


def _with_canonical(df: pl.DataFrame, block: RecordSpec, source: str) -> pl.DataFrame:
    """``canonical`` = ``BASE-QUOTE-{PERP | SPOT | yymmdd}``; an error naming the first line whose market
    is none of perp, spot, future, or a future without an expiry."""
    kind = (
        pl.when(pl.col("market") == "perp")
        .then(pl.lit("PERP"))
        .when(pl.col("market") == "spot")
        .then(pl.lit("SPOT"))
        .when(pl.col("market") == "future")
        .then(pl.col(_EXPIRY))
    )
    df = df.with_columns(
        pl.concat_str(
            [
                pl.col(_BASE).str.to_uppercase(),
                pl.lit("-"),
                pl.col(_QUOTE).str.to_uppercase(),
                pl.lit("-"),
                kind,
            ]
        ).alias("canonical")
    )
    i = first_bad(df, pl.col("canonical").is_null())
    if i is not None:
        m = df.item(i, "market")
        problem = (
            "a dated future needs an expiry (yymmdd) in its symbol"
            if m == "future"
            else f"market must be perp, spot or future, found {m!r}"
        )
        raise InputError(source, f"{block.label}: {problem}", row=int(df.item(i, LINE)))
    return df


def _skip_non_ascii(df: pl.DataFrame, notes: list[str]) -> pl.DataFrame:
    """Without the rows whose base asset is not ASCII (no canonical symbol can name it), with a note."""
    foreign = pl.col(_BASE).str.contains(r"[^\x00-\x7F]")
    n = int(df.select(foreign.sum()).item())
    if n:
        names = sorted(df.filter(foreign).get_column("symbol").unique().to_list())
        notes.append(
            f"skipped {n:,} row(s) of {', '.join(names)}: a canonical symbol is ASCII letters and digits, "
            "and this base asset is not"
        )
        df = df.filter(~foreign)
    return df


def _check_names(df: pl.DataFrame, block: RecordSpec, source: str) -> None:
    """An error naming the first line whose canonical symbol or venue cannot name a store folder."""
    for col, pattern, what in (
        ("canonical", CANONICAL_RE, "a canonical symbol (BASE-QUOTE-PERP, letters and digits)"),
        ("venue", VENUE_RE, "a venue name (letters, digits, . _ + -)"),
    ):
        i = first_bad(df, ~pl.col(col).str.contains(pattern))
        if i is not None:
            raise InputError(
                source,
                f"{block.label}: {df.item(i, col)!r} cannot be {what}",
                row=int(df.item(i, LINE)),
                hint="map the value to a plain name in the mapping (`map`, `case`)",
            )
