"""Canonical symbols for joins across venues: ``BASE-QUOTE-PERP``, ``BASE-QUOTE-SPOT``,
``BASE-QUOTE-<yymmdd>`` for dated futures.

The venue's own symbol is kept beside it (``symbol`` column); parsing a venue symbol into base and
quote is venue knowledge and lives with each venue.
"""

from __future__ import annotations

import re

_CANON_RE = re.compile(r"^[A-Z0-9]+-[A-Z0-9]+-(PERP|SPOT|\d{6})$")


def canonical_symbol(base: str, quote: str, market: str, expiry: str | None = None) -> str:
    """``("BTC", "USDT", "perp")`` → ``"BTC-USDT-PERP"``; dated futures use their ``yymmdd`` expiry."""
    if market == "future":
        if not expiry:
            raise ValueError("a dated future needs its expiry (yymmdd)")
        kind = expiry
    elif market in ("perp", "spot"):
        kind = market.upper()
    else:
        raise ValueError(f"market must be perp, spot or future; got {market!r}")
    return f"{base.upper()}-{quote.upper()}-{kind}"


def is_canonical(text: str) -> bool:
    """True for ``BTC-USDT-PERP``-style text."""
    return bool(_CANON_RE.match(text))


def market_of(canonical: str) -> str:
    """``"BTC-USDT-PERP"`` → ``"perp"``; ``...-SPOT`` → ``"spot"``; a dated contract → ``"future"``."""
    kind = canonical.rsplit("-", 1)[-1]
    return {"PERP": "perp", "SPOT": "spot"}.get(kind, "future")


def compact(canonical: str) -> str:
    """``"BTC-USDT-PERP"`` → ``"BTCUSDT"``: base and quote run together, as most venues spell them."""
    base, quote, _ = canonical.split("-", 2)
    return base + quote


_CCXT_RE = re.compile(r"^([A-Z0-9]+)/([A-Z0-9]+)(?::([A-Z0-9]+)(?:-(\d{6}))?)?$")


def from_ccxt(symbol: str) -> str | None:
    """ccxt's unified symbol → canonical; None when ``symbol`` is not in ccxt's form.

    ``BTC/USDT:USDT`` (a linear perpetual swap) → ``BTC-USDT-PERP``; ``BTC/USD:BTC`` (inverse) →
    ``BTC-USD-PERP``; ``BTC/USDT:USDT-251226`` (a dated future) → ``BTC-USDT-251226``; ``BTC/USDT``
    (spot) → ``BTC-USDT-SPOT``. (ccxt's manual, "Unified symbols": ``BASE/QUOTE:SETTLE[-YYMMDD]``.)
    """
    m = _CCXT_RE.match(symbol.strip().upper())
    if not m:
        return None
    base, quote, settle, expiry = m.groups()
    if settle is None:
        return canonical_symbol(base, quote, "spot")
    return canonical_symbol(base, quote, "future" if expiry else "perp", expiry)
