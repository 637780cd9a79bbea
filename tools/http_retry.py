"""``post_retrying``: one JSON POST with retries and exponential backoff, for every HTTP client in turngym.

It retries what may pass on a second try (connection errors, timeouts, and the statuses the caller
names) and hands back the first answer that retrying would not change: a 2xx or a final error status,
for the caller to turn into its own error. When every attempt failed, ``RetriesExhausted`` says why
the last one did.

>>> import httpx
>>> with httpx.Client(timeout=0.2) as client:  # nothing listens on port 9
...     post_retrying(client, "http://127.0.0.1:9/x", {}, retries=1, backoff_s=0.0, retry=lambda status: False)
Traceback (most recent call last):
...
turngym.tools.http_retry.RetriesExhausted: 2 attempts; last: could not connect (ConnectError: ...)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


class RetriesExhausted(Exception):
    """Every attempt failed in a way worth retrying; ``last`` says how the last one did."""

    def __init__(self, attempts: int, last: str) -> None:
        super().__init__(f"{attempts} attempt{'' if attempts == 1 else 's'}; last: {last}")
        self.attempts = attempts
        self.last = last


def post_retrying(
    client: httpx.Client,
    url: str,
    body: Any,
    *,
    retries: int,
    backoff_s: float,
    retry: Callable[[int], bool],
    describe: Callable[[httpx.Response], str] = lambda response: response.text[:300] or response.reason_phrase,
    on_retry: Callable[[], None] | None = None,
) -> httpx.Response:
    """POST ``body`` as JSON up to ``retries + 1`` times; the first answer whose status ``retry`` refuses is returned.

    Retry ``n`` sleeps ``backoff_s * 2 ** (n - 1)`` seconds first and calls ``on_retry``. ``describe``
    turns a retried answer into the text ``RetriesExhausted.last`` shows.
    """
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            if on_retry is not None:
                on_retry()
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            response = client.post(url, json=body)
        except httpx.TimeoutException as exc:
            last = f"timed out after {client.timeout.read} s ({type(exc).__name__})"
            continue
        except httpx.TransportError as exc:
            last = f"could not connect ({type(exc).__name__}: {exc})"
            continue
        if not retry(response.status_code):
            return response
        last = f"HTTP {response.status_code}: {describe(response)}"
    raise RetriesExhausted(retries + 1, last)
