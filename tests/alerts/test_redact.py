"""Webhook secrets never shown: the URL shapes of Slack, Discord and Telegram (their documented
webhook forms), a token in a query string, and user info."""

from __future__ import annotations

import logging

import pytest

from perpscope.alerts import Webhook, redact, redact_url
from perpscope.alerts.redact import redacted_logs, secrets_of

TG = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"
URLS = {
    "slack": ("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "XXXXXXXX"),
    "discord": ("https://discord.com/api/webhooks/1234567890/abcDEF-ghiJKL_mnoPQRstuVWX", "abcDEF"),
    "telegram": (f"https://api.telegram.org/bot{TG}/sendMessage", TG[10:20]),
    "query": ("https://example.org/hook?token=s3cr3tvalue&x=1", "s3cr3tvalue"),
    "userinfo": ("https://alice:pa55word@example.org/hook", "pa55word"),
}


@pytest.mark.parametrize("name", sorted(URLS))
def test_a_url_is_shown_as_its_host_and_its_secret_nowhere(name: str) -> None:
    url, secret = URLS[name]
    shown = redact_url(url)
    assert secret not in shown and shown.endswith("/***") and "@" not in shown
    # an HTTP library's message quoting the URL, told which URLs are secret
    path = url.split("//", 1)[1].split("/", 1)[1]
    for text in (f"Client error '404 Not Found' for url '{url}'", f"404 Not Found: no route /{path}"):
        assert secret not in redact(text, secrets_of(url))
        assert "404 Not Found" in redact(text, secrets_of(url))
    assert redact(f"for url '{url}'", secrets_of(url)) == f"for url '{shown}'"


@pytest.mark.parametrize("name", ["slack", "discord", "telegram"])
def test_known_token_shapes_are_masked_even_from_unknown_urls(name: str) -> None:
    url, secret = URLS[name]
    assert secret not in redact(f"POST {url} failed")


def test_plain_words_of_a_url_are_not_masked() -> None:
    url = URLS["telegram"][0]
    assert redact("sendMessage: bad chat_id", secrets_of(url)) == "sendMessage: bad chat_id"
    assert "XXXX" not in repr(Webhook(URLS["slack"][0], "slack"))


def test_http_client_logs_are_redacted_while_delivering(caplog: pytest.LogCaptureFixture) -> None:
    url = URLS["telegram"][0]
    with caplog.at_level(logging.INFO), redacted_logs(secrets_of(url)):
        logging.getLogger("httpx").info('HTTP Request: POST %s "HTTP/1.1 200 OK"', url)
    assert (
        caplog.records
        and TG not in caplog.text
        and "HTTP Request: POST https://api.telegram.org/***" in caplog.text
    )
