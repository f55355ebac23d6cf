"""perpscope.venues.okx: OKX v5 (perpetual swaps): wire parsing, REST client, live feeds."""
