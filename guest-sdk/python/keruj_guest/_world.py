"""The WIT exports of the world ``app`` for an :class:`App`: what the module
``python -m keruj_guest build`` generates binds (``WitWorld = world_for(...)``).
Imported only inside a component, where ``wit_world`` exists."""

from __future__ import annotations

from types import ModuleType

from . import app as _app
from .capabilities import log

# Loaded now, while componentize-py pre-initialises the app: a module first
# imported later, inside an event, is not found in the component.
from wit_world.imports import config, http, keruj_api, kv, schedules, secrets, webhooks  # noqa: F401
from wit_world.imports import log as _wit_log  # noqa: F401


def _log_error(text: str) -> None:
    # A plugin's stderr goes nowhere: an unexpected error's traceback goes to the host's log.
    log.error(text)


def world_for(module: ModuleType) -> type:
    """The ``WitWorld`` class for the module's ``app`` (an :class:`App` instance or subclass)."""
    from componentize_py_types import Err
    from wit_world import WitWorld as Protocol
    from wit_world.imports import types

    app = getattr(module, "app", None)
    if isinstance(app, type) and issubclass(app, _app.App):
        app = app()
    if not isinstance(app, _app.App):
        raise TypeError(f"{module.__name__} must define `app`, an instance of keruj_guest.App "
                        f"(say `app = Hello()`), not {type(app).__name__}")

    class WitWorld(Protocol):
        def handle_event(self, event: types.Event) -> types.Outcome:
            try:
                reply = _app.handle_event(app, event.name, event.company_id, event.account_id,
                                          event.body, _log_error)
            except _app.Failure as failure:
                raise Err(failure.message) from None
            if reply is _app.DONE:
                return types.Outcome_Done()
            return types.Outcome_Reply(reply)

        def health(self) -> None:
            try:
                _app.health(app, _log_error)
            except _app.Failure as failure:
                raise Err(failure.message) from None

    return WitWorld
