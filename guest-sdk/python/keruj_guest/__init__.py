"""keruj_guest: write Keruj integration apps for keruj-host in Python.

Subclass :class:`App`, name an instance ``app`` in your module, and build it
with ``python -m keruj_guest build app.py`` (see README.md)::

    from keruj_guest import App, DONE, Form, text
    from keruj_guest.events import Configure, Submit

    class Hello(App):
        def handle(self, ctx, event):
            match event:
                case Configure():
                    return Form("name_submitted", "Who are you?", elements=[text("name", "Name")])
                case _:
                    return DONE

    app = Hello()

Scheduled runs and webhook deliveries arrive as :class:`events.Scheduled` and
:class:`events.Delivery`; ``ctx.webhooks`` has the company's webhook URLs.
:class:`schedules` and :class:`webhooks` make more of them at run time.
"""

from . import events
from .app import DONE, App, Context, KerujError
from .capabilities import (
    After, At, Cron, Every, Minted, Response, Schedule, config, http, keruj, kv, log, schedules, secrets,
    webhooks,
)
from .form import (
    ELEMENT_TYPES, MAX_ELEMENTS, MAX_REPLY_BYTES, Element, Form, FormError, checkbox, info,
    is_event_name, number, password, select, text, textarea,
)

__all__ = [
    "App", "Context", "DONE", "KerujError", "events",
    "Form", "Element", "FormError", "ELEMENT_TYPES", "MAX_ELEMENTS", "MAX_REPLY_BYTES",
    "text", "password", "textarea", "number", "checkbox", "select", "info", "is_event_name",
    "log", "kv", "secrets", "config", "http", "keruj", "Response",
    "schedules", "Schedule", "At", "After", "Every", "Cron", "webhooks", "Minted",
]
