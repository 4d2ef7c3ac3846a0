"""What the host starts on its own, fired by the test without waiting: a
sidecar schedule's run now, a schedule the app made, webhook deliveries
through the host's own verification and deduplication; and what the app made
at run time (contract 0.2.0)."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Sequence, Union

from . import _wire
from ._answer import Answer, Delivery, MadeSchedule, MintedWebhook, header_pairs
from ._binary import Error
from ._client import Body, _bytes, _DevApi, _encode, _error_of

#: Headers of a delivery: a dict or ``(name, value)`` pairs.
HeadersIn = Union[Mapping[str, str], Sequence[Sequence[str]], None]


class _Triggers(_DevApi):
    """The triggers part of :class:`TestApp`."""

    def run_schedule(self, event: str) -> Answer:
        """Fires the sidecar schedule of ``event`` for the current company now,
        as the scheduler does at its due time (``due`` now, ``attempt`` 1).
        Raises :class:`Error` if the sidecar declares no such schedule."""
        status, run = self._try_api("POST", "/_dev/api/run-schedule",
                                    {"app": self._name, "company": self._company, "event": event})
        if status != 200:
            raise Error(f"{_error_of(run)} (declare it with the schedules option)")
        return self._run_answer(run)

    def webhook_url(self, name: str) -> str:
        """The URL of the webhook ``name`` for the current company, as the app
        gets it in its events' ``webhooks``. The company must be installed."""
        hooks = [hook for hook in self._triggers().get("webhooks") or [] if isinstance(hook, dict)]
        hook = next((hook for hook in hooks if hook.get("name") == name), None)
        if hook is None:
            names = ", ".join(str(hook.get("name")) for hook in hooks) or "none"
            raise Error(f"{self._name} has no [[webhook]] named {name!r} (it has: {names}): declare it "
                        "with the webhooks option")
        url = hook.get("url")
        if not isinstance(url, str):
            raise Error(f"{self._company} has not installed {self._name}: call "
                        f"install({self._company!r}) first")
        return url

    def deliver_webhook(self, name: str, headers: HeadersIn = None, body: Body = b"") -> Delivery:
        """POSTs ``body`` with ``headers`` to the current company's webhook
        ``name``, as a third party would: sign the headers yourself, or leave
        them out to see the 401 an unsigned delivery gets."""
        return self.deliver_webhook_to(self.webhook_url(name), headers, body)

    def deliver_webhook_to(self, url: str, headers: HeadersIn = None, body: Body = b"") -> Delivery:
        """:meth:`deliver_webhook` to any of the host's webhook URLs: one the
        app minted (:meth:`minted_webhooks`), say."""
        at = url.find("/hooks/")
        if at < 0:
            raise Error(f"the host gave a webhook URL without /hooks/: {url}")
        answer = _wire.call(self._running.host, self._running.port, "POST", url[at:],
                            header_pairs(headers), _bytes(body))
        self._raise_handler_failure()
        if answer.status == 200:
            return Delivery(200, "")
        text = answer.body.decode("utf-8", "replace")
        try:
            error = json.loads(text).get("error")
            message = error if isinstance(error, str) else text
        except (ValueError, AttributeError):
            message = text
        return Delivery(answer.status, message)

    def deliver_signed(self, name: str, body: Body) -> Delivery:
        """Delivers ``body`` to the current company's webhook ``name`` signed
        as its provider would sign it, with the configured secret: the
        variable's value for ``env:VAR``, the company's stored secret for
        ``secret:<name>`` (seed it with :meth:`secret_set`, or let the app
        store it)."""
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        status, sent = self._try_api("POST", "/_dev/api/deliver",
                                     {"app": self._name, "company": self._company, "name": name, "body": text})
        if status != 200:
            raise Error(_error_of(sent))
        self._keep_logs(sent)
        self._raise_handler_failure()
        unsigned = (sent.get("request") or {}).get("unsigned_because")
        if isinstance(unsigned, str):
            raise Error(f"keruj-host cannot sign for webhook {name}: {unsigned}")
        error = sent.get("error")
        return Delivery(sent.get("status") or 0, error if isinstance(error, str) else "")

    def made_schedules(self) -> List[MadeSchedule]:
        """The schedules the app made for the current company, oldest first."""
        made = [m for m in self._triggers().get("made") or [] if isinstance(m, dict)]
        return [MadeSchedule(id=str(m.get("id", "")), event=str(m.get("event", "")), once=m.get("when") == "once",
                             payload=m.get("payload")) for m in made]

    def run_made_schedule(self, id: str) -> Answer:
        """Fires the made schedule ``id`` now, as the scheduler does at its due
        time (``attempt`` 1, its ``id`` and ``payload``). A one-off the app
        handled is gone afterwards, as it would be."""
        status, run = self._try_api("POST", "/_dev/api/run-schedule",
                                    {"app": self._name, "company": self._company, "id": id})
        if status != 200:
            raise Error(_error_of(run))
        return self._run_answer(run)

    def minted_webhooks(self) -> List[MintedWebhook]:
        """The webhook URLs the app minted for the current company, oldest
        first. Deliver to one with :meth:`deliver_webhook_to`."""
        minted = [m for m in self._triggers().get("minted") or [] if isinstance(m, dict)]
        return [MintedWebhook(str(m.get("name", "")), str(m.get("label", "")), str(m.get("url", "")))
                for m in minted]

    def _triggers(self) -> Dict[str, Any]:
        """The dev API's list of the app's triggers for the current company."""
        return self._api("GET", f"/_dev/api/triggers?app={_encode(self._name)}&company={_encode(self._company)}")

    def _run_answer(self, run: Mapping[str, Any]) -> Answer:
        """What a run the dev API fired came to, its log kept."""
        self._keep_logs(run)
        self._raise_handler_failure()
        status = run.get("status")
        if status == 200:
            return Answer(Answer.DONE)
        error = run.get("error")
        return Answer(Answer.ERROR, status=status if isinstance(status, int) else 0,
                      message=error if isinstance(error, str) else "")
