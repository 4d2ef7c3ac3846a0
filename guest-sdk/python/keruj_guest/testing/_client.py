"""The dev host's API as the harness calls it (host/src/cli/console): one
JSON call, its refusal as an :class:`Error` with the host's log; the logs
and handler failures an event brings back."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Tuple, Union
from urllib.parse import quote

from . import _wire
from ._binary import Error, Running
from ._outbound import _Outbound

#: The ``account_id`` the harness sends with every event.
ACCOUNT_ID = "test-account"

#: The company events go to until ``TestApp.install`` or
#: ``TestApp.use_company`` picks another.
DEFAULT_COMPANY = "test-company"

#: What a value to store or deliver may be: text (UTF-8) or bytes.
Body = Union[str, bytes]


class _DevApi:
    """What every part of :class:`TestApp` calls the host with."""

    _name: str
    _company: str
    _running: Running
    _outbound: _Outbound
    _last_logs: List[str]

    def host_log(self) -> str:
        """The last lines of the host's own log (its stderr): where a test
        looks when an answer is a bare 500."""
        return self._running.log_tail()

    def _keep_logs(self, sent: Mapping[str, Any]) -> None:
        lines = [line for line in sent.get("logs") or [] if isinstance(line, dict)]
        self._last_logs = [f"{line.get('level') or ''} {line.get('message') or ''}" for line in lines]

    def _raise_handler_failure(self) -> None:
        """Fails the test at the event whose outbound call made a handler
        raise; the handler's exception is the cause, its traceback shown."""
        failure = self._outbound.take_failure()
        if failure is not None:
            message, error = failure
            raise AssertionError(message) from error

    def _api(self, method: str, target: str, body: Any = None) -> Dict[str, Any]:
        """One call to the dev host's API; :class:`Error`, with the host's log,
        when it answers anything but 200."""
        status, answer = self._try_api(method, target, body)
        if status != 200:
            hint = ""
            if status == 404 and target.startswith("/_dev/api/"):
                hint = "\nthis keruj-host may be older than keruj_guest.testing: install the newer one"
            raise Error(f"keruj-host refused {method} {target}: {status} {_error_of(answer)}{hint}\n"
                        f"its log:\n{self.host_log()}")
        return answer if isinstance(answer, dict) else {}

    def _try_api(self, method: str, target: str, body: Any = None) -> Tuple[int, Any]:
        """One call to the dev host's API: its status and JSON answer (the
        text when it is not JSON)."""
        data = b"" if body is None else json.dumps(body).encode()
        try:
            response = _wire.call(self._running.host, self._running.port, method, target,
                                  [("content-type", "application/json")], data)
        except Error as error:
            raise Error(f"{error}\nthe host's log:\n{self.host_log()}") from None
        try:
            return response.status, json.loads(response.body)
        except ValueError:
            return response.status, response.body.decode("utf-8", "replace")

    def _check_loaded(self) -> None:
        """Fails when the host serves no app of this name, with its reason."""
        _, listed = self._try_api("GET", "/_dev/api/apps")
        apps = listed.get("apps") if isinstance(listed, dict) else None
        app = next((a for a in apps or [] if isinstance(a, dict) and a.get("app") == self._name), None)
        if app is None:
            raise Error(f"keruj-host does not serve {self._name}; its log:\n{self.host_log()}")
        if app.get("ok") is not True:
            raise Error(f"keruj-host cannot load {self._name}: {app.get('problem') or '(no reason given)'}")


def _error_of(answer: Any) -> str:
    """The ``error`` of a dev API answer, else the answer itself."""
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        return answer["error"]
    return answer if isinstance(answer, str) else json.dumps(answer)


def _encode(text: str) -> str:
    """``text`` percent-encoded for a query string (all but the unreserved)."""
    return quote(text, safe="")


def _bytes(value: Body) -> bytes:
    """Text as UTF-8, bytes as they are."""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)
