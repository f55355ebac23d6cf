"""The datasets a study runs on (``perpscope evaluate``): the user's store through the market view, and
the built-in datasets of the shared real data.

evaluate/ is pure (it may not import the store or the importer), so the loading lives here, beside the
other doors between the store and the computations.

- ``lake``: the user's own store. One :func:`perpscope.assemble.panel.market_panel` per series (every
  source, bar length and venue of the scope, stitched: liquidations of all the scope's venues, open
  interest summed over them, funding OI-weighted), over the whole stored span of its candles, with the
  provenance of every measure; :func:`why_no_trials` turns a study's unscored series into sentences
  naming the missing inputs of the features.
- ``btc_binance_4h`` / ``_1h`` / ``_5m``: the shared real data imported into a temporary store, read
  as documented in each function (CoinGlass coin-level series relabelled onto the Binance BTCUSDT perp).
  Every one drops the withheld months (2026-01-01 → 2026-03-01, see ``shared/data/SOURCES.md``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from perpscope.assemble.errors import StoreInputError
from perpscope.assemble.panel import MarketPanel, market_panel
from perpscope.assemble.provenance import MEASURE_COLUMNS
from perpscope.assemble.records import price_series, price_span
from perpscope.assemble.scope import Scope
from perpscope.assemble.view import resolve_canonical
from perpscope.core.errors import InputError
from perpscope.core.time import HOUR_MS, MINUTE_MS, interval_label, interval_ms, parse_time_ms
from perpscope.ingest.importer import import_paths
from perpscope.metrics import build_panel
from perpscope.store import Lake
from perpscope.store.reader import read

#: Rows withheld for out-of-sample judgement of the project (shared/data/SOURCES.md); never used here.
WITHHELD = ("2026-01-01", "2026-03-01")

_KL = "binance_um_klines_leopoldlj"
_CG = "coinglass_liquidity_report"
BTC = "BTC-USDT-PERP"


def _drop_withheld(df: pl.DataFrame, col: str = "ts_ms") -> pl.DataFrame:
    lo, hi = (parse_time_ms(x) for x in WITHHELD)
    t = pl.col(col).dt.epoch("ms")
    return df.filter((t < lo) | (t >= hi))


def _as_btc_binance(df: pl.DataFrame) -> pl.DataFrame:
    """CoinGlass coin-level (``BTC-AGG-PERP``) rows relabelled as the Binance BTCUSDT perp's series."""
    return df.with_columns(
        pl.lit("binance").alias("venue"), pl.lit("BTCUSDT").alias("symbol"), pl.lit(BTC).alias("canonical")
    )


def _import(shared: Path, files: list[str]) -> Lake:
    missing = [f for f in files if not (shared / f).exists()]
    if missing:
        raise InputError(
            str(shared), f"expected the shared data files {missing}", hint="pass --shared PATH/TO/shared/data"
        )
    lake = Lake(Path(tempfile.mkdtemp(prefix="perpscope-eval-")) / "data")
    rep = import_paths([shared / f for f in files], lake)
    if rep.failed:
        raise InputError(str(rep.failed[0].path), f"import failed: {rep.failed[0].error}")
    return lake


def btc_binance_4h(shared: Path, options: dict[str, Any]) -> tuple[pl.DataFrame, list[str]]:
    """Binance BTCUSDT perp on 4h bars, 2019-10 → 2025-12, with derivatives inputs Nov 2024 → Nov 2025."""
    lake = _import(
        shared,
        [
            f"{_KL}/BTCUSDT_perp_1h_20191001_20260210.csv.gz",
            f"{_CG}/funding_rate_by_exchange_8h_BTC_ETH_pct.csv.gz",
            f"{_CG}/liquidations_binance_4h_BTC_ETH_SOL_XRP.csv.gz",
            f"{_CG}/open_interest_aggregated_all_exchanges_4h_BTC_ETH_SOL_XRP.csv.gz",
            f"{_CG}/binance_BTCUSDT_4h_price_ls_ratios_orderbook_taker.csv.gz",
        ],
    )
    candles = read(lake, "candles", venue="binance", symbol=BTC, where={"interval_ms": HOUR_MS})
    # CoinGlass's 8h Binance BTC funding close, stamped at the bar's end, is the rate in force just
    # before the settlement (its hourly values match Binance's settlements with correlation 0.99993,
    # SOURCES.md): used as the settlement.
    funding = _as_btc_binance(read(lake, "funding", venue="binance", symbol="BTC-AGG-PERP")).with_columns(
        pl.lit("settled").alias("kind")
    )
    liq = _as_btc_binance(read(lake, "liquidation_totals", venue="binance", symbol="BTC-AGG-PERP"))
    oi = _as_btc_binance(read(lake, "open_interest", venue="all", symbol="BTC-AGG-PERP"))
    ls = read(lake, "long_short_ratios", venue="binance", symbol=BTC)
    panel = build_panel(
        4 * HOUR_MS,
        candles=_drop_withheld(candles),
        funding=_drop_withheld(funding),
        liquidation_totals=_drop_withheld(liq),
        open_interest=_drop_withheld(oi),
        long_short_ratios=_drop_withheld(ls),
    )
    notes = [
        "price: Binance BTCUSDT perp 1h klines (binance_um_klines_leopoldlj) resampled to 4h bars",
        "funding: CoinGlass Binance BTC 8h funding close (coinglass_liquidity_report), taken as the "
        "Binance settlement at the bar's end (hourly CoinGlass values match Binance settlements, "
        "corr 0.99993)",
        "liquidations: CoinGlass Binance BTC 4h totals (all Binance BTC margin pairs; Binance's feed is "
        "sampled, so sums are lower bounds)",
        "open interest: CoinGlass all-exchange aggregated BTC OI in USD (4h, stamped at its time)",
        "long/short ratios: CoinGlass Binance BTCUSDT 4h ratios, stamped at the bar's end",
        f"withheld rows {WITHHELD[0]} → {WITHHELD[1]} dropped",
    ]
    return panel, notes


def btc_binance_1h(shared: Path, options: dict[str, Any]) -> tuple[pl.DataFrame, list[str]]:
    """Binance BTCUSDT perp 1h klines alone, 2019-10 → 2025-12 (price, volume and taker flow only)."""
    lake = _import(shared, [f"{_KL}/BTCUSDT_perp_1h_20191001_20260210.csv.gz"])
    candles = _drop_withheld(
        read(lake, "candles", venue="binance", symbol=BTC, where={"interval_ms": HOUR_MS})
    )
    notes = ["price: Binance BTCUSDT perp 1h klines (binance_um_klines_leopoldlj)"]
    return build_panel(HOUR_MS, candles=candles), notes


def btc_binance_5m(shared: Path, options: dict[str, Any]) -> tuple[pl.DataFrame, list[str]]:
    """Binance BTCUSDT perp 5m klines: the three shared windows (Aug 2024, Aug 2025, Oct 2025)."""
    files = [
        f"{_KL}/BTCUSDT_perp_5m_20240801_20240810.csv.gz",
        f"{_KL}/BTCUSDT_perp_5m_20250808_20250901.csv.gz",
        f"{_KL}/BTCUSDT_perp_5m_20251006_20251015.csv.gz",
    ]
    lake = _import(shared, files)
    candles = _drop_withheld(
        read(lake, "candles", venue="binance", symbol=BTC, where={"interval_ms": 5 * MINUTE_MS})
    )
    panel = build_panel(5 * MINUTE_MS, candles=candles).filter(pl.col("volume_usd").is_not_null())
    notes = [
        "5-minute Binance BTCUSDT perp klines (binance_um_klines_leopoldlj), the finest resolution in the "
        "shared data: 2024-08-01→08-10, 2025-08-08→09-01, 2025-10-06→10-15 (gaps between windows dropped)"
    ]
    return panel, notes


@dataclass(frozen=True)
class LakeDataset:
    """A study's panel from the user's store, with its provenance.

    Attributes
    ----------
    panel : polars.DataFrame
        One :func:`perpscope.assemble.panel.market_panel` per series, stacked (``venue`` = the scope's
        label).
    notes : list of str
        What was read: per series, the footnote lines of its provenance; series that could not be read.
    missing : dict of str to list of str
        Per series (``venue/canonical``), the measures (:data:`perpscope.assemble.provenance.
        MEASURE_COLUMNS`) the store gave no value of in its span.
    """

    panel: pl.DataFrame
    notes: list[str]
    missing: dict[str, list[str]] = field(default_factory=dict)


def _lake_targets(lk: Lake, venue: str | None, symbol: str | None) -> list[tuple[str, str]]:
    """(scope, canonical) of every series the ``lake`` dataset options name."""
    if venue is None:
        stored = price_series(lk, "perp")
        if symbol is None:
            return stored
        out = []
        for v in sorted({v for v, _ in stored}):
            try:
                out.append((v, resolve_canonical(lk, symbol, Scope.parse(v))[0]))
            except StoreInputError:
                continue
        return out
    scope = Scope.parse(venue)
    if symbol is not None:
        return [(venue, symbol)]
    canons = sorted({c for v, c in price_series(lk, "perp") if scope.serves(v)})
    return [(venue, c) for c in canons]


def _missing_measures(mp: MarketPanel) -> list[str]:
    have = {m.measure for m in mp.provenance if not m.missing}
    return [m for m in MEASURE_COLUMNS if m not in have]


def lake_dataset(lk: Lake, options: dict[str, Any]) -> LakeDataset:
    """The ``lake`` dataset: ``dataset_options = {venue, symbol, every}`` (all optional).

    ``venue`` is a venue scope (``binance``, ``binance,bybit,okx``, ``all``; default: each stored venue
    apart), ``symbol`` a perp (default: every perp with candles in the scope), ``every`` the bar length
    (default 1h). Each series is :func:`~perpscope.assemble.panel.market_panel` over the whole span of its
    stored candles. ``flows = "true"`` adds the other side of the ledger per bar, as public by its end
    (:func:`perpscope.regimes.flow.with_flow_inputs` of the store's flow records: ``etf_5d_usd``,
    ``stablecoin_7d``, ``perp_spot_ratio_1d``, ``cme_lev_net_base``); the inputs the store lacks are
    listed in ``missing`` as ``etf_flows``, ``stablecoin_supply``, ``cme_positioning``.

    Raises
    ------
    InputError
        When the options name no series the store holds candles of, or none can be read.
    """
    venue = options.get("venue")
    symbol = options.get("symbol")
    try:
        every = interval_ms(str(options.get("every", "1h")))
        targets = _lake_targets(
            lk, None if venue is None else str(venue), None if symbol is None else str(symbol)
        )
    except (ValueError, StoreInputError) as e:
        raise InputError("dataset_options", str(e)) from None
    panels: list[pl.DataFrame] = []
    notes: list[str] = []
    missing: dict[str, list[str]] = {}
    failed: list[str] = []
    for scope, sym in targets:
        try:
            span = price_span(lk, scope, sym)
            hi = -(-span.end_ms // every) * every
            mp = market_panel(lk, scope, span.canonical, span.first_ms // every * every, hi, every)
        except StoreInputError as e:
            failed.append(f"{scope} {sym}: {e}")
            continue
        key = f"{mp.view.scope.label}/{mp.view.canonical}"
        missing[key] = _missing_measures(mp)
        panel = mp.panel
        if str(options.get("flows", "")).lower() == "true":
            panel, lacking = _with_flows(lk, panel, scope, every)
            missing[key] += lacking
        panels.append(panel)
        notes += [f"your store, {mp.notes[0]}", *mp.notes[1:]]
    if not panels:
        what = f"venue={venue or 'any'} symbol={symbol or 'any'}"
        found = ("; " + "; ".join(failed)) if failed else "; found none"
        raise InputError(
            str(lk.root),
            f"expected perp candles for {what} at {interval_label(every)} bars in the store{found}",
            hint="import candles (perpscope import PATH) or change dataset_options",
        )
    notes += [f"not read: {f}" for f in failed]
    return LakeDataset(pl.concat(panels, how="diagonal_relaxed"), notes, missing)


def _with_flows(lk: Lake, panel: pl.DataFrame, scope: str, every: int) -> tuple[pl.DataFrame, list[str]]:
    """``panel`` with the store's flow inputs per bar, and the flow measures the store lacks."""
    from perpscope.assemble.flows import panel_flow_inputs
    from perpscope.regimes.flow import with_flow_inputs

    flows = panel_flow_inputs(lk, panel, scope)
    lacking = [
        m
        for m, f in (
            ("etf_flows", flows.etf),
            ("stablecoin_supply", flows.stablecoins),
            ("cme_positioning", flows.cme),
        )
        if f is None or f.height == 0
    ]
    return with_flow_inputs(panel, every, flows), lacking


#: Panel column prefixes and the measure (:data:`perpscope.assemble.provenance.MEASURE_COLUMNS`) each
#: comes from; columns matching none are price and volume.
FEATURE_INPUTS: tuple[tuple[str, str], ...] = (
    ("funding_", "funding"),
    ("oi_", "open_interest"),
    ("liq_", "liquidations"),
    ("taker_", "taker_flow"),
    ("cvd_", "taker_flow"),
    ("spot_", "spot"),
    ("perp_spot_ratio", "spot"),
    ("perp_share", "spot"),
    ("basis_spot", "spot"),
    ("ls_", "long_short_ratios"),
    ("ratio_z_", "long_short_ratios"),
    ("etf_", "etf_flows"),
    ("stablecoin_", "stablecoin_supply"),
    ("cme_", "cme_positioning"),
)


def input_of(column: str) -> str:
    """The measure a panel column is computed from: ``liq_usd_z`` → ``liquidations``."""
    return next((m for prefix, m in FEATURE_INPUTS if column.startswith(prefix)), "price")


def absent_features(
    features: list[str], panel: pl.DataFrame, missing: dict[str, list[str]] | None = None
) -> list[str]:
    """Each of ``features`` the panel has no column of, with the input it is computed from and the
    series whose store lacks that input: ``liq_usd_z (needs liquidations: missing in the store for
    binance/BTC-USDT-PERP)``."""
    out = []
    for f in dict.fromkeys(features):
        if f in panel.columns:
            continue
        need = input_of(f)
        lacking = [s for s, ms in (missing or {}).items() if need in ms]
        where = f": missing in the store for {', '.join(lacking)}" if lacking else ""
        out.append(f"{f} (needs {need}{where})" if need != "price" or lacking else f"{f} (no such column)")
    return out


def why_no_trials(result: dict[str, Any], missing: dict[str, list[str]] | None = None) -> list[str]:
    """Sentences saying why series were not scored (``result["trials"]["skipped"]`` of
    :func:`perpscope.evaluate.run_study`) and why signals were skipped: per series and horizon, the
    usable bars and each feature short of values with the input it needs, said missing when the store
    gave none of it for that series (``missing``: :attr:`LakeDataset.missing`)."""
    missing = missing or {}
    out: list[str] = []
    trials = result.get("trials") or {}
    for s in trials.get("skipped", []):
        key = "/".join(s["series"])
        gone = set(missing.get(key, ()))
        short = [
            f"{f} ({n:,} of {s['bars']:,} bars; needs {input_of(f)}"
            + (": missing in the store for this series)" if input_of(f) in gone else ")")
            for f, n in s["feature_values"].items()
            if n < s["bars"] // 2
        ]
        tail = f"; features short of values: {', '.join(short)}" if short else ""
        out.append(
            f"{key} at {s['horizon']}: not scored — {s['reason']} ({s['usable']:,} of {s['bars']:,} bars "
            f"have every feature and the outcome){tail}"
        )
    for name, cols in (result.get("data") or {}).get("signals_missing_columns", {}).items():
        needs = ", ".join(f"{c} (from {input_of(c)})" if input_of(c) != "price" else c for c in cols)
        out.append(f"signal {name!r} skipped: the panel has no {needs}")
    return out


_FLOW_FILES = (
    "farside_btc_etf_haturatu/btc_etf_flows_daily_usdm_20240111_20260821.csv.gz",
    "defillama_stablecoins_ssalonisingghal/usdt_circulating_daily_20171129_20260710.csv.gz",
    "defillama_stablecoins_ssalonisingghal/usdc_circulating_daily_20180911_20260710.csv.gz",
    "cftc_tff_bitcoin_cotflow/cme_bitcoin_tff_fut_opt_combined_weekly_20180410_20260623.csv.gz",
)


def btc_binance_4h_flows(shared: Path, options: dict[str, Any]) -> tuple[pl.DataFrame, list[str]]:
    """:func:`btc_binance_4h` with the other side of the ledger per bar, each value as public by the
    bar's end (:func:`perpscope.regimes.flow.with_flow_inputs`): ``etf_5d_usd`` (US spot BTC ETF net
    flow of the last 5 sessions, USD), ``stablecoin_7d`` (USDT + USDC supply change over 7 days,
    fraction), ``cme_lev_net_base`` (CME leveraged funds net, BTC, from the Friday release) and
    ``perp_spot_ratio_1d`` (null here: this dataset has no spot candles)."""
    from perpscope.metrics.flows import cme_positioning, etf_flows, stablecoin_change
    from perpscope.regimes.flow import FlowInputs, with_flow_inputs

    panel, notes = btc_binance_4h(shared, options)
    lake = _import(shared, list(_FLOW_FILES))
    flows = _drop_withheld(read(lake, "fund_flows", venue="us_spot_etf", symbol="BTC-USD-SPOT"))
    supply = pl.concat(
        [
            _drop_withheld(read(lake, "stablecoin_supply", venue=v, symbol=c))
            for v, c in lake.partitions("stablecoin_supply")
        ]
    )
    pos = _drop_withheld(read(lake, "futures_positioning", venue="cme", symbol="BTC-AGG-PERP"))
    inputs = FlowInputs(etf=etf_flows(flows), stablecoins=stablecoin_change(supply), cme=cme_positioning(pos))
    panel = with_flow_inputs(panel, 4 * HOUR_MS, inputs)
    notes = [
        *notes,
        "ETF flows: farside US spot Bitcoin ETF daily totals (farside_btc_etf_haturatu), summed over "
        "the last 5 US sessions, public at each session's close",
        "stablecoin supply: DefiLlama USDT + USDC circulating (defillama_stablecoins_ssalonisingghal), 7-day "
        "change, public the day after",
        "CME positioning: CFTC TFF Bitcoin futures+options (cftc_tff_bitcoin_cotflow), leveraged funds net, "
        "public at the Friday release",
    ]
    return panel, notes


SHARED_DATASETS: dict[str, Callable[[Path, dict[str, Any]], tuple[pl.DataFrame, list[str]]]] = {
    "btc_binance_4h": btc_binance_4h,
    "btc_binance_4h_flows": btc_binance_4h_flows,
    "btc_binance_1h": btc_binance_1h,
    "btc_binance_5m": btc_binance_5m,
}
