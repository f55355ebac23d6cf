"""``liquidationSnapshot`` (legacy, daily) → LIQUIDATIONS.

Columns: ``time,side,order_type,time_in_force,original_quantity,price,average_price,order_status,
last_fill_quantity,accumulated_fill_quantity`` (some copies carry ``symbol`` after ``time``). Each row
is one liquidation ORDER; its ``side`` is the order's side, the opposite of the liquidated position:
SELL ⇒ a long was liquidated, BUY ⇒ a short.

- ``price`` = ``average_price`` (the fill price) when positive, else the order price;
  ``qty_base`` = ``accumulated_fill_quantity``; rows that filled nothing are left out.
- USDⓈ-M (``futures/um``): quantities are base units; ``notional_usd`` = qty × price (USD stablecoin
  quotes at par).
- COIN-M (``futures/cm``): quantities are contracts of 100 USD (BTC) or 10 USD (every other coin);
  ``notional_usd`` = contracts × contract size, ``qty_base`` = notional / price.
"""

from __future__ import annotations

import polars as pl

from perpscope.records import LIQUIDATIONS
from perpscope.venues.archive import common
from perpscope.venues.base import Parsed

_TAIL: common.Columns = {
    "side": pl.String,
    "order_type": pl.String,
    "time_in_force": pl.String,
    "original_quantity": pl.Float64,
    "price": pl.Float64,
    "average_price": pl.Float64,
    "order_status": pl.String,
    "last_fill_quantity": pl.Float64,
    "accumulated_fill_quantity": pl.Float64,
}
LIQUIDATION_COLUMNS: common.Columns = {"time": pl.Int64, **_TAIL}
LIQUIDATION_COLUMNS_WITH_SYMBOL: common.Columns = {"time": pl.Int64, "symbol": pl.String, **_TAIL}
#: COIN-M contract size in USD: BTC contracts are 100 USD, every other coin's 10 USD.
COINM_CONTRACT_USD = {"BTC": 100.0}
COINM_DEFAULT_CONTRACT_USD = 10.0
USD_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "TUSD", "USDP", "USD")


def parse_liquidations(ctx: common.FileContext) -> list[Parsed]:
    """Parse one ``liquidationSnapshot`` file."""
    df, hdr, layout = common.read_layout(ctx, [LIQUIDATION_COLUMNS, LIQUIDATION_COLUMNS_WITH_SYMBOL])
    found = None
    if "symbol" in layout:
        syms = df.get_column("symbol")
        found = str(syms[0])
        bad = syms != found
        if bad.any():
            i = int(bad.arg_true()[0])
            raise ctx.error(
                f"one file must hold one symbol: found {syms[i]!r} after {found!r}", row=i + 1 + hdr
            )
    sym = ctx.symbol("perp", found=found)
    ts, _ = common.to_epoch_ms(ctx, df.get_column("time"), hdr, "time")
    common.require_increasing(ctx, ts, hdr, "time", strict=False)

    side = df.get_column("side").str.strip_chars().str.to_uppercase()
    bad = ~side.is_in(["BUY", "SELL"])
    if bad.any():
        i = int(bad.arg_true()[0])
        raise ctx.error(f"side: expected BUY or SELL, found {side[i]!r}", row=i + 1 + hdr)
    for col in ("price", "average_price", "accumulated_fill_quantity"):
        s = df.get_column(col)
        neg = ~s.is_finite() | (s < 0)
        if neg.any():
            i = int(neg.arg_true()[0])
            raise ctx.error(f"{col}: expected a finite number ≥ 0, found {s[i]}", row=i + 1 + hdr)

    px = pl.when(pl.col("average_price") > 0).then(pl.col("average_price")).otherwise(pl.col("price"))
    qty = pl.col("accumulated_fill_quantity")
    if ctx.segment == "cm":
        size = COINM_CONTRACT_USD.get(sym.base, COINM_DEFAULT_CONTRACT_USD)
        notional = qty * size
        qty_base = notional / px
        ctx.notes.append(
            f"COIN-M quantities are contracts of {size:g} USD; converted to base units at the fill price"
        )
    else:
        if sym.quote not in USD_QUOTES:
            raise ctx.error(
                f"cannot value {sym.symbol} in USD: its quote {sym.quote} is not a USD stablecoin"
            )
        notional, qty_base = qty * px, qty
    df = df.with_columns(ts_ms=ts, _side=side)
    zero = df.get_column("accumulated_fill_quantity") == 0
    if zero.any():
        ctx.notes.append(f"{int(zero.sum())} liquidation orders filled nothing and were left out")
        df = df.filter(~zero)
    out = df.select(
        *common.ident(sym),
        pl.col("ts_ms"),
        pl.when(pl.col("_side") == "SELL").then(pl.lit("long")).otherwise(pl.lit("short")).alias("side"),
        px.alias("price"),
        qty_base.alias("qty_base"),
        notional.alias("notional_usd"),
    )
    ctx.notes.append("side is the liquidated position's: a SELL liquidation order closed a long, BUY a short")
    dups = out.height - out.unique().height
    if dups:
        ctx.notes.append(f"{dups} rows repeat another row exactly; the store keeps one of each")
    return [ctx.parsed(LIQUIDATIONS, out, hdr)]
