"""Who answers the app's outbound calls: every call the host posts
(``keruj-host dev --answer-outbound``) is recorded and handed to the test's
``on_http``, or ``on_keruj_api`` for Keruj's API."""

from __future__ import annotations

import threading
from typing import Any, Callable, List, Optional, Tuple

from . import _wire
from ._answer import OutboundRequest, OutboundResponse, response_of

#: Keruj's API URL as the harness configures it: calls to it go to
#: ``on_keruj_api``, never to Keruj.
KERUJ_API_URL = "https://api.keruj.test/api/graphql"

#: A handler of outbound calls: the request in, an :class:`OutboundResponse`
#: (or a dict ``{status, headers, body | json}``) out.
Handler = Callable[[OutboundRequest], Any]


class _Outbound:
    """What the outbound server does with each call the host posts: record
    it, hand it to the right handler, send back its answer. The first
    handler failure is kept for the event that caused it."""

    def __init__(self, on_http: Optional[Handler], on_keruj_api: Optional[Handler]) -> None:
        self.on_http = on_http
        self.on_keruj_api = on_keruj_api
        self.requests: List[OutboundRequest] = []
        self.failure: Optional[Tuple[str, BaseException]] = None
        self.lock = threading.Lock()

    def __call__(self, body: bytes) -> Tuple[int, bytes]:
        try:
            request = _wire.envelope(body)
        except (ValueError, TypeError) as error:
            return 400, f"not an envelope of keruj-host dev: {error}".encode()
        with self.lock:
            self.requests.append(request)
        if request.url == KERUJ_API_URL:
            handler, what = self.on_keruj_api, "on_keruj_api"
        else:
            handler, what = self.on_http, "on_http"
        if handler is None:
            response = OutboundResponse.text(
                f"keruj-test: the test gave no {what} handler for {request.method} {request.url}").with_status(502)
        else:
            try:
                response = response_of(handler(request))
            except Exception as error:  # noqa: BLE001 - any failure of the test's code fails the test
                message = (f"the {what} handler failed on {request.method} {request.url}: "
                           f"{type(error).__name__}: {error}")
                with self.lock:
                    if self.failure is None:
                        self.failure = (message, error)
                response = OutboundResponse.text("the test's handler failed").with_status(500)
        return 200, _wire.answered(response)

    def take_failure(self) -> Optional[Tuple[str, BaseException]]:
        with self.lock:
            failure, self.failure = self.failure, None
        return failure
