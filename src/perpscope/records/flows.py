"""Flow records: the other side of the ledger from the perps — spot fund flows, stablecoin supply and
regulated-futures positioning.

Units follow the record contract: instants int ms UTC (``*_ms``), notionals in USD (``*_usd``),
quantities in base units (``*_base``). Each record says when its value became public, so that no
reader looks ahead:

- a fund flow is stamped at its US trading day (00:00 UTC of the date); the figure is known at the
  earliest at that session's close (16:00 New York), which :mod:`perpscope.metrics.flows` uses;
- a stablecoin supply is stamped at its provider's daily timestamp (00:00 UTC), the instant it was
  measured;
- a CFTC positioning report is stamped at its **release** (the Friday of the week it describes, after
  15:30 New York), not at its as-of Tuesday: :func:`cftc_release_ms` gives one from the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from perpscope.records.base import RecordType
from perpscope.records.sources import DEFAULT_SOURCE

DAY_MS = 86_400_000
#: Time of day (UTC) a CFTC Commitments of Traders report is taken as public on its release Friday. The
#: CFTC publishes at 15:30 New York time, 19:30 UTC in summer and 20:30 UTC in winter, so 21:00 UTC is
#: after the release in both.
CFTC_RELEASE_AT_MS = 21 * 3_600_000


def cftc_release_ms(as_of_ms: int) -> int:
    """The public release (int ms UTC) of the CFTC report as of ``as_of_ms``: the Friday of that week
    (on or after the as-of day, normally a Tuesday; a Monday in weeks with a Tuesday holiday), 21:00 UTC.

    Releases delayed beyond that Friday (a US holiday on the Friday, the federal shutdown of Oct–Nov
    2025 when reports came out weeks late) are not modelled: see docs/import-formats.md, "Known limits".
    """
    day = as_of_ms // DAY_MS
    return (day + (4 - (day + 3) % 7) % 7) * DAY_MS + CFTC_RELEASE_AT_MS  # 1970-01-01 was a Thursday


#: The venue label of US spot Bitcoin ETF flows (all funds trade on US exchanges; the source is Farside).
ETF_VENUE = "us_spot_etf"
#: The ``symbol`` of the all-fund total beside the per-fund tickers.
ETF_TOTAL = "TOTAL"
#: The venue label of a stablecoin's supply summed over every chain it is issued on.
SUPPLY_VENUE = "all_chains"
#: BTC per CME Bitcoin futures contract (code 133741; Micro Bitcoin, 0.1 BTC, is a separate code).
CME_BTC_CONTRACT_BASE = 5.0


@dataclass(frozen=True, slots=True)
class FundFlow:
    """One fund's net creations minus redemptions over one trading day, in USD (negative = outflow).

    ``venue`` is the fund family (``us_spot_etf``), ``symbol`` the fund's ticker (``IBIT``) or
    ``TOTAL`` for the publisher's all-fund sum, ``canonical`` the asset the funds hold
    (``BTC-USD-SPOT``). ``ts_ms`` is the trading day, 00:00 UTC. Only trading days are rows: a
    weekend or holiday is not a zero-flow day.
    """

    venue: str
    symbol: str
    canonical: str
    ts_ms: int
    flow_usd: float
    source: str = DEFAULT_SOURCE


@dataclass(frozen=True, slots=True)
class StablecoinSupply:
    """A stablecoin's circulating supply at ``ts_ms``, in tokens taken at par as USD (``supply_usd``).

    ``venue`` is where it is counted (``all_chains``), ``symbol`` the coin (``USDT``), ``canonical``
    ``USDT-USD-SPOT``.
    """

    venue: str
    symbol: str
    canonical: str
    ts_ms: int
    supply_usd: float
    source: str = DEFAULT_SOURCE


@dataclass(frozen=True, slots=True)
class FuturesPositioning:
    """A regulated futures market's positioning by trader category (CFTC Traders in Financial Futures),
    futures and options combined, converted from contracts to base units (CME Bitcoin: 5 BTC each).

    ``ts_ms`` is the report's **public release** (:func:`cftc_release_ms` of its as-of day, normally the
    Tuesday three days before). ``venue`` is the exchange (``cme``), ``symbol`` the CFTC
    contract market code (``133741``), ``canonical`` the coin's aggregate (``BTC-AGG-PERP``, as the
    store's other all-contract figures: the report sums every listed expiry). Categories: asset
    managers (``am``), dealers, leveraged funds (``lev``) and other reportables; spreads and
    non-reportables are not included, so the categories do not sum to ``oi_base``.
    """

    venue: str
    symbol: str
    canonical: str
    ts_ms: int
    oi_base: float
    am_long_base: float | None = None
    am_short_base: float | None = None
    dealer_long_base: float | None = None
    dealer_short_base: float | None = None
    lev_long_base: float | None = None
    lev_short_base: float | None = None
    other_long_base: float | None = None
    other_short_base: float | None = None
    source: str = DEFAULT_SOURCE


FUND_FLOWS = RecordType(
    "fund_flows",
    FundFlow,
    key=("venue", "canonical", "symbol", "ts_ms"),
    doc="net fund flow per trading day (ts_ms = the day, 00:00 UTC), USD, negative = outflow",
)
STABLECOIN_SUPPLY = RecordType(
    "stablecoin_supply",
    StablecoinSupply,
    key=("venue", "canonical", "ts_ms"),
    doc="stablecoin circulating supply at ts_ms, USD at par",
)
FUTURES_POSITIONING = RecordType(
    "futures_positioning",
    FuturesPositioning,
    key=("venue", "canonical", "symbol", "ts_ms"),
    doc="regulated-futures positions by trader category (CFTC TFF), base units, stamped at release",
)
