"""The flows view of a coin: ETF flows, stablecoin supply, CME positioning, perp/spot volume, spot taker
imbalance and book depth, read from the store and aligned in time with the price.

One function (:func:`flows_view`) serves ``perpscope flows``, the API's ``/api/flows/{symbol}`` (the
dashboard's flows panel) and the report's flows section. Each measure is aligned to a bar grid by the
instant its value was **public** (``known_ms``): a bar shows the last value known at its end, never a
later one. Which inputs the store lacks is said in ``notes`` and in the evidence's ``missing``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from perpscope.assemble.errors import StoreInputError
from perpscope.core.format import json_safe
from perpscope.metrics.bars import resample_candles, resample_taker_volume
from perpscope.metrics.depth import depth_bands
from perpscope.metrics.flow_evidence import FlowEvidence, flow_evidence, perp_spot_daily
from perpscope.metrics.flows import ETF_WINDOW_SESSIONS, cme_positioning, etf_flows, stablecoin_change
from perpscope.metrics.frames import instant, ms
from perpscope.metrics.volume import taker_flow
from perpscope.records import is_canonical
from perpscope.records.flows import ETF_VENUE, SUPPLY_VENUE
from perpscope.regimes.flow import FlowInputs
from perpscope.store import Lake
from perpscope.store.reader import read

H = 3_600_000
DAY_MS = 24 * H
#: Read this much before the range so the first bar's 30-day change and 5-session sum are whole.
WARMUP_MS = 40 * DAY_MS
#: Default range when none is given: this long, ending at the newest flow record.
DEFAULT_SPAN_MS = 180 * DAY_MS
#: The aligned table's columns (after ``ts_ms``), in the order views show them.
COLUMNS = (
    "close",
    "etf_flow_usd",
    f"etf_flow_{ETF_WINDOW_SESSIONS}d_usd",
    "etf_flow_base",
    "stablecoin_usd",
    "stablecoin_7d",
    "stablecoin_30d",
    "stablecoin_7d_usd",
    "cme_oi_base",
    "cme_lev_net_base",
    "cme_am_net_base",
    "cme_basis_trade",
    "perp_spot_ratio",
    "perp_spot_ratio_all",
    "structural_imbalance",
    "spot_taker_imbalance",
    "depth_2pct_usd",
)


@dataclass(frozen=True)
class FlowsView:
    """A coin's flow measures over ``[start_ms, end_ms)`` on bars of ``every_ms``.

    ``table`` has one row per bar (``ts_ms`` = open) with :data:`COLUMNS`: each value the last one
    public by the bar's end. ``evidence`` is :func:`~perpscope.metrics.flow_evidence.flow_evidence` at
    ``end_ms`` (or the newest bar's end). ``sources`` names what fed each measure.
    """

    coin: str
    start_ms: int
    end_ms: int
    every_ms: int
    table: pl.DataFrame
    evidence: FlowEvidence
    price_label: str
    sources: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    #: the measures' frames (with ``known_ms``) as the regime engine reads them
    inputs: FlowInputs = field(default_factory=FlowInputs)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: ``rows`` (instants as int ms), ``evidence``, ``sources``, ``notes``."""
        rows = self.table.with_columns(ms("ts_ms").alias("ts_ms")).to_dicts()
        return json_safe(
            {
                "coin": self.coin,
                "start_ms": self.start_ms,
                "end_ms": self.end_ms,
                "every_ms": self.every_ms,
                "price": self.price_label,
                "columns": ["ts_ms", *COLUMNS],
                "rows": rows,
                "evidence": {**self.evidence.as_dict(), "text": self.evidence.text()},
                "sources": self.sources,
                "notes": list(self.notes),
            }
        )


def coin_of(symbol: str) -> str:
    """``BTCUSDT`` / ``BTC-USDT-PERP`` / ``BTC/USDT:USDT`` / ``btc`` → ``BTC``."""
    s = symbol.strip().upper()
    if is_canonical(s):
        return s.split("-")[0]
    s = s.split("/")[0].split(":")[0]
    for q in ("USDT", "USDC", "USD", "BUSD"):
        if s.endswith(q) and len(s) > len(q):
            return s[: -len(q)]
    if not s.isalnum():
        raise StoreInputError(f"cannot read a coin from {symbol!r}: give BTCUSDT, BTC-USDT-PERP or BTC")
    return s


def _read_all(
    lk: Lake, record: str, venue: str, canonical: str, lo: int | None, hi: int | None, **kw: Any
) -> pl.DataFrame:
    if (venue, canonical) not in set(lk.partitions(record)):
        return pl.DataFrame()
    return read(lk, record, venue=venue, symbol=canonical, start_ms=lo, end_ms=hi, **kw)


def _newest(lk: Lake, coin: str) -> int | None:
    """The newest instant of any flow record of ``coin`` (or of the stablecoins), ms."""
    ends = []
    for rec, v, c in (
        ("fund_flows", ETF_VENUE, f"{coin}-USD-SPOT"),
        ("futures_positioning", "cme", f"{coin}-AGG-PERP"),
        *(("stablecoin_supply", v, c) for v, c in lk.partitions("stablecoin_supply")),
    ):
        df = _read_all(lk, rec, v, c, None, None, columns=["ts_ms"])
        if df.height:
            ends.append(int(df["ts_ms"].dt.epoch("ms").max()))  # type: ignore[arg-type]
    return max(ends) if ends else None


def flows_view(
    lk: Lake,
    symbol: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
    every_ms: int = DAY_MS,
    *,
    venue: str = "binance",
) -> FlowsView:
    """Read a coin's flow records and candles, compute the flow measures and align them on bars.

    Parameters
    ----------
    lk : Lake
    symbol : str
        A perp (``BTCUSDT``), canonical symbol or coin: the coin's flows are read.
    start_ms, end_ms : int, optional
        Range, ms UTC (end exclusive). Default: the 180 days up to the newest flow record.
    every_ms : int
        Bar length (at least 1 h; default one day).
    venue : str
        The venue whose perp and spot volume give the same-venue perp/spot ratio (default ``binance``);
        the cross-venue ratio uses every venue holding both.

    Raises
    ------
    StoreInputError
        When the store holds no flow record of the coin (ETF flows, CME positioning) and no stablecoin
        supply, in any range.
    """
    if every_ms < H:
        raise StoreInputError("flows are read on bars of at least 1h (--every 1h, 4h, 1d)")
    coin = coin_of(symbol)
    newest = _newest(lk, coin)
    if newest is None:  # nothing to show in any range: say so rather than draw empty strips
        raise StoreInputError(
            f"the store at {lk.root} holds no flow records (ETF flows, stablecoin supply, CME "
            f"positioning) for {coin}: import them (perpscope import PATH; a store imported before "
            "perpscope read these sets needs them imported again; formats in docs/import-formats.md)"
        )
    if end_ms is None:
        end_ms = (newest // every_ms + 1) * every_ms
    if start_ms is None:
        start_ms = end_ms - DEFAULT_SPAN_MS
    start_ms = start_ms // every_ms * every_ms
    lo, hi = start_ms - WARMUP_MS, end_ms
    notes: list[str] = []
    sources: dict[str, str] = {}
    c = _coin_candles(lk, coin, venue, lo, hi)
    m = _measures(lk, coin, venue, c, lo, hi, notes, sources)
    table = _aligned(lk, coin, venue, c, m, start_ms, end_ms, every_ms, lo, hi, sources)
    t_eval = min(end_ms, int(table["ts_ms"].dt.epoch("ms").max()) + every_ms) if table.height else end_ms  # type: ignore[arg-type]
    evidence = flow_evidence(t_eval, etf=m.etf, stablecoins=m.stable, perp_spot=m.ratio, cme=m.cme)
    inputs = FlowInputs(etf=m.etf, stablecoins=m.stable, perp_spot=m.ratio, cme=m.cme)
    return FlowsView(
        coin, start_ms, end_ms, every_ms, table, evidence, c.price_label, sources, tuple(notes), inputs
    )


@dataclass(frozen=True)
class _CoinCandles:
    """The coin's 1h trade candles, perp and spot, of every venue (None when the store has none); the
    ``venue``'s own perp and spot among them; the series that prices the flows (its spot, else its perp)."""

    all: pl.DataFrame | None
    spot_own: pl.DataFrame | None
    perp_own: pl.DataFrame | None
    price: pl.DataFrame | None
    price_label: str


def _coin_candles(lk: Lake, coin: str, venue: str, lo: int, hi: int) -> _CoinCandles:
    perp_c, spot_c = f"{coin}-USDT-PERP", f"{coin}-USDT-SPOT"
    trade = {"interval_ms": H, "price_type": "trade"}
    parts = [
        _read_all(lk, "candles", v, c, lo, hi, where=trade)
        for v, c in lk.partitions("candles")
        if c in (perp_c, spot_c)
    ]
    candles = (
        pl.concat([p for p in parts if p.height], how="diagonal_relaxed")
        if any(p.height for p in parts)
        else None
    )
    spot_own = (
        candles.filter((pl.col("canonical") == spot_c) & (pl.col("venue") == venue))
        if candles is not None
        else None
    )
    perp_own = (
        candles.filter((pl.col("canonical") == perp_c) & (pl.col("venue") == venue))
        if candles is not None
        else None
    )
    price_src = spot_own if spot_own is not None and spot_own.height else perp_own
    price_label = f"{venue} {spot_c if price_src is spot_own else perp_c} close"
    return _CoinCandles(candles, spot_own, perp_own, price_src, price_label)


@dataclass(frozen=True)
class _Measures:
    """The flow measures over the read range (each None when its records are absent)."""

    etf: pl.DataFrame | None
    stable: pl.DataFrame | None
    cme: pl.DataFrame | None
    ratio: pl.DataFrame | None  # perp/spot on the venue itself
    ratio_all: pl.DataFrame | None  # perp/spot across every venue holding both


def _measures(
    lk: Lake,
    coin: str,
    venue: str,
    c: _CoinCandles,
    lo: int,
    hi: int,
    notes: list[str],
    sources: dict[str, str],
) -> _Measures:
    """Read the flow records and compute the measures; appends what is missing to ``notes`` and where
    each measure came from to ``sources``."""
    perp_c, spot_c = f"{coin}-USDT-PERP", f"{coin}-USDT-SPOT"
    # records stamped exactly at the end are public at it: the evidence at end_ms reads them
    flows = _read_all(lk, "fund_flows", ETF_VENUE, f"{coin}-USD-SPOT", lo - 10 * DAY_MS, hi + 1)
    etf = etf_flows(flows, c.price) if flows.height else None
    if etf is None:
        notes.append(f"no US spot ETF flows of {coin} in the store")
    else:
        sources["etf"] = ", ".join(sorted(flows["source"].unique()))
    supply = [
        _read_all(lk, "stablecoin_supply", v, cn, lo, hi + 1)
        for v, cn in lk.partitions("stablecoin_supply")
        if v == SUPPLY_VENUE
    ]
    supply = [s for s in supply if s.height]
    stable = stablecoin_change(pl.concat(supply)) if supply else None
    if stable is None:
        notes.append("no stablecoin supply in the store")
    else:
        sources["stablecoins"] = ", ".join(sorted(pl.concat(supply)["symbol"].unique()))
    pos = _read_all(lk, "futures_positioning", "cme", f"{coin}-AGG-PERP", lo, hi + 1)
    cme = cme_positioning(pos) if pos.height else None
    if cme is None:
        notes.append(f"no CME positioning of {coin} in the store")
    ratio = ratio_all = None
    if c.spot_own is not None and c.spot_own.height and c.perp_own is not None and c.perp_own.height:
        ratio = perp_spot_daily(pl.concat([c.perp_own, c.spot_own], how="diagonal_relaxed"))
        sources["perp_spot"] = f"{venue} {perp_c} / {spot_c}, 1h volume in {coin}, 24h sums"
    else:
        notes.append(f"no 1h perp and spot candles of {coin} on {venue}: no perp/spot ratio")
    if c.all is not None and c.all["venue"].n_unique() > 1:
        ratio_all = perp_spot_daily(c.all, across_venues=True)
    return _Measures(etf, stable, cme, ratio, ratio_all)


def _aligned(
    lk: Lake,
    coin: str,
    venue: str,
    c: _CoinCandles,
    m: _Measures,
    start_ms: int,
    end_ms: int,
    every_ms: int,
    lo: int,
    hi: int,
    sources: dict[str, str],
) -> pl.DataFrame:
    """The bar grid of [start_ms, end_ms) with each measure as it was public at each bar's end
    (:data:`COLUMNS`; a column whose measure is absent is all null)."""
    perp_c, spot_c = f"{coin}-USDT-PERP", f"{coin}-USDT-SPOT"
    grid = pl.DataFrame({"_t": pl.int_range(start_ms, end_ms, every_ms, eager=True)}).with_columns(
        (pl.col("_t") + every_ms).alias("_end")
    )
    table = grid
    if c.price is not None and c.price.height:
        px = resample_candles(c.price, every_ms) if every_ms != H else c.price
        table = table.join(px.select(ms("ts_ms").alias("_t"), "close"), on="_t", how="left")
    table = _asof(
        table,
        m.etf,
        {
            "flow_usd": "etf_flow_usd",
            f"flow_{ETF_WINDOW_SESSIONS}d_usd": f"etf_flow_{ETF_WINDOW_SESSIONS}d_usd",
            "flow_base": "etf_flow_base",
        },
        max_age_ms=every_ms,
    )
    all_coins = (
        m.stable.filter(pl.col("symbol") == "ALL")
        if m.stable is not None and (m.stable["symbol"] == "ALL").any()
        else m.stable
    )
    table = _asof(
        table,
        all_coins,
        {
            "supply_usd": "stablecoin_usd",
            "change_7d": "stablecoin_7d",
            "change_30d": "stablecoin_30d",
            "change_7d_usd": "stablecoin_7d_usd",
        },
    )
    table = _asof(
        table,
        m.cme,
        {
            "oi_base": "cme_oi_base",
            "lev_net_base": "cme_lev_net_base",
            "am_net_base": "cme_am_net_base",
            "basis_trade": "cme_basis_trade",
        },
    )
    table = _asof(
        table,
        m.ratio,
        {"perp_spot_ratio": "perp_spot_ratio", "structural_imbalance": "structural_imbalance"},
        max_age_ms=2 * H,
    )
    table = _asof(table, m.ratio_all, {"perp_spot_ratio": "perp_spot_ratio_all"}, max_age_ms=2 * H)
    table = _asof(
        table,
        _spot_taker(lk, venue, spot_c, c.spot_own, lo, hi, every_ms, sources),
        {"taker_imbalance": "spot_taker_imbalance"},
        max_age_ms=every_ms,
    )
    depth = _read_all(lk, "book_depth", venue, perp_c, lo, hi)
    if depth.height:
        d = depth_bands(depth).with_columns(pl.col("ts_ms").alias("known_ms"))
        table = _asof(table, d, {"depth_2pct_usd": "depth_2pct_usd"}, max_age_ms=every_ms)
        sources["depth"] = f"{venue} {perp_c} book depth ±2%"
    for col in COLUMNS:
        if col not in table.columns:
            table = table.with_columns(
                pl.lit(
                    None,
                    dtype=pl.Boolean
                    if col.endswith(("trade", "imbalance")) and "taker" not in col
                    else pl.Float64,
                ).alias(col)
            )
    return table.select(instant(pl.col("_t")).alias("ts_ms"), *COLUMNS)


def flow_inputs(lk: Lake, symbol: str, start_ms: int, end_ms: int, *, venue: str = "binance") -> FlowInputs:
    """The flow inputs of ``symbol``'s coin for the regime engine over ``[start_ms, end_ms)`` (ms UTC):
    ETF flows, stablecoin supply change, the venue's perp/spot volume ratio and CME positioning, each
    with its ``known_ms``, read with the warm-up :func:`flows_view` uses. A store without any flow
    record gives empty inputs (which the engine names as missing), never an error."""
    try:
        return flows_view(lk, symbol, start_ms, end_ms, DAY_MS, venue=venue).inputs
    except StoreInputError:
        return FlowInputs()


def panel_flow_inputs(lk: Lake, panel: pl.DataFrame, venue: str = "binance") -> FlowInputs:
    """:func:`flow_inputs` over a metrics panel's span (first bar's open to the last bar's end) for the
    coin of its first series; ``venue`` a scope such as ``all`` reads the Binance perp/spot ratio."""
    if panel.height == 0:
        return FlowInputs()
    t = panel.get_column("ts_ms").dt.epoch("ms")
    step = int(panel.get_column("interval_ms").max()) if "interval_ms" in panel.columns else H  # type: ignore[arg-type]
    lo, hi = int(t.min()), int(t.max()) + step  # type: ignore[arg-type]
    one = venue if venue in {v for v, _ in lk.partitions("candles")} else "binance"
    return flow_inputs(lk, str(panel.get_column("canonical")[0]), lo, hi, venue=one)


def _asof(
    table: pl.DataFrame, frame: pl.DataFrame | None, cols: dict[str, str], *, max_age_ms: int | None = None
) -> pl.DataFrame:
    """``table`` (bars ``_t``, ends ``_end``) with ``cols`` of ``frame``'s last row public by each bar's end
    (``known_ms <= _end``); older than ``max_age_ms`` before the end → null (a daily flow is not repeated
    into the next days)."""
    if frame is None or frame.height == 0:
        return table.with_columns([pl.lit(None).alias(v) for v in cols.values()])
    r = frame.select(ms("known_ms").alias("_k"), *(pl.col(k).alias(v) for k, v in cols.items())).sort("_k")
    out = table.sort("_end").join_asof(
        r, left_on="_end", right_on="_k", strategy="backward", check_sortedness=False
    )
    if max_age_ms is not None:
        stale = pl.col("_k").is_null() | (pl.col("_end") - pl.col("_k") > max_age_ms)
        out = out.with_columns([pl.when(~stale).then(pl.col(v)).alias(v) for v in cols.values()])
    return out.drop("_k")


def _spot_taker(
    lk: Lake,
    venue: str,
    spot_c: str,
    spot: pl.DataFrame | None,
    lo: int,
    hi: int,
    every_ms: int,
    sources: dict[str, str],
) -> pl.DataFrame | None:
    """Spot taker imbalance per bar, known at the bar's end: the venue's spot taker-volume records, else
    its spot candles' taker-buy volume."""
    tv = _read_all(lk, "taker_volume", venue, spot_c, lo, hi)
    if tv.height:
        iv = int(tv["interval_ms"].max())  # type: ignore[arg-type]
        if every_ms % iv == 0:
            sources["spot_taker"] = (
                f"{venue} {spot_c} taker volume ({', '.join(sorted(tv['source'].unique()))})"
            )
            flow = taker_flow(resample_taker_volume(tv, every_ms))
            return flow.with_columns(instant(ms("ts_ms") + every_ms).alias("known_ms"))
    if spot is not None and spot.height and spot["taker_buy_base"].is_not_null().any():
        c = resample_candles(spot, every_ms).filter(pl.col("taker_buy_base").is_not_null())
        sources["spot_taker"] = f"{venue} {spot_c} candles' taker-buy volume"
        return c.select(
            instant(ms("ts_ms") + every_ms).alias("known_ms"),
            ((2 * pl.col("taker_buy_base") - pl.col("volume_base")) / pl.col("volume_base")).alias(
                "taker_imbalance"
            ),
        )
    return None


def flows_of(
    lk: Lake, symbol: str, start_ms: int, end_ms: int, venue: str = "binance"
) -> dict[str, Any] | None:
    """:meth:`FlowsView.to_json` of ``symbol``'s coin over ``[start_ms, end_ms)`` on daily bars (hourly for
    a range under 10 days), or None when the store holds no flow record at all (a report then has no flows
    section rather than an empty one)."""
    if not any(lk.partitions(r) for r in ("fund_flows", "stablecoin_supply", "futures_positioning")):
        return None
    every = DAY_MS if end_ms - start_ms >= 10 * DAY_MS else H
    return flows_view(lk, symbol, start_ms, end_ms, every, venue=venue).to_json()
