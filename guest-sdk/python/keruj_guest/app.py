"""The app's shape and the adapter to the WIT world ``app``: an author
subclasses :class:`App`; ``python -m keruj_guest build`` exports it."""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Union

from .errors import KerujError
from .events import Event, from_body, webhooks_from_body
from .form import Form


class _Done:
    """Handled: Keruj gets 200 with an empty body."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DONE"


#: The answer to an event that is handled.
DONE = _Done()

Reply = Union[_Done, Form]




@dataclass(frozen=True)
class Context:
    """Who the event is about."""
    #: The company the event is for.
    company_id: str
    #: The Keruj account that triggered it; empty when Keruj sent none.
    account_id: str
    #: The event's name as Keruj sent it.
    event_name: str
    #: The company's webhook URLs by the sidecar's ``name``; empty when the app declares none.
    webhooks: dict = field(default_factory=dict)


class App:
    """A Keruj app. The host makes a fresh instance for every event, so an app
    keeps nothing in memory between events."""

    def handle(self, ctx: Context, event: Event) -> Reply:
        """Answers one event: :data:`DONE` or a :class:`Form`; raise to fail."""
        raise NotImplementedError("an App must define handle(self, ctx, event)")

    def health(self) -> None:
        """Whether the app can serve now; raise to say why not. The default says yes."""


class Failure(Exception):
    """What the adapter hands the bindings for an ``err``."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _message(error: BaseException) -> str:
    return str(error) or type(error).__name__


def handle_event(app: App, name: str, company_id: str, account_id: str, body: str,
                 log_error: Callable[[str], None] = lambda _: None) -> Union[_Done, str]:
    """Runs ``app`` on one event: DONE, or a reply's JSON; raises Failure."""
    try:
        parsed: Any = json.loads(body)
    except ValueError as error:
        raise Failure(f"the host sent a body that is not JSON: {error}") from None
    ctx = Context(company_id=company_id, account_id=account_id, event_name=name,
                  webhooks=webhooks_from_body(parsed))
    try:
        reply = app.handle(ctx, from_body(name, parsed))
        if reply is DONE:
            return DONE
        if isinstance(reply, Form):
            return reply.validate().to_json()
        raise KerujError(f"handle returned {'nothing' if reply is None else type(reply).__name__}: "
                         "return DONE or a Form")
    except KerujError as error:
        raise Failure(_message(error)) from None
    except Exception as error:
        log_error(traceback.format_exc())
        raise Failure(_message(error)) from None


def health(app: App, log_error: Callable[[str], None] = lambda _: None) -> None:
    """Runs ``app.health``; raises Failure with its reason."""
    try:
        app.health()
    except KerujError as error:
        raise Failure(_message(error)) from None
    except Exception as error:
        log_error(traceback.format_exc())
        raise Failure(_message(error)) from None
