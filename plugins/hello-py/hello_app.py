"""`hello` in Python: the smallest complete Keruj app, as plugins/hello.

Install, update, uninstall: done. Configure: a form asking for a name. The
submitted form: done (the name is kept), or the same form again with an error
when the name is empty. Any other event: a form that echoes what the app
received. Two more show the SDK's capabilities: `whoami` reads back the name
kept in kv, and `fetch` (data `{url}`) calls out through the host. `remind`
(data `{after}`, seconds) schedules a one-off `reminder` run for the company
(contract 0.2.0), which logs the name kept in kv.
"""

import json

from keruj_guest import DONE, App, Form, KerujError, http, info, kv, log, schedules, text
from keruj_guest.events import Configure, Install, Other, Scheduled, Submit, Uninstall, Update

#: The event the name form comes back as.
NAME_SUBMITTED = "name_submitted"


def name_form() -> Form:
    return Form(NAME_SUBMITTED, "Say hello", description="Tell us who you are",
                elements=[text("name", "Your name", required=True)])


def echo(name: str, received) -> Form:
    """A read-only form showing the event's name and what came with it."""
    return Form("echo_seen", f"Echo: {name}",
                elements=[info("received", json.dumps(received, ensure_ascii=False, separators=(",", ":")))])


def note(title: str, line: str) -> Form:
    """A read-only form with one line for the user."""
    return Form("note_seen", title, elements=[info("seen", line)])


def fetch_note(url: str) -> Form:
    """Calls `url` through the host and shows the status and body, or why not."""
    try:
        response = http.get(url)
    except KerujError as error:
        return note("Fetched", f"error: {error}")
    return note("Fetched", f"{response.status} {response.text()}")


class Hello(App):
    def handle(self, ctx, event):
        match event:
            case Install() | Update() | Uninstall():
                return DONE
            case Configure():
                return name_form()
            case Submit(name="name_submitted"):
                name = event.text("name")
                if name is None:
                    return name_form().with_error("name", "Please type your name")
                kv.set_json("greeted", {"name": name})
                log.info(f"{name} said hello for {ctx.company_id}")
                return DONE
            case Submit(name="fetch"):
                return fetch_note(event.text("url") or "")
            case Submit(name="remind"):
                greeted = kv.get_json("greeted") or {"name": "nobody"}
                seconds = int(event.text("after") or "60")
                return note("Reminder", schedules.after("reminder", seconds, {"name": greeted["name"]}))
            case Scheduled(event="reminder", payload=payload):
                log.info(f"reminder for {payload['name']}")
                return DONE
            case Submit(name=name, data=data):
                return echo(name, data)
            case Other(name="whoami"):
                greeted = kv.get_json("greeted")
                return note("Who am I", f"Hello, {greeted['name']}" if greeted else "Nobody said hello yet")
            case Other(name=name, body=body):
                return echo(name, body)


app = Hello()
