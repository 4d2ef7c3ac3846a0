"""Test a Keruj app in seconds: the app's component served by the
``keruj-host`` binary you already installed (``keruj-host dev`` on a free
loopback port, over temporary folders), events sent as Keruj sends them,
typed answers, the company's stored data at hand, and the app's outbound
HTTP answered by the test (no network). The port of the Rust ``keruj-test``
crate: the same behaviour, the same dev API calls, the same messages.

Nothing is mocked: every call goes over loopback to the real host, with the
same lifecycle, form validation, storage, limits and outbound grant as in
production. Only the network is replaced: every call the app makes and every
Keruj API call goes to the test's handlers, after the app's
``allowed_hosts``, call count and size limits are applied.

The binary is ``KERUJ_HOST_BIN`` if set, else ``keruj-host`` on ``PATH``;
without one, starting fails with the command that installs it::

    from keruj_guest.testing import OutboundResponse, TestApp

    def check(request):
        assert request.host() == "api.example.com"
        return OutboundResponse.json({"valid": request.json()["key"] == "k-1"})

    with TestApp.build("app.py", allow_hosts=["api.example.com"], on_http=check) as app:
        app.install("company-1").expect_done()
        form = app.configure().expect_form()
        assert form["reply"] == "key_submitted"
        app.submit("key_submitted", {"key": "k-1"}).expect_done()
        assert app.secret_get("company-1", "key") == "k-1"

A handler that raises (a failed ``assert`` on the request, say) fails the
test at the event that made the call; the app meanwhile got a 500.

This module uses subprocess and http.server: it is for the tests, never
imported by ``keruj_guest`` itself, so a component never holds it.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import weakref
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

from . import _wire
from ._answer import (
    Answer, Delivery, MadeSchedule, MintedWebhook, OutboundRequest, OutboundResponse, answer_of,
)
from ._binary import BIN_VAR, Error, Running, find as _find_binary
from ._client import ACCOUNT_ID, DEFAULT_COMPANY
from ._data import _Data
from ._outbound import KERUJ_API_URL, Handler, _Outbound
from ._sidecar import to_toml
from ._triggers import _Triggers

__all__ = [
    "TestApp", "Answer", "Delivery", "MadeSchedule", "MintedWebhook", "OutboundRequest",
    "OutboundResponse", "Error", "Handler",
    "ACCOUNT_ID", "DEFAULT_COMPANY", "KERUJ_API_URL", "BIN_VAR",
]

Error.__module__ = __name__  # Shown as keruj_guest.testing.Error in a test's traceback.

# The lifecycle events, as Keruj names them.
INSTALL = "application_install"
CONFIGURE = "application_configure"
UNINSTALL = "application_uninstall"

PathLike = Union[str, "os.PathLike[str]"]

_APP_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}\Z")


class _Setup:
    """The keyword options of :meth:`TestApp.build` and :meth:`TestApp.load`."""

    def __init__(self, name: Optional[str] = None, allow_hosts: Iterable[str] = (),
                 config: Optional[Mapping[str, str]] = None, sidecar: Optional[Mapping[str, Any]] = None,
                 schedules: Iterable[Mapping[str, str]] = (), webhooks: Iterable[Mapping[str, Optional[str]]] = (),
                 on_http: Optional[Handler] = None, on_keruj_api: Optional[Handler] = None,
                 binary: Optional[PathLike] = None) -> None:
        if isinstance(allow_hosts, str):
            raise TypeError("allow_hosts is a list of hosts, not one string")
        self.name = name
        self.allow_hosts = list(allow_hosts)
        self.config = dict(config or {})
        self.sidecar = dict(sidecar or {})
        self.schedules = [dict(schedule) for schedule in schedules]
        self.webhooks = [dict(webhook) for webhook in webhooks]
        self.on_http = on_http
        self.on_keruj_api = on_keruj_api
        self.binary = binary

    def sidecar_text(self) -> str:
        """``<app>.toml``: the other settings, then the grant, ``[config]``,
        ``[[schedule]]`` and ``[[webhook]]`` tables."""
        settings: Dict[str, Any] = dict(self.sidecar)
        for key, added in (("schedule", self.schedules), ("webhook", self.webhooks)):
            if added:
                settings[key] = [*settings.get(key, []), *added]
        settings["allowed_hosts"] = self.allow_hosts
        settings["config"] = {str(key): str(value) for key, value in self.config.items()}
        return to_toml(settings)


class TestApp(_Data, _Triggers):
    """An app served by ``keruj-host dev`` on temporary folders, driven as
    Keruj drives it. Start one with :meth:`build` or :meth:`load`; stop it
    with :meth:`close` or a ``with`` block (the host and its folders go;
    also when the object is collected or the interpreter exits)."""

    __test__ = False  # Not a test class, whatever its name says to pytest.

    def __init__(self, name: str, folder: Path, running: Running, server: _wire.Server,
                 outbound: _Outbound) -> None:
        """Internal: use :meth:`build` or :meth:`load`."""
        self._name = name
        self._folder = folder
        self._running = running
        self._server = server
        self._outbound = outbound
        self._company = DEFAULT_COMPANY
        self._api_keys: Dict[str, str] = {}
        self._last_logs: List[str] = []
        self._closer = weakref.finalize(self, _shut_down, running, server, folder)

    # -- starting -------------------------------------------------------

    @classmethod
    def build(cls, module_path: PathLike, *, name: Optional[str] = None, allow_hosts: Iterable[str] = (),
              config: Optional[Mapping[str, str]] = None, sidecar: Optional[Mapping[str, Any]] = None,
              schedules: Iterable[Mapping[str, str]] = (), webhooks: Iterable[Mapping[str, Optional[str]]] = (),
              on_http: Optional[Handler] = None, on_keruj_api: Optional[Handler] = None,
              binary: Optional[PathLike] = None) -> "TestApp":
        """Builds the app module at ``module_path`` (say ``app.py``) with
        ``keruj_guest.build`` into the temporary folder, then serves it.

        ``name``: the app id [default: the module's stem with ``_`` as ``-``];
        ``allow_hosts``: the sidecar's ``allowed_hosts``; ``config``: its
        ``[config]``; ``sidecar``: other settings (``timeout_ms``,
        ``http_timeout_ms``...); ``schedules``: ``[{"event", "every"}]``;
        ``webhooks``: ``[{"name", "event", "verify", "secret"?}]``;
        ``on_http`` / ``on_keruj_api``: the handlers of the app's outbound
        calls and Keruj API calls (without one they get 502); ``binary``: the
        ``keruj-host`` to run [default: ``KERUJ_HOST_BIN``, else ``PATH``]."""
        setup = _Setup(name, allow_hosts, config, sidecar, schedules, webhooks, on_http, on_keruj_api, binary)
        module = Path(module_path)
        return cls._start(setup, setup.name or module.stem.replace("_", "-"), built_from=module)

    @classmethod
    def load(cls, wasm_path: PathLike, *, name: Optional[str] = None, allow_hosts: Iterable[str] = (),
             config: Optional[Mapping[str, str]] = None, sidecar: Optional[Mapping[str, Any]] = None,
             schedules: Iterable[Mapping[str, str]] = (), webhooks: Iterable[Mapping[str, Optional[str]]] = (),
             on_http: Optional[Handler] = None, on_keruj_api: Optional[Handler] = None,
             binary: Optional[PathLike] = None) -> "TestApp":
        """Serves the component at ``wasm_path`` [``name`` default: its file
        stem]; the options are :meth:`build`'s."""
        setup = _Setup(name, allow_hosts, config, sidecar, schedules, webhooks, on_http, on_keruj_api, binary)
        wasm = Path(wasm_path)
        return cls._start(setup, setup.name or wasm.stem, wasm=wasm)

    @classmethod
    def _start(cls, setup: _Setup, name: str, wasm: Optional[Path] = None,
               built_from: Optional[Path] = None) -> "TestApp":
        if not _APP_NAME.match(name):
            raise Error(f"{name!r} is not a valid app id (1 to 63 of a-z, 0-9, `_` and `-`, starting with "
                        "a letter or digit): choose one with name=...")
        # The binary first: no point building the app without it.
        binary = _find_binary(setup.binary)
        folder = Path(tempfile.mkdtemp(prefix="keruj-test-"))
        server: Optional[_wire.Server] = None
        running: Optional[Running] = None
        try:
            plugins = folder / "plugins"
            plugins.mkdir()
            target = plugins / f"{name}.wasm"
            if built_from is not None:
                _build(built_from, target)
            else:
                assert wasm is not None
                try:
                    shutil.copyfile(wasm, target)
                except OSError:
                    raise Error(f"cannot read the app {wasm}: build it first (python -m keruj_guest build "
                                "app.py) or use TestApp.build") from None
            (plugins / f"{name}.toml").write_text(setup.sidecar_text(), "utf-8")
            outbound = _Outbound(setup.on_http, setup.on_keruj_api)
            server = _wire.Server(outbound)
            running = Running.start(binary, plugins, folder / "data", folder / "keruj-host.log", server.url,
                                    KERUJ_API_URL)
            app = cls(name, folder, running, server, outbound)
        except BaseException:
            _shut_down(running, server, folder)
            raise
        try:
            app._check_loaded()
        except BaseException:
            app.close()
            raise
        return app

    def close(self) -> None:
        """Stops the host and the outbound server, deletes the folders. Safe
        to call twice."""
        self._closer()

    def __enter__(self) -> "TestApp":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading --------------------------------------------------------

    @property
    def name(self) -> str:
        """The app id."""
        return self._name

    @property
    def url(self) -> str:
        """The host's address, ``http://127.0.0.1:PORT`` (its ``/_dev/api``
        and the app's routes)."""
        return f"http://{self._running.addr}"

    @property
    def folder(self) -> Path:
        """The folder of the host's plugins, data and log."""
        return self._folder

    def company(self) -> str:
        """The company events go to now."""
        return self._company

    def use_company(self, company: str) -> None:
        """Sends the next events for ``company``, without installing."""
        self._company = company

    def api_key(self, company: str) -> Optional[str]:
        """The ``account_api_key`` :meth:`install` sent for ``company``: the
        key the app's Keruj API calls must carry."""
        return self._api_keys.get(company)

    def requests(self) -> List[OutboundRequest]:
        """Every outbound request the app made so far, Keruj API calls
        included, in order, as the handlers saw them."""
        with self._outbound.lock:
            return list(self._outbound.requests)

    def last_logs(self) -> List[str]:
        """What the app logged while the host handled the last event,
        schedule run or delivery, as ``LEVEL message`` lines."""
        return list(self._last_logs)

    # -- events ---------------------------------------------------------

    def install(self, company: str) -> Answer:
        """``application_install`` for ``company``, with a newly generated
        ``account_api_key`` (:meth:`api_key`); the next events go to it."""
        self.use_company(company)
        return self.event(INSTALL, {})

    def configure(self) -> Answer:
        """``application_configure`` for the current company."""
        return self.event(CONFIGURE, {})

    def submit(self, reply: str, data: Mapping[str, Any]) -> Answer:
        """The user's answers to a form: the event ``reply`` (the form's
        ``reply``) with ``data``, the answers by element name."""
        return self.event(reply, {"data": dict(data)})

    def uninstall(self) -> Answer:
        """``application_uninstall`` for the current company: the host deletes
        all it holds for the company, whatever the app answers."""
        return self.event(UNINSTALL, {})

    def event(self, name: str, body: Optional[Mapping[str, Any]] = None) -> Answer:
        """Any event ``name`` for the current company; ``body``'s fields go
        beside ``event``, ``company_id`` and ``account_id`` (``account_id``
        is :data:`ACCOUNT_ID` unless given)."""
        if body is None:
            body = {}
        if not isinstance(body, Mapping):
            raise TypeError(f"the body of event {name} must be a dict, not {body!r}")
        fields = dict(body)
        fields.setdefault("account_id", ACCOUNT_ID)
        company = self._company
        sent = self._api("POST", "/_dev/api/send",
                         {"app": self._name, "event": name, "company": company, "body": fields})
        key = (sent.get("request") or {}).get("account_api_key")
        if isinstance(key, str):
            self._api_keys[company] = key
        self._keep_logs(sent)
        self._raise_handler_failure()
        return answer_of(sent)


def _build(module: Path, out: Path) -> None:
    """``keruj_guest.build`` of ``module`` into ``out``, its failure an
    :class:`Error` (the build's own output went to the terminal)."""
    from ..build import build

    print(f"keruj_guest.testing: building {module} (componentize-py)…", file=sys.stderr)
    try:
        build(module, out)
    except SystemExit as stopped:
        raise Error(f"building {module} failed: {stopped}") from None


def _shut_down(running: Optional[Running], server: Optional[_wire.Server], folder: Path) -> None:
    """The host first, so that it stops before its folders go."""
    try:
        if running is not None:
            running.stop()
        if server is not None:
            server.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
