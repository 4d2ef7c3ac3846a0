"""The builder, the events and the adapter to the WIT exports, without a host."""

import json
import unittest

from keruj_guest import DONE, App, Form, FormError, KerujError, checkbox, info, number, select, text
from keruj_guest.app import Failure, handle_event, health
from keruj_guest.events import (
    Configure, Delivery, Install, Other, Scheduled, Submit, Uninstall, Update, from_body, webhooks_from_body,
)


class Builder(unittest.TestCase):
    def test_the_documented_json(self):
        form = Form("credentials_submitted", "Connect your account", description="optional text",
                    elements=[text("api_key", "API key", required=True, secret=True),
                              select("city", "City", [("kyiv", "Kyiv")])],
                    ).with_error("api_key", "This key was refused")
        self.assertEqual(json.loads(form.to_json()), {
            "reply": "credentials_submitted",
            "title": "Connect your account",
            "description": "optional text",
            "elements": [
                {"type": "text", "name": "api_key", "label": "API key", "required": True, "secret": True},
                {"type": "select", "name": "city", "label": "City", "options": [{"value": "kyiv", "label": "Kyiv"}]},
            ],
            "errors": {"api_key": "This key was refused"},
        })
        self.assertEqual(Form.from_json(form.to_json()), form)

    def test_with_error_leaves_the_original_alone(self):
        form = Form("r", "T", elements=[text("a", "A")])
        self.assertEqual(form.with_error("a", "wrong").errors, {"a": "wrong"})
        self.assertEqual(form.errors, {})

    def test_validate_names_the_rule(self):
        cases = [
            (Form("r", "T", elements=[number("n", "N", value="4")]), "has a value that does not fit it"),
            (Form("r", "T", elements=[number("n", "N", value=True)]), "has a value that does not fit it"),
            (Form("r", "T", elements=[checkbox("c", "C", value=True), info("c", "x")]), 'two elements are named "c"'),
            (Form("r", "T").with_error("ghost", "boo"), '`errors` names "ghost", which is not an element'),
            (Form("r", "T", elements=[select("s", "S", [])]), 'select "s" has no options'),
        ]
        for form, message in cases:
            with self.subTest(message), self.assertRaises(FormError) as caught:
                form.validate()
            self.assertIn(message, str(caught.exception))


class Events(unittest.TestCase):
    def test_system_events(self):
        self.assertEqual(from_body("application_install", {"data": {"a": 1}}), Install({"a": 1}))
        self.assertEqual(from_body("application_configure", {"data": {}}), Configure())
        self.assertEqual(from_body("application_update", {}), Update({}))
        self.assertEqual(from_body("application_uninstall", {}), Uninstall())

    def test_submission_or_other(self):
        self.assertEqual(from_body("name_submitted", {"data": {"name": " Olena "}}).text("name"), "Olena")
        body = {"event": "ping", "data": [1]}
        self.assertEqual(from_body("ping", body), Other("ping", body))

    def test_typed_getters(self):
        s = Submit("s", {"blank": "  ", "n": 42, "ns": " 4.5 ", "bad": "x", "yes": True, "on": "on",
                         "no": False, "one": 1, "city": "kyiv"})
        self.assertIsNone(s.text("blank"))
        self.assertIsNone(s.text("n"))
        self.assertEqual(s.number("n"), 42)
        self.assertEqual(s.number("ns"), 4.5)
        self.assertIsNone(s.number("bad"))
        self.assertIsNone(s.number("yes"))
        self.assertTrue(s.checked("yes"))
        self.assertTrue(s.checked("on"))
        self.assertTrue(s.checked("one"))
        self.assertFalse(s.checked("no"))
        self.assertFalse(s.checked("missing"))
        self.assertEqual(s.choice("city", ["kyiv", "lviv"]), "kyiv")
        self.assertIsNone(s.choice("city", ["lviv"]))


SCHEDULE = {"event": "sync_orders", "due": "2026-12-03T09:00:00Z", "attempt": 2}
WEBHOOK = {
    "name": "status", "id": "d-1", "method": "POST", "query": "a=1&b=2",
    "headers": [["Content-Type", "application/json"], ["X-Seq", "1"], ["x-seq", "2"]],
    "body": '{"parcel": "2045", "status": "delivered"}',
}
WEBHOOKS = {"status": "https://apps.example.com/hooks/A-1", "paid": "https://apps.example.com/hooks/B-2"}


class Triggers(unittest.TestCase):
    def test_a_schedule_object_makes_a_scheduled_run(self):
        body = {"event": "sync_orders", "company_id": "co-1", "account_id": "acc-1", "schedule": SCHEDULE}
        run = from_body("sync_orders", body)
        self.assertEqual(run, Scheduled("sync_orders", "2026-12-03T09:00:00Z", 2))
        # A sidecar [[schedule]]'s run: no id, no payload.
        self.assertEqual((run.id, run.payload), ("", None))
        # Before the data rule.
        self.assertIsInstance(from_body("sync_orders", {**body, "data": {"a": 1}}), Scheduled)

    def test_a_run_time_schedules_run_carries_its_id_and_payload(self):
        payload = {"order": 17, "lines": [1, 2], "note": None}
        run = from_body("follow_up", {"schedule": {**SCHEDULE, "event": "follow_up", "id": "sch-1", "payload": payload}})
        self.assertEqual(run, Scheduled("follow_up", SCHEDULE["due"], 2, id="sch-1", payload=payload))
        for value in [None, 0, "x", [1]]:
            with self.subTest(payload=value):
                self.assertEqual(from_body("e", {"schedule": {**SCHEDULE, "id": "sch-1", "payload": value}}).payload, value)
        # An id that is not text is no id, as in Rust.
        for id_ in ["", None, 7]:
            self.assertEqual(from_body("e", {"schedule": {**SCHEDULE, "id": id_}}).id, "")
        match run:
            case Scheduled(event="follow_up", payload={"order": order}):
                self.assertEqual(order, 17)
            case _:
                self.fail(run)

    def test_a_delivery_to_a_minted_url_carries_its_label(self):
        self.assertEqual(from_body("np_status", {"webhook": WEBHOOK}).label, "")
        self.assertEqual(from_body("np_status", {"webhook": {**WEBHOOK, "label": ""}}).label, "")
        d = from_body("np_status", {"webhook": {**WEBHOOK, "label": "shop-17"}})
        self.assertEqual(d.label, "shop-17")
        self.assertEqual(d.name, "status")
        # A label that is not text is no label, as in Rust.
        for label in [None, 17]:
            self.assertEqual(from_body("np_status", {"webhook": {**WEBHOOK, "label": label}}).label, "")

    def test_a_webhook_object_makes_a_delivery(self):
        d = from_body("np_status", {"event": "np_status", "webhook": WEBHOOK, "data": {"a": 1}})
        self.assertEqual(d, Delivery("np_status", "status", "d-1", "POST", "a=1&b=2",
                                     [("Content-Type", "application/json"), ("X-Seq", "1"), ("x-seq", "2")],
                                     WEBHOOK["body"]))
        self.assertEqual(d.header("content-type"), "application/json")
        self.assertEqual(d.header("X-SEQ"), "1")
        self.assertIsNone(d.header("missing"))
        self.assertEqual(d.json(), {"parcel": "2045", "status": "delivered"})
        text = from_body("np_status", {"webhook": {**WEBHOOK, "headers": [], "body": "not json"}})
        with self.assertRaises(KerujError) as caught:
            text.json()
        self.assertTrue(str(caught.exception).startswith("the delivery's body is not JSON: "))

    def test_matching(self):
        def which(event):
            match event:
                case Scheduled(event="sync_orders", attempt=attempt):
                    return f"sync {attempt}"
                case Delivery(name="status"):
                    return f"status {event.header('x-seq')}"
                case _:
                    return "other"

        self.assertEqual(which(from_body("sync_orders", {"schedule": SCHEDULE})), "sync 2")
        self.assertEqual(which(from_body("np_status", {"webhook": WEBHOOK})), "status 1")

    def test_system_events_never_become_runs_or_deliveries(self):
        self.assertEqual(from_body("application_configure", {"schedule": SCHEDULE, "webhook": WEBHOOK}), Configure())
        self.assertEqual(from_body("application_install", {"webhook": WEBHOOK, "data": {"a": 1}}), Install({"a": 1}))
        self.assertEqual(from_body("application_uninstall", {"schedule": SCHEDULE}), Uninstall())

    def test_malformed_objects_are_other(self):
        malformed = [
            {"schedule": {**SCHEDULE, "attempt": -1}},
            {"schedule": {**SCHEDULE, "attempt": 2 ** 32}},
            {"schedule": {**SCHEDULE, "attempt": "1"}},
            {"schedule": {**SCHEDULE, "attempt": 1.0}},
            {"schedule": {**SCHEDULE, "attempt": True}},
            {"schedule": {**SCHEDULE, "due": 1764752400}},
            {"schedule": {"due": SCHEDULE["due"], "attempt": 1}, "data": {"a": 1}},
            {"webhook": {**WEBHOOK, "headers": {"content-type": "application/json"}}},
            {"webhook": {**WEBHOOK, "headers": [["content-type"]]}},
            {"webhook": {**WEBHOOK, "headers": [["x-n", 1]]}},
            {"webhook": {**WEBHOOK, "body": {"parcel": "2045"}}},
            {"webhook": {k: v for k, v in WEBHOOK.items() if k != "query"}},
            {"webhook": {**WEBHOOK, "id": 7}, "data": {"a": 1}},
        ]
        for body in malformed:
            with self.subTest(body=body):
                self.assertEqual(from_body("e", body), Other("e", body))
        # Only an object counts, as in Rust: anything else leaves the data rule to decide.
        for body in [{"schedule": None}, {"schedule": "daily"}, {"schedule": [SCHEDULE]},
                     {"webhook": None}, {"webhook": "x"}]:
            with self.subTest(body=body):
                self.assertEqual(from_body("e", body), Other("e", body))
                self.assertIsInstance(from_body("e", {**body, "data": {"a": 1}}), Submit)

    def test_webhook_urls_from_the_body(self):
        self.assertEqual(webhooks_from_body({}), {})
        self.assertEqual(webhooks_from_body([]), {})
        self.assertEqual(webhooks_from_body({"webhooks": ["x"]}), {})
        self.assertEqual(webhooks_from_body({"webhooks": {"status": "https://h/hooks/A", "bad": 1}}),
                         {"status": "https://h/hooks/A"})


class Adapter(unittest.TestCase):
    def run_app(self, app, name, body="{}"):
        logged = []
        try:
            return handle_event(app, name, "co-1", "acc-1", body, logged.append), logged
        except Failure as failure:
            return failure, logged

    def test_done_and_a_form(self):
        form = Form("r", "T", elements=[text("a", "A")])

        class Two(App):
            def handle(self, ctx, event):
                return form if isinstance(event, Configure) else DONE

        self.assertIs(self.run_app(Two(), "application_install")[0], DONE)
        self.assertEqual(self.run_app(Two(), "application_configure")[0], form.to_json())

    def test_failures(self):
        class Failing(App):
            def handle(self, ctx, event):
                if event.name == "expected":
                    raise KerujError("no key yet")
                if event.name == "bug":
                    return {}["x"]
                if event.name == "nothing":
                    return None
                return Form("r", " ")

            def health(self):
                raise KerujError("the store is down")

        failure, logged = self.run_app(Failing(), "expected")
        self.assertEqual((failure.message, logged), ("no key yet", []))
        failure, logged = self.run_app(Failing(), "bug")
        self.assertIn("KeyError", logged[0])
        self.assertEqual(self.run_app(Failing(), "nothing")[0].message,
                         "handle returned nothing: return DONE or a Form")
        self.assertEqual(self.run_app(Failing(), "bad")[0].message, "invalid form: `title` is empty")
        self.assertIn("not JSON", self.run_app(Failing(), "x", "nope")[0].message)
        with self.assertRaises(Failure) as caught:
            health(Failing())
        self.assertEqual(caught.exception.message, "the store is down")

    def test_context(self):
        seen = []

        class Spy(App):
            def handle(self, ctx, event):
                seen.append(ctx)
                return DONE

        self.run_app(Spy(), "ping")
        self.assertEqual((seen[0].company_id, seen[0].account_id, seen[0].event_name), ("co-1", "acc-1", "ping"))
        self.assertEqual(seen[0].webhooks, {})

    def test_the_context_carries_the_webhook_urls_on_configure_too(self):
        seen = []

        class Spy(App):
            def handle(self, ctx, event):
                seen.append((ctx, event))
                return DONE

        for name, extra in [("application_configure", {}),
                            ("sync_orders", {"schedule": {**SCHEDULE, "attempt": 1}}),
                            ("np_status", {"webhook": WEBHOOK})]:
            self.run_app(Spy(), name, json.dumps({"event": name, "webhooks": WEBHOOKS, **extra}))
        self.assertEqual([ctx.webhooks for ctx, _ in seen], [WEBHOOKS] * 3)
        self.assertEqual([type(event) for _, event in seen], [Configure, Scheduled, Delivery])


if __name__ == "__main__":
    unittest.main()
