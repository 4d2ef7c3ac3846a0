"""Helpers over the WIT imports of the world ``app``, each bound by the host to
the event's app and company. A failed call raises :class:`KerujError` with the
host's message: let it propagate (Keruj gets 500, the host logs the message)
or catch it to answer otherwise.

The bindings (``wit_world``) exist only inside a component; they are imported
when a helper is called, so the rest of the SDK runs in plain CPython too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from .errors import KerujError

T = TypeVar("T")
Headers = Union[Mapping[str, str], Sequence[Tuple[str, str]]]


def _call(fn: Callable[..., T], *args: Any) -> T:
    """Runs an import; its ``Err`` becomes a KerujError."""
    from componentize_py_types import Err

    try:
        return fn(*args)
    except Err as error:
        raise KerujError(str(error.value)) from None


def _bytes(value: Union[bytes, bytearray, str]) -> bytes:
    return bytes(value) if isinstance(value, (bytes, bytearray)) else str(value).encode("utf-8")


class log:
    """The host's log, tagged with the app, the company and the request id."""

    @staticmethod
    def _write(level: str, message: object) -> None:
        from wit_world.imports import log as wit

        wit.write(getattr(wit.Level, level), str(message))

    @staticmethod
    def trace(message: object) -> None:
        log._write("TRACE", message)

    @staticmethod
    def debug(message: object) -> None:
        log._write("DEBUG", message)

    @staticmethod
    def info(message: object) -> None:
        log._write("INFO", message)

    @staticmethod
    def warn(message: object) -> None:
        log._write("WARN", message)

    @staticmethod
    def error(message: object) -> None:
        log._write("ERROR", message)


class kv:
    """Data the app keeps for the event's company (keys up to 256 bytes, values up to 64 KiB)."""

    @staticmethod
    def get(key: str) -> Optional[bytes]:
        """The bytes under ``key``, or None."""
        from wit_world.imports import kv as wit

        return _call(wit.get, key)

    @staticmethod
    def get_text(key: str) -> Optional[str]:
        """The value under ``key`` read as UTF-8 (invalid bytes replaced), or None."""
        value = kv.get(key)
        return None if value is None else value.decode("utf-8", "replace")

    @staticmethod
    def get_json(key: str) -> Any:
        """The value under ``key`` read as JSON, or None."""
        value = kv.get(key)
        if value is None:
            return None
        try:
            return json.loads(value)
        except ValueError as error:
            raise KerujError(f"kv {json.dumps(key, ensure_ascii=False)} is not JSON: {error}") from None

    @staticmethod
    def set(key: str, value: Union[bytes, bytearray, str]) -> None:
        """Stores ``value`` (bytes, or text stored as UTF-8) under ``key``."""
        from wit_world.imports import kv as wit

        _call(wit.set, key, _bytes(value))

    @staticmethod
    def set_json(key: str, value: Any) -> None:
        """Stores ``value`` as JSON under ``key``."""
        kv.set(key, json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    @staticmethod
    def delete(key: str) -> None:
        """Removes ``key`` (a missing key is fine)."""
        from wit_world.imports import kv as wit

        _call(wit.delete, key)

    @staticmethod
    def keys(prefix: str = "") -> List[str]:
        """The keys that start with ``prefix``, in order."""
        from wit_world.imports import kv as wit

        return _call(wit.keys, prefix)


class secrets:
    """Secrets the app keeps for the event's company, stored encrypted."""

    @staticmethod
    def get(name: str) -> Optional[str]:
        """The secret ``name``, or None."""
        from wit_world.imports import secrets as wit

        return _call(wit.get, name)

    @staticmethod
    def set(name: str, value: str) -> None:
        """Stores the secret ``name``."""
        from wit_world.imports import secrets as wit

        _call(wit.set, name, str(value))

    @staticmethod
    def delete(name: str) -> None:
        """Removes the secret ``name`` (a missing one is fine)."""
        from wit_world.imports import secrets as wit

        _call(wit.delete, name)

    @staticmethod
    def keys(prefix: str = "") -> List[str]:
        """The names of the stored secrets that start with ``prefix``, in order."""
        from wit_world.imports import secrets as wit

        return _call(wit.keys, prefix)


class config:
    """The non-secret settings of the app's sidecar (``[config]``)."""

    @staticmethod
    def get(key: str) -> Optional[str]:
        """The setting ``key``, or None."""
        from wit_world.imports import config as wit

        return wit.get(key)

    @staticmethod
    def all() -> Dict[str, str]:
        """Every setting (the host lists them sorted by key)."""
        from wit_world.imports import config as wit

        return dict(wit.all())


class Response:
    """What came back from an outbound request."""

    def __init__(self, status: int, headers: List[Tuple[str, str]], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def header(self, name: str) -> Optional[str]:
        """The first header ``name`` (any case), or None."""
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    def text(self) -> str:
        """The body as text (invalid UTF-8 replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body read as JSON."""
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise KerujError(f"the answer is not JSON: {error}") from None

    def raise_for_status(self) -> "Response":
        """This response if 2xx, else a KerujError naming the status."""
        if not self.ok:
            raise KerujError(f"the server answered {self.status}")
        return self


def _headers(headers: Optional[Headers]) -> List[Tuple[str, str]]:
    """``headers`` (a mapping or ``(name, value)`` pairs) as pairs of text."""
    if headers is None:
        return []
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(k), str(v)) for k, v in pairs]


def _with_defaults(headers: Optional[Headers], *defaults: Tuple[str, str]) -> List[Tuple[str, str]]:
    """The caller's ``headers``, then each of ``defaults`` whose name (in any case) they lack."""
    pairs = _headers(headers)
    named = {name.lower() for name, _ in pairs}
    return pairs + [d for d in defaults if d[0] not in named]


_ACCEPT_JSON = ("accept", "application/json")
_CONTENT_JSON = ("content-type", "application/json")


class http:
    """Outbound HTTP through the host (the ``keruj:plugin/http`` import), only to
    the sidecar's ``allowed_hosts``; a refused host, a limit or a timeout raises.

    The same shape as the Rust and JavaScript SDKs: the URL, then the body if
    any, then the headers (a dict, or ``(name, value)`` pairs), by position or
    as ``headers=``. The JSON helpers send ``accept: application/json``
    (posting, ``content-type`` too) unless ``headers`` names them; a non-2xx
    answer raises a :class:`KerujError` naming the status."""

    @staticmethod
    def request(method: str, url: str, *, headers: Optional[Headers] = None,
                body: Union[bytes, bytearray, str, None] = None) -> Response:
        """Sends ``method`` to ``url`` with ``headers`` and ``body`` (bytes, text or None)."""
        from wit_world.imports import http as wit

        answer = _call(wit.send, wit.Request(
            method=method.upper(), url=url, headers=_headers(headers),
            body=b"" if body is None else _bytes(body)))
        return Response(answer.status, list(answer.headers), bytes(answer.body))

    @staticmethod
    def get(url: str, headers: Optional[Headers] = None) -> Response:
        """GETs ``url`` with ``headers``."""
        return http.request("GET", url, headers=headers)

    @staticmethod
    def post(url: str, body: Union[bytes, str], headers: Optional[Headers] = None) -> Response:
        """POSTs ``body`` (bytes or text) to ``url`` with ``headers``."""
        return http.request("POST", url, headers=headers, body=body)

    @staticmethod
    def get_json(url: str, headers: Optional[Headers] = None) -> Any:
        """GETs ``url`` with ``headers`` and reads a 2xx answer as JSON::

            me = http.get_json("https://api.example.com/v1/me",
                               headers={"authorization": f"Bearer {token}"})
        """
        return http.request("GET", url, headers=_with_defaults(headers, _ACCEPT_JSON)
                            ).raise_for_status().json()

    @staticmethod
    def post_json(url: str, value: Any, headers: Optional[Headers] = None) -> Any:
        """POSTs ``value`` as JSON to ``url`` with ``headers`` and reads a 2xx answer as JSON."""
        return http.request("POST", url, headers=_with_defaults(headers, _ACCEPT_JSON, _CONTENT_JSON),
                            body=json.dumps(value, ensure_ascii=False)).raise_for_status().json()


class keruj:
    """Keruj's GraphQL API on behalf of the event's company (the host adds its key)."""

    @staticmethod
    def graphql(query: str, variables: Optional[Mapping[str, Any]] = None) -> Any:
        """Sends ``query`` with ``variables``; returns the answer's ``data``, raises on ``errors``."""
        from wit_world.imports import keruj_api as wit

        text = _call(wit.graphql, query, json.dumps(dict(variables or {})))
        try:
            answer = json.loads(text)
        except ValueError as error:
            raise KerujError(f"Keruj's API answered something that is not JSON: {error}") from None
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if isinstance(errors, list) and errors:
            messages = [e["message"] for e in errors if isinstance(e, dict) and isinstance(e.get("message"), str)]
            raise KerujError(f"Keruj's API refused the request: {'; '.join(messages)}")
        return answer.get("data") if isinstance(answer, dict) else None


@dataclass(frozen=True)
class At:
    """Once, at ``when`` (RFC 3339)."""
    when: str


@dataclass(frozen=True)
class After:
    """Once, ``seconds`` after it was made."""
    seconds: int


@dataclass(frozen=True)
class Every:
    """Repeatedly, every ``interval`` (``90s``, ``15m``, ``1h``, ``1d``)."""
    interval: str


@dataclass(frozen=True)
class Cron:
    """Repeatedly, at the times the five-field ``expression`` names, in the IANA
    ``timezone`` (empty: UTC)."""
    expression: str
    timezone: str = ""


#: When a schedule runs, as :meth:`schedules.all` reports it.
Timing = Union[At, After, Every, Cron]


@dataclass(frozen=True)
class Schedule:
    """One of the company's run-time schedules."""
    id: str
    #: The event each run arrives as.
    event: str
    timing: Timing
    #: The payload each run carries, parsed.
    payload: Any


def _payload(value: Any) -> str:
    """``value`` as the JSON text a schedule carries; NaN and the infinities
    are refused here, since they are not JSON and the host would refuse them."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _schedule(wit: Any, listed: Any) -> Schedule:
    """A listed schedule of the bindings (``wit``) as a :class:`Schedule`, its payload parsed."""
    timing = listed.timing
    if isinstance(timing, wit.Timing_At):
        timing = At(timing.value)
    elif isinstance(timing, wit.Timing_After):
        timing = After(timing.value)
    elif isinstance(timing, wit.Timing_Every):
        timing = Every(timing.value)
    else:
        timing = Cron(timing.value.expression, timing.value.timezone)
    try:
        payload = json.loads(listed.payload)
    except ValueError as error:
        raise KerujError(f"the payload of schedule {listed.id} is not JSON: {error}") from None
    return Schedule(listed.id, listed.event, timing, payload)


class schedules:
    """Runs the app makes at run time for the event's company, beside the
    sidecar's ``[[schedule]]`` tables: each run arrives as ``event``, an
    :class:`~keruj_guest.events.Scheduled` whose ``id`` and ``payload`` are this
    schedule's. ``payload`` is any JSON-serialisable value (default None, at
    most 4 KiB as JSON). Each helper returns the schedule's id; a bad timing,
    the quota (100) or an event without a company raises :class:`KerujError`::

        schedules.after("follow_up", 600, {"order": 17})
    """

    @staticmethod
    def at(event: str, when: Union[str, datetime], payload: Any = None) -> str:
        """Once at ``when``: RFC 3339 text (``2026-12-24T09:00:00+02:00``) or an aware datetime."""
        from wit_world.imports import schedules as wit

        if isinstance(when, datetime):
            # A naive datetime names no instant: RFC 3339 needs its offset.
            if when.utcoffset() is None:
                raise ValueError("schedules.at: the datetime needs a time zone (tzinfo)")
            when = when.isoformat()
        return _call(wit.add, event, wit.Timing_At(str(when)), _payload(payload))

    @staticmethod
    def after(event: str, seconds: Union[int, timedelta], payload: Any = None) -> str:
        """Once, ``seconds`` (whole seconds, or a timedelta) from now."""
        from wit_world.imports import schedules as wit

        if isinstance(seconds, timedelta):
            seconds = int(seconds.total_seconds())
        # The binding takes a u64: a bool, a fraction or a negative is a mistake.
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise TypeError(f"schedules.after: seconds must be an int or a timedelta, not {seconds!r}")
        if not 0 <= seconds < 2 ** 64:
            raise ValueError(f"schedules.after: seconds must be 0 or more, not {seconds}")
        return _call(wit.add, event, wit.Timing_After(seconds), _payload(payload))

    @staticmethod
    def every(event: str, interval: str, payload: Any = None) -> str:
        """Repeatedly, every ``interval``: ``90s``, ``15m``, ``1h``, ``1d``."""
        from wit_world.imports import schedules as wit

        return _call(wit.add, event, wit.Timing_Every(str(interval)), _payload(payload))

    @staticmethod
    def cron(event: str, expression: str, timezone: str = "", payload: Any = None) -> str:
        """Repeatedly, at the times the cron ``expression`` names (``0 9 * * mon-fri``),
        in the IANA ``timezone`` (default UTC)."""
        from wit_world.imports import schedules as wit

        timing = wit.Timing_Cron(wit.Cron(expression=str(expression), timezone=str(timezone or "")))
        return _call(wit.add, event, timing, _payload(payload))

    @staticmethod
    def all() -> List[Schedule]:
        """The company's run-time schedules, oldest first."""
        from wit_world.imports import schedules as wit

        return [_schedule(wit, listed) for listed in _call(wit.all)]

    @staticmethod
    def cancel(id: str) -> bool:
        """Cancels the schedule ``id``; False when there was none (a one-off that ran is gone)."""
        from wit_world.imports import schedules as wit

        return _call(wit.cancel, id)


@dataclass(frozen=True)
class Minted:
    """A webhook URL minted with :meth:`webhooks.mint`."""
    #: The sidecar ``[[webhook]]`` it delivers as.
    name: str
    label: str
    url: str


class webhooks:
    """Webhook URLs minted at run time for the event's company, beside the one
    URL per sidecar ``[[webhook]]`` (say, one per shop a company connects). A
    minted URL delivers as the ``[[webhook]]`` it names, with its ``label`` in
    the :class:`~keruj_guest.events.Delivery`."""

    @staticmethod
    def mint(name: str, label: str) -> str:
        """A new URL delivering as the sidecar's webhook ``name``; ``label`` (at most 64 bytes) is the app's own."""
        from wit_world.imports import webhooks as wit

        return _call(wit.mint, name, label)

    @staticmethod
    def all() -> List[Minted]:
        """The company's minted URLs, oldest first."""
        from wit_world.imports import webhooks as wit

        return [Minted(m.name, m.label, m.url) for m in _call(wit.all)]

    @staticmethod
    def revoke(url: str) -> bool:
        """Revokes a minted URL (it answers 404 from now on); False when it was not a live one of this company."""
        from wit_world.imports import webhooks as wit

        return _call(wit.revoke, url)
