"""Keruj events, typed: the same classification as ``keruj_guest::event``.

Match on them::

    match event:
        case Configure(): ...
        case Submit(name="name_submitted"): ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

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
class Other:
    """Any other event, by name, with the whole JSON body."""
    name: str
    body: Any


Event = Union[Install, Configure, Update, Uninstall, Submit, Other]


def from_body(name: str, body: Any) -> Event:
    """Classifies a body by its event name. A non-system event that carries a
    ``data`` object is a form submission."""
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
    if data is not None:
        return Submit(name, data)
    return Other(name, body)
