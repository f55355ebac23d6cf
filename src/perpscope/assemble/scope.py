"""Which venues an analysis covers (its scope), and which stored series can serve it.

A scope is one venue (``binance``), several (``binance,bybit,okx``) or every venue the store holds
(``all``). Stored venue labels are venues too, or aggregates an import wrote under one label:
``binance+bybit+okx`` (CoinGlass's three-exchange liquidation totals) covers exactly those three,
``all`` (CoinGlass's all-exchange open interest) and ``all-oi-weighted`` (its OI-weighted funding) cover
every venue. An aggregate serves a scope only when everything it contains is inside the scope, and it is
never added to the per-venue series it already contains (:func:`venue_mask` gives each label a bit mask
so the per-bar cover in :mod:`perpscope.assemble.cover` can tell overlaps). The rules are the table in
``docs/sources.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from perpscope.assemble.errors import StoreInputError

#: Venues in the order a multi-venue scope takes its price and volume from (the first that has candles)
#: and breaks ties between equal covers; other venues follow alphabetically.
VENUE_ORDER: tuple[str, ...] = ("binance", "bybit", "okx", "hyperliquid", "bitget", "gate", "htx", "mexc")

#: Stored labels that cover every venue (CoinGlass's cross-exchange figures).
ALL_LABELS = frozenset({"all", "all-oi-weighted"})

#: Stored labels that are cross-venue averages with another weighting: not used to resolve a scope.
OTHER_WEIGHTINGS = frozenset({"all-volume-weighted"})

#: Bit mask of a label covering every venue.
ALL_MASK = (1 << 62) - 1


@dataclass(frozen=True)
class Scope:
    """The venues an analysis covers: ``venues`` (a set), or every venue when ``venues`` is None."""

    venues: frozenset[str] | None

    @classmethod
    def parse(cls, text: str | None) -> Scope:
        """``"binance"``, ``"binance,bybit,okx"`` or ``"all"`` (case-insensitive) → a scope.

        Raises
        ------
        StoreInputError
            For an empty name or a name with characters a venue cannot have.
        """
        t = (text or "binance").strip().lower()
        if t == "all":
            return cls(None)
        names = [v.strip() for v in t.replace("+", ",").split(",") if v.strip()]
        bad = [v for v in names if not v.replace("-", "").replace(".", "").isalnum()]
        if not names or bad:
            raise StoreInputError(
                f"--venue takes a venue (binance), a list (binance,bybit,okx) or all; got {text!r}"
            )
        return cls(frozenset(names))

    @property
    def is_all(self) -> bool:
        return self.venues is None

    @property
    def single(self) -> str | None:
        """The venue of a one-venue scope, else None."""
        return next(iter(self.venues)) if self.venues is not None and len(self.venues) == 1 else None

    @property
    def label(self) -> str:
        """The scope's name in outputs and in the panel's ``venue`` column: ``all``, ``binance``,
        ``binance+bybit+okx`` (venues in :data:`VENUE_ORDER`)."""
        if self.venues is None:
            return "all"
        return "+".join(ordered(self.venues))

    def serves(self, stored_label: str) -> bool:
        """True when a stored venue label lies inside this scope (an aggregate must fit whole)."""
        if stored_label in OTHER_WEIGHTINGS:
            return False
        covered = label_venues(stored_label)
        if covered is None:
            return self.venues is None
        return self.venues is None or covered <= self.venues


def ordered(venues: frozenset[str] | set[str] | list[str]) -> list[str]:
    """Venues in :data:`VENUE_ORDER`, then the others alphabetically."""
    rank = {v: i for i, v in enumerate(VENUE_ORDER)}
    return sorted(set(venues), key=lambda v: (rank.get(v, len(rank)), v))


def label_venues(label: str) -> frozenset[str] | None:
    """The venues a stored label covers: ``"binance+bybit"`` → {binance, bybit}; None for every venue."""
    if label in ALL_LABELS:
        return None
    return frozenset(label.split("+"))


def venue_mask(label: str, bits: dict[str, int]) -> int:
    """Bit mask of a stored label; ``bits`` assigns each venue a bit and grows as venues are seen."""
    covered = label_venues(label)
    if covered is None:
        return ALL_MASK
    mask = 0
    for v in covered:
        if v not in bits:
            bits[v] = len(bits)
        mask |= 1 << bits[v]
    return mask
