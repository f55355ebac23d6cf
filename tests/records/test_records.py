import polars as pl
import pyarrow as pa
import pytest

from perpscope.records import (
    CANDLES,
    FUNDING,
    LIQUIDATIONS,
    RECORDS,
    ConformError,
    Liquidation,
    canonical_symbol,
    compact,
    is_canonical,
    market_of,
)


def test_every_record_has_units_in_its_schema() -> None:
    for rt in RECORDS.values():
        for f in rt.schema:
            if f.name.endswith("_ms") and f.name != "interval_ms":
                assert f.type == pa.timestamp("ms", tz="UTC"), (rt.name, f.name)
        assert {"venue", "symbol", "canonical"} <= set(rt.columns)
        assert set(rt.key) <= set(rt.columns)
    assert FUNDING.schema.field("interval_ms").type == pa.int64()
    assert not LIQUIDATIONS.schema.field("side").nullable


def test_dataclass_round_trip() -> None:
    rows = [
        Liquidation("binance", "BTCUSDT", "BTC-USDT-PERP", 1766845883281, "long", 87200.5, 0.25, 21800.125),
        Liquidation("binance", "BTCUSDT", "BTC-USDT-PERP", 1766845885365, "short", 87300.0, 1.0, 87300.0),
    ]
    df = LIQUIDATIONS.from_records(rows)
    assert df.schema["ts_ms"] == pl.Datetime("ms", "UTC")
    assert LIQUIDATIONS.to_records(df) == rows
    assert LIQUIDATIONS.to_arrow(df).schema == LIQUIDATIONS.schema


def _liq(**over: object) -> pl.DataFrame:
    base: dict[str, object] = {
        "venue": ["binance"],
        "symbol": ["BTCUSDT"],
        "canonical": ["BTC-USDT-PERP"],
        "ts_ms": [1766845883281],
        "side": ["long"],
        "price": [87200.5],
        "qty_base": [0.25],
        "notional_usd": [21800.125],
    }
    base.update(over)
    return pl.DataFrame(base)


def test_conform_rejects_what_does_not_fit() -> None:
    with pytest.raises(ConformError, match="must be one of"):
        LIQUIDATIONS.conform(_liq(side=["SELL"]))
    with pytest.raises(ConformError, match="unexpected columns"):
        LIQUIDATIONS.conform(_liq(sidee=["long"]))
    with pytest.raises(ConformError, match="required column 'price'"):
        LIQUIDATIONS.conform(_liq().drop("price"))
    with pytest.raises(ConformError, match="is empty") as e:
        LIQUIDATIONS.conform(pl.concat([_liq(), _liq(qty_base=[None])], how="vertical_relaxed"))
    assert e.value.row == 1
    with pytest.raises(ConformError, match="finite"):
        LIQUIDATIONS.conform(_liq(price=[float("inf")]))
    with pytest.raises(ConformError, match="cannot convert"):
        LIQUIDATIONS.conform(_liq(price=["abc"]))


def test_conform_adds_missing_nullable_columns_and_orders_them() -> None:
    df = pl.DataFrame(
        {
            "ts_ms": [1759708800000],
            "venue": ["binance"],
            "symbol": ["BTCUSDT"],
            "canonical": ["BTC-USDT-PERP"],
            "market": ["perp"],
            "price_type": ["trade"],
            "interval_ms": [300_000],
            "open": [123426.7],
            "high": [123453.5],
            "low": [123264.3],
            "close": [123330.0],
        }
    )
    out = CANDLES.conform(df)
    assert out.columns == list(CANDLES.columns)
    assert out["volume_base"].null_count() == 1
    assert out["ts_ms"].dt.epoch("ms")[0] == 1759708800000


def test_canonical_symbols() -> None:
    assert canonical_symbol("btc", "usdt", "perp") == "BTC-USDT-PERP"
    assert canonical_symbol("BTC", "USDT", "future", "260327") == "BTC-USDT-260327"
    assert is_canonical("ETH-USDC-SPOT") and not is_canonical("ETHUSDC")
    assert market_of("BTC-USDT-260327") == "future"
    assert compact("BTC-USDT-PERP") == "BTCUSDT"
    with pytest.raises(ValueError):
        canonical_symbol("BTC", "USDT", "swap")
