"""The live collector's limits on silence, waits and write failures (beside :class:`LiveConfig`'s
batching and backoff settings)."""

from __future__ import annotations

from dataclasses import dataclass, field

from perpscope.ingest.stall import StallLimits

#: Longest ``Retry-After`` (seconds) a refused websocket handshake is waited for; a longer one is capped.
MAX_HANDSHAKE_RETRY_AFTER_S = 600.0
#: How long store writes may keep failing before the collector gives up (stops, exits non-zero).
WRITER_GIVE_UP_S = 120.0
#: Attempts of the last write on stop before the rows still buffered are declared lost.
FINAL_FLUSH_ATTEMPTS = 3
#: How far back the store is read on start for the last stored trade id / closed bar (restart gap fill).
RESTART_LOOKBACK_MS = 35 * 86_400_000
#: Largest trade-id gap filled over REST; a larger one is listed unfilled (fetch it from the archive).
#: Binance serves 1,000 aggregated trades per request of weight 20: 200,000 ids are 200 requests, 4,000
#: weight, under two minutes of the 2,400-per-minute budget (hours of BTCUSDT trading).
MAX_TRADE_FILL_IDS = 200_000


@dataclass(frozen=True)
class LiveLimits:
    """Limits of the collector's self-healing.

    Attributes
    ----------
    stall : StallLimits
        When a silent socket is reconnected.
    max_retry_after_s : float
        Cap on the ``Retry-After`` waited after a refused handshake (HTTP 429/418/503).
    writer_give_up_s : float
        Store writes failing for longer than this stop the collector with an error (exit non-zero).
    final_flush_attempts : int
        Write attempts on stop before buffered rows are reported lost.
    restart_lookback_ms : int
        How far back the store is searched on start for the last stored trade / bar.
    max_trade_fill_ids : int
        Largest trade-id range fetched by REST in one gap.
    """

    stall: StallLimits = field(default_factory=StallLimits)
    max_retry_after_s: float = MAX_HANDSHAKE_RETRY_AFTER_S
    writer_give_up_s: float = WRITER_GIVE_UP_S
    final_flush_attempts: int = FINAL_FLUSH_ATTEMPTS
    restart_lookback_ms: int = RESTART_LOOKBACK_MS
    max_trade_fill_ids: int = MAX_TRADE_FILL_IDS
