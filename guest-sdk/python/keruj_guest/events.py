"""Keruj events, typed: the same classification as ``keruj_guest::event``.

Match on them::

    match event:
        case Configure(): ...
        case Submit(name="name_submitted"): ...
        case Scheduled(event="sync_orders"): ...
        case Delivery(name="status"): ...
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Tuple, Union

from .errors import KerujError

#: Keruj installed the app for a company.
INSTALL = "application_install"
#: The user opened the app's settings.
CONFIGURE = "application_configure"
#: Keruj updated the app's installation.
UPDATE = "application_update"
#: Keruj uninstalled the app; the host deletes the company's data afterwards.
UNINSTALL = "application_uninstall"


@dataclass(frozen=True)
class Install:
    """``application_install``: the host already stored the install and its API key."""
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Configure:
    """``application_configure``: the user opened the settings; answer with a form."""


@dataclass(frozen=True)
class Update:
    """``application_update``: Keruj updated the installation."""
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Uninstall:
    """``application_uninstall``: afterwards the host deletes everything stored for the company."""


@dataclass(frozen=True)
class Submit:
    """The user submitted a form: ``name`` is the form's ``reply``."""
    name: str
    data: dict

    def get(self, field: str) -> Any:
        """The raw answer ``field``, or None."""
        return self.data.get(field)

    def text(self, field: str) -> Optional[str]:
        """The answer as trimmed text; None when absent, blank or not text."""
        value = self.data.get(field)
        if not isinstance(value, str) or not value.strip():
            return None
        return value.strip()

    def number(self, field: str) -> Optional[float]:
        """The answer as a finite number (a JSON number or numeric text); else None."""
        value = self.data.get(field)
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            return value if math.isfinite(value) else None
        if isinstance(value, str) and value.strip():
            try:
                parsed = float(value.strip())
            except ValueError:
                return None
            if not math.isfinite(parsed):
                return None
            return int(parsed) if parsed.is_integer() and "." not in value and "e" not in value.lower() else parsed
        return None

    def checked(self, field: str) -> bool:
        """Whether a checkbox was ticked: ``true``, ``"true"``, ``"on"``, ``"1"`` or ``1``."""
        value = self.data.get(field)
        if value is True or (value == 1 and not isinstance(value, bool)):
            return True
        return isinstance(value, str) and value.strip().lower() in ("true", "on", "1")

    def choice(self, field: str, options: Sequence[str]) -> Optional[str]:
        """The answer if it is one of ``options`` (a select's values); else None."""
        value = self.text(field)
        return value if value is not None and value in options else None


@dataclass(frozen=True)
class Scheduled:
    """A run of a sidecar ``[[schedule]]`` or of one made with ``schedules``, for one company."""
    #: The event the schedule names.
    event: str
    #: The due time this run is for, RFC 3339 in UTC (``2026-12-03T09:00:00Z``).
    due: str
    #: 1, then 2, 3 ... when the host tries the due time again after a failure.
    attempt: int
    #: The id ``schedules`` returned; empty for a sidecar ``[[schedule]]``.
    id: str = ""
    #: The payload given to ``schedules``, parsed; None for a sidecar ``[[schedule]]``.
    payload: Any = None


@dataclass(frozen=True)
class Delivery:
    """A webhook delivery: a request a third party sent to the company's URL,
    verified by the host."""
    #: The event the sidecar's ``[[webhook]]`` names.
    event: str
    #: The webhook's ``name`` (the key of its URL in ``ctx.webhooks``).
    name: str
    #: The delivery's id.
    id: str
    #: The request's method, as ``POST``.
    method: str
    #: The URL's raw query, without ``?``; empty when none.
    query: str
    #: The request's headers as ``(name, value)`` pairs, in order (a name may repeat).
    headers: List[Tuple[str, str]]
    #: The request's body as UTF-8 text.
    body: str
    #: The label given to ``webhooks.mint`` for a minted URL; empty for the sidecar's URL.
    label: str = ""

    def header(self, name: str) -> Optional[str]:
        """The first header ``name`` (any case), or None."""
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    def json(self) -> Any:
        """The body read as JSON; raises :class:`KerujError` when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise KerujError(f"the delivery's body is not JSON: {error}") from None


@dataclass(frozen=True)
class Other:
    """Any other event, by name, with the whole JSON body."""
    name: str
    body: Any


Event = Union[Install, Configure, Update, Uninstall, Submit, Scheduled, Delivery, Other]


def _scheduled(schedule: Any) -> Optional[Scheduled]:
    """A Scheduled for a well-formed ``schedule`` object, else None."""
    if not isinstance(schedule, dict):
        return None
    event, due, attempt = schedule.get("event"), schedule.get("due"), schedule.get("attempt")
    if not isinstance(event, str) or not isinstance(due, str):
        return None
    # ``attempt`` as Rust's u32.
    if not isinstance(attempt, int) or isinstance(attempt, bool) or not 0 <= attempt <= 0xFFFFFFFF:
        return None
    # A sidecar ``[[schedule]]``'s run has no id (empty, as for an id that is
    # not text, like Rust) and no payload.
    id_ = schedule.get("id")
    return Scheduled(event, due, attempt, id_ if isinstance(id_, str) else "", schedule.get("payload"))


def _delivery(event: str, webhook: Any) -> Optional[Delivery]:
    """A Delivery for a well-formed ``webhook`` object, else None."""
    if not isinstance(webhook, dict):
        return None
    fields = [webhook.get(key) for key in ("name", "id", "method", "query", "body")]
    if not all(isinstance(value, str) for value in fields):
        return None
    headers = webhook.get("headers")
    if not isinstance(headers, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)
            for pair in headers):
        return None
    # No ``label`` (or one that is not text, like Rust): a delivery to the sidecar's URL.
    label = webhook.get("label")
    name, id_, method, query, body = fields
    return Delivery(event, name, id_, method, query, [(k, v) for k, v in headers], body,
                    label if isinstance(label, str) else "")


def webhooks_from_body(body: Any) -> dict:
    """The company's webhook URLs by name, from an event's body: empty when it
    has none (the app declares no ``[[webhook]]``). Entries that are not text
    are left out."""
    webhooks = body.get("webhooks") if isinstance(body, dict) else None
    if not isinstance(webhooks, dict):
        return {}
    return {name: url for name, url in webhooks.items() if isinstance(url, str)}


def from_body(name: str, body: Any) -> Event:
    """Classifies a body by its event name. For a non-system event: a
    ``schedule`` object makes a :class:`Scheduled`, a ``webhook`` object a
    :class:`Delivery` (either one with fields of other types: :class:`Other`),
    then a ``data`` object makes a form submission."""
    data = body.get("data") if isinstance(body, dict) else None
    data = data if isinstance(data, dict) else None
    if name == INSTALL:
        return Install(data or {})
    if name == CONFIGURE:
        return Configure()
    if name == UPDATE:
        return Update(data or {})
    if name == UNINSTALL:
        return Uninstall()
    if isinstance(body, dict) and isinstance(body.get("schedule"), dict):
        return _scheduled(body["schedule"]) or Other(name, body)
    if isinstance(body, dict) and isinstance(body.get("webhook"), dict):
        return _delivery(name, body["webhook"]) or Other(name, body)
    if data is not None:
        return Submit(name, data)
    return Other(name, body)
