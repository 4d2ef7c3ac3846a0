"""What the host answered, typed: an event's :class:`Answer`, a webhook's
:class:`Delivery`, what the app made at run time; and the app's outbound
calls as the test's handler sees them (:class:`OutboundRequest`) and answers
them (:class:`OutboundResponse`)."""

from __future__ import annotations

import dataclasses
import json as _json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

#: Header pairs, in order.
Headers = List[Tuple[str, str]]


@dataclass
class Answer:
    """The host's answer to one event, as Keruj would read it: ``kind`` is
    ``"done"`` (200, empty body), ``"form"`` (200 with ``form``, a dict the
    host already validated) or ``"error"`` (``status`` and the public
    ``message``; the app's own words go to the log only)."""

    kind: str
    form: Optional[Dict[str, Any]] = None
    status: int = 200
    message: str = ""

    DONE = "done"
    FORM = "form"
    ERROR = "error"

    def expect_done(self) -> None:
        """Raises AssertionError, saying what came instead, unless done."""
        if self.kind != Answer.DONE:
            raise AssertionError(f"expected done, got {self}")

    def expect_form(self) -> Dict[str, Any]:
        """The form (``reply``, ``title``, ``elements``, ``errors``...);
        AssertionError if the answer is not one."""
        if self.kind != Answer.FORM or self.form is None:
            raise AssertionError(f"expected a form, got {self}")
        return self.form

    def expect_error(self) -> Tuple[int, str]:
        """``(status, message)`` of an error; AssertionError if the event
        succeeded."""
        if self.kind != Answer.ERROR:
            raise AssertionError(f"expected an error, got {self}")
        return self.status, self.message

    def __str__(self) -> str:
        if self.kind == Answer.DONE:
            return "done (200, empty body)"
        if self.kind == Answer.FORM:
            return f"the form {_json.dumps(self.form, ensure_ascii=False)}"
        return f"error {self.status}: {self.message}"


def answer_of(sent: Mapping[str, Any]) -> Answer:
    """``/_dev/api/send``'s answer (or a run's), typed."""
    status = sent.get("status")
    status = status if isinstance(status, int) else 0
    reply = sent.get("reply")
    if status == 200 and reply is None:
        return Answer(Answer.DONE)
    if status == 200:
        if not isinstance(reply, dict):
            raise AssertionError(f"the host answered a form the harness cannot read: {reply!r}")
        form = dict(reply)
        form.setdefault("elements", [])
        form.setdefault("errors", {})
        return Answer(Answer.FORM, form=form)
    message = sent.get("error")
    return Answer(Answer.ERROR, status=status, message=message if isinstance(message, str) else "")


@dataclass
class Delivery:
    """What the host answered a webhook delivery: what the third party gets.
    ``status`` 200 (handled, or a retry of one handled before), 401 (the
    signature does not verify), 404, 409, 500 (the app failed), 503;
    ``message`` says why when it is not 200 (``""`` on 200)."""

    status: int
    message: str = ""

    def expect_accepted(self) -> None:
        """Raises AssertionError, saying what came instead, unless 200."""
        if self.status != 200:
            raise AssertionError(f"expected the delivery accepted, got {self.status}: {self.message}")


@dataclass
class MadeSchedule:
    """A schedule the app made for the company at run time."""

    #: The id ``schedules.at/after/every/cron`` returned to the app.
    id: str
    #: The event its runs arrive as.
    event: str
    #: Whether it runs once (``at``, ``after``) rather than repeatedly.
    once: bool
    #: What each run carries as ``schedule.payload`` (parsed JSON).
    payload: Any = None


class MintedWebhook(NamedTuple):
    """A webhook URL the app minted for the company: the ``[[webhook]]``
    name it delivers as, its label, the URL."""

    name: str
    label: str
    url: str


@dataclass
class OutboundRequest:
    """One outbound request as it would have left the host, after the app's
    grant (``allowed_hosts``) allowed it."""

    #: ``GET``, ``POST``, ...
    method: str
    #: The full URL the app asked for (or :data:`KERUJ_API_URL`).
    url: str
    #: ``(name, value)`` pairs in the order sent; names lower case.
    headers: Headers = field(default_factory=list)
    #: The body as sent (``b""`` for none).
    body: bytes = b""

    def header(self, name: str) -> Optional[str]:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def host(self) -> str:
        """The URL's host, lower case, without the port (``api.example.com``)."""
        return urlsplit(self.url).hostname or ""

    def path(self) -> str:
        """The URL's path (``/v2.0/json/``), ``/`` when it has none."""
        return urlsplit(self.url).path or "/"

    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; None when it is not JSON."""
        try:
            return _json.loads(self.body)
        except ValueError:
            return None


@dataclass
class OutboundResponse:
    """The answer a handler gives to one request. A handler may also return
    a dict ``{status=200, headers=[], body=str|bytes|None}`` (or ``json``:
    any JSON-able value, sent as ``application/json``)."""

    #: The HTTP status (a 3xx with ``location`` is followed as a redirect).
    status: int = 200
    headers: Headers = field(default_factory=list)
    #: The body the app reads, under the host's size limit.
    body: bytes = b""

    @classmethod
    def empty(cls, status: int = 200) -> "OutboundResponse":
        """An empty answer with ``status``."""
        return cls(status)

    @classmethod
    def json(cls, value: Any) -> "OutboundResponse":
        """200 with ``value`` as ``application/json``."""
        body = _json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(200, [("content-type", "application/json")], body)

    @classmethod
    def text(cls, text: str) -> "OutboundResponse":
        """200 with ``text`` as ``text/plain``."""
        return cls(200, [("content-type", "text/plain; charset=utf-8")], text.encode())

    def with_status(self, status: int) -> "OutboundResponse":
        """A copy with another status."""
        return dataclasses.replace(self, status=status)

    def with_header(self, name: str, value: str) -> "OutboundResponse":
        """A copy with one more header."""
        return dataclasses.replace(self, headers=[*self.headers, (name, value)])

    def with_body(self, body: Union[str, bytes]) -> "OutboundResponse":
        """A copy with another body."""
        return dataclasses.replace(self, body=body.encode() if isinstance(body, str) else bytes(body))


def header_pairs(headers: Union[Mapping[str, str], Sequence[Sequence[str]], None]) -> Headers:
    """A dict or ``(name, value)`` pairs as a list of pairs."""
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return [(str(name), str(value)) for name, value in headers.items()]
    return [(str(name), str(value)) for name, value in headers]


def response_of(value: Any) -> OutboundResponse:
    """What a handler returned, as a response; TypeError when it is neither
    an :class:`OutboundResponse` nor a dict of one."""
    if isinstance(value, OutboundResponse):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"it returned {value!r}: return an OutboundResponse or a dict "
                        "{status, headers, body}")
    unknown = set(value) - {"status", "headers", "body", "json"}
    if unknown:
        raise TypeError(f"it returned a dict with {sorted(unknown)}: a response has status, headers, "
                        "body (or json)")
    headers = header_pairs(value.get("headers"))
    if "json" in value:
        if "body" in value:
            raise TypeError("it returned both body and json: give one")
        body = _json.dumps(value["json"], ensure_ascii=False, separators=(",", ":")).encode()
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("content-type", "application/json"))
    else:
        raw = value.get("body")
        body = b"" if raw is None else raw.encode() if isinstance(raw, str) else bytes(raw)
    status = value.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool):
        raise TypeError(f"it returned the status {status!r}: give an int")
    return OutboundResponse(status, headers, body)
