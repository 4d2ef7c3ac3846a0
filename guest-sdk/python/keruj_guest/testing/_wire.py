"""HTTP over loopback, both ways, on the standard library alone: the calls
to the dev host's ``/_dev/api``, and the little server that answers the
app's outbound calls for the test (``keruj-host dev --answer-outbound``)."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Sequence, Tuple

from ._answer import OutboundRequest, OutboundResponse
from ._binary import Error

#: How long one call to the dev host may take: an event's own time limit is
#: shorter, so this only ends a test whose host hangs.
CALL_TIMEOUT = 120.0


@dataclass
class Response:
    """A response of the dev host: status and body."""

    status: int
    body: bytes


def call(host: str, port: int, method: str, target: str, headers: Sequence[Tuple[str, str]] = (),
         body: bytes = b"") -> Response:
    """One request to the dev host, on its own connection, with the headers
    in the order given (duplicates kept)."""
    connection = http.client.HTTPConnection(host, port, timeout=CALL_TIMEOUT)
    names = {name.lower() for name, _ in headers}
    try:
        connection.putrequest(method, target, skip_host="host" in names, skip_accept_encoding=True)
        if "content-length" not in names:
            connection.putheader("content-length", str(len(body)))
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return Response(response.status, response.read())
    except (OSError, http.client.HTTPException) as error:
        raise Error(f"cannot {method} {target} on the keruj-host at {host}:{port}: {error}") from None
    finally:
        connection.close()


def envelope(body: bytes) -> OutboundRequest:
    """The call the host posted: ``{method, url, headers: [[n, v]], body_base64}``.
    ValueError when it is not that."""
    value = json.loads(body)
    if not isinstance(value, dict):
        raise ValueError("the envelope is not a JSON object")

    def text(key: str) -> str:
        found = value.get(key)
        return found if isinstance(found, str) else ""

    headers = [(pair[0], pair[1]) for pair in value.get("headers") or []
               if isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)]
    return OutboundRequest(method=text("method"), url=text("url"), headers=headers,
                           body=base64.b64decode(text("body_base64"), validate=True))


def answered(response: OutboundResponse) -> bytes:
    """A handler's answer as the host reads it: ``{status, headers, body_base64}``."""
    return json.dumps({
        "status": response.status,
        "headers": [[name, value] for name, value in response.headers],
        "body_base64": base64.b64encode(response.body).decode("ascii"),
    }).encode()


#: What the server does with one request's body: its status and body.
Answer = Callable[[bytes], Tuple[int, bytes]]


class Server:
    """A server on ``127.0.0.1:0`` answering each request with
    ``answer(body)``, a thread a connection, until :meth:`close`."""

    def __init__(self, answer: Answer) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                try:
                    status, body = answer(self._body())
                except ValueError as error:
                    status, body = 400, str(error).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("transfer-encoding", "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        chunk = self.rfile.read(size + 2)
                        if size == 0:
                            return b"".join(chunks)
                        chunks.append(chunk[:size])
                return self.rfile.read(int(self.headers.get("content-length") or 0))

            def log_message(self, format: str, *args: object) -> None:
                pass  # The host's log says what was called; the test's output stays clean.

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="keruj-test-outbound", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def close(self) -> None:
        """Stops accepting and closes the socket."""
        self._server.shutdown()
        self._server.server_close()
