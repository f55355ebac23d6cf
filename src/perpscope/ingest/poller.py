"""Polled values of the live collector (e.g. open interest, which no venue streams everywhere): fetched
every ``every_s`` over REST into the sink, backing off after failures."""

from __future__ import annotations

import asyncio
import contextlib

from perpscope.core.errors import VenueError
from perpscope.ingest.live_feed import LiveFeed, PollLike
from perpscope.ingest.sink import LiveConfig, Sink
from perpscope.ingest.status_writer import LiveStatus, now_ms
from perpscope.venues.http import RegionBlocked


async def poll(
    feed: LiveFeed, p: PollLike, sink: Sink, status: LiveStatus, cfg: LiveConfig, stop: asyncio.Event
) -> None:
    """Fetch ``p`` every ``p.every_s`` until ``stop``; a region block is fatal for the venue."""
    st = status.stream(feed.venue, p.stream)
    vs = status.venues[feed.venue]
    delay = cfg.backoff_s
    while not stop.is_set():
        wait = p.every_s
        try:
            df = await p.fetch()
        except RegionBlocked as exc:
            vs.fatal = str(exc)
            return
        except (VenueError, OSError, ValueError) as exc:
            vs.last_error = f"{p.stream}: {exc}"
            wait = min(delay, p.every_s)
            delay = min(delay * 2, cfg.backoff_max_s)
        else:
            delay = cfg.backoff_s
            sink.add_frame(p.record, df)
            now = now_ms()
            st.messages += 1
            st.rows += df.height
            st.last_recv_ms = now
            if df.height:
                ts = int(df.get_column("ts_ms").dt.epoch("ms").max())  # type: ignore[arg-type]
                st.last_event_ms = ts
                st.lag_ms = now - ts
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
