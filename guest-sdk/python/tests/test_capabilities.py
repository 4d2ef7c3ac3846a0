"""The capability helpers against a fake host: what each sends through the WIT
imports, and what it makes of the answer. The headers-taking helpers have the
same shape in the Rust and JavaScript SDKs (see their tests)."""

import sys
import types
import unittest
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import List, Tuple

from keruj_guest import (
    After, At, Cron, Every, KerujError, Minted, Schedule, http, kv, schedules, secrets, webhooks,
)


class Err(Exception):
    """componentize-py's ``Err``: an import's ``err`` value."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


@dataclass
class Request:
    method: str
    url: str
    headers: List[Tuple[str, str]]
    body: bytes


@dataclass
class Answer:
    status: int
    headers: List[Tuple[str, str]]
    body: bytes


# The types of ``wit_world.imports.schedules`` and ``.webhooks``, as componentize-py 0.25.1 writes them.
@dataclass
class WitCron:
    expression: str
    timezone: str


@dataclass
class Timing_At:
    value: str


@dataclass
class Timing_After:
    value: int


@dataclass
class Timing_Every:
    value: str


@dataclass
class Timing_Cron:
    value: WitCron


@dataclass
class WitSchedule:
    id: str
    event: str
    timing: object
    payload: str


@dataclass
class WitMinted:
    name: str
    label: str
    url: str


class FakeHost:
    """The modules ``wit_world.imports.*`` and ``componentize_py_types``, which
    exist only inside a component: each call is recorded and answered from
    ``answers["interface.function"]`` (a value, or a function of the arguments)."""

    INTERFACES = {"log": ["write"], "kv": ["get", "set", "delete", "keys"],
                  "secrets": ["get", "set", "delete", "keys"], "config": ["get", "all"],
                  "http": ["send"], "keruj_api": ["graphql"],
                  "schedules": ["add", "all", "cancel"], "webhooks": ["mint", "all", "revoke"]}

    def __init__(self):
        self.calls = []
        self.answers = {}
        self.modules = {"componentize_py_types": types.ModuleType("componentize_py_types"),
                        "wit_world": types.ModuleType("wit_world"),
                        "wit_world.imports": types.ModuleType("wit_world.imports")}
        self.modules["componentize_py_types"].Err = Err
        for interface, functions in self.INTERFACES.items():
            module = types.ModuleType(f"wit_world.imports.{interface}")
            for function in functions:
                setattr(module, function, self._function(f"{interface}.{function}"))
            setattr(self.modules["wit_world.imports"], interface, module)
            self.modules[module.__name__] = module
        self.modules["wit_world.imports.http"].Request = Request
        wit = self.modules["wit_world.imports.schedules"]
        wit.Cron, wit.Timing_At, wit.Timing_After, wit.Timing_Every, wit.Timing_Cron = (
            WitCron, Timing_At, Timing_After, Timing_Every, Timing_Cron)

    def _function(self, name):
        def call(*args):
            self.calls.append((name, args))
            answer = self.answers.get(name)
            return answer(*args) if callable(answer) else answer
        return call

    def sent(self) -> Request:
        return [args[0] for name, args in self.calls if name == "http.send"][-1]


def answer(status, body, headers=(("content-type", "application/json"),)):
    return Answer(status, list(headers), body.encode())


class WithFakeHost(unittest.TestCase):
    def setUp(self):
        self.host = FakeHost()
        saved = {name: sys.modules.get(name) for name in self.host.modules}
        sys.modules.update(self.host.modules)

        def restore():
            for name, module in saved.items():
                if module is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module
        self.addCleanup(restore)


class Capabilities(WithFakeHost):
    def test_get_json_sends_the_headers_and_asks_for_json(self):
        self.host.answers["http.send"] = answer(200, '{"id": 7}')
        me = http.get_json("https://a.example/me", headers={"authorization": "Bearer k"})
        self.assertEqual(me, {"id": 7})
        self.assertEqual(self.host.sent(), Request(
            "GET", "https://a.example/me",
            [("authorization", "Bearer k"), ("accept", "application/json")], b""))
        # By position, as pairs, as JavaScript's getJson(url, headers).
        http.get_json("https://a.example/me", [("authorization", "Bearer k"), ("x-trace", 1)])
        self.assertEqual(self.host.sent().headers, [
            ("authorization", "Bearer k"), ("x-trace", "1"), ("accept", "application/json")])
        # Without headers: as before.
        http.get_json("https://a.example/me")
        self.assertEqual(self.host.sent().headers, [("accept", "application/json")])

    def test_post_json_sends_the_value_as_json_with_the_headers(self):
        self.host.answers["http.send"] = answer(201, '{"ok": true}')
        self.assertEqual(http.post_json("https://a.example/p", {"n": 1}, headers={"x-key": "k"}), {"ok": True})
        self.assertEqual(self.host.sent(), Request("POST", "https://a.example/p", [
            ("x-key", "k"), ("accept", "application/json"), ("content-type", "application/json"),
        ], b'{"n": 1}'))
        http.post_json("https://a.example/p", [1])
        self.assertEqual(self.host.sent().headers, [
            ("accept", "application/json"), ("content-type", "application/json")])

    def test_the_callers_header_replaces_a_default_of_the_same_name(self):
        self.host.answers["http.send"] = answer(200, "{}")
        http.post_json("https://a.example/p", {}, {
            "Accept": "application/vnd.api+json", "Content-Type": "application/merge-patch+json"})
        self.assertEqual(self.host.sent().headers, [
            ("Accept", "application/vnd.api+json"), ("Content-Type", "application/merge-patch+json")])

    def test_get_post_and_request_take_headers_too(self):
        self.host.answers["http.send"] = answer(200, "hi", [("ETag", '"x"')])
        response = http.get("https://a.example/", {"authorization": "Bearer k"})
        self.assertEqual(self.host.sent(), Request("GET", "https://a.example/", [("authorization", "Bearer k")], b""))
        self.assertEqual((response.text(), response.header("etag")), ("hi", '"x"'))
        http.post("https://a.example/", "text", headers=[("x-one", "1")])
        self.assertEqual(self.host.sent(), Request("POST", "https://a.example/", [("x-one", "1")], b"text"))
        http.request("patch", "https://a.example/", headers={"x-two": "2"}, body=b"b")
        self.assertEqual(self.host.sent(), Request("PATCH", "https://a.example/", [("x-two", "2")], b"b"))

    def test_a_json_helper_raises_kerujerror(self):
        self.host.answers["http.send"] = answer(401, "{}")
        with self.assertRaisesRegex(KerujError, "^the server answered 401$"):
            http.get_json("https://a.example/", headers={"authorization": "x"})
        self.host.answers["http.send"] = answer(200, "<html>")
        with self.assertRaisesRegex(KerujError, "^the answer is not JSON: "):
            http.post_json("https://a.example/", {})

        def refuse(request):
            raise Err("host b.example is not allowed")
        self.host.answers["http.send"] = refuse
        with self.assertRaisesRegex(KerujError, "^host b.example is not allowed$"):
            http.get_json("https://b.example/")

    def test_kv_and_secrets_use_the_names_of_the_other_sdks(self):
        self.host.answers["kv.get"] = lambda key: b'{"a": 1}' if key == "k" else None
        self.assertEqual(kv.get_text("k"), '{"a": 1}')
        self.assertEqual(kv.get_json("k"), {"a": 1})
        self.assertIsNone(kv.get_json("missing"))
        self.host.answers["kv.get"] = b"nope"
        with self.assertRaisesRegex(KerujError, '^kv "k" is not JSON: '):
            kv.get_json("k")
        self.host.answers["secrets.keys"] = ["api_key"]
        self.assertEqual(secrets.keys(), ["api_key"])
        self.assertEqual(self.host.calls[-1], ("secrets.keys", ("",)))


def refuse(message):
    def answer(*args):
        raise Err(message)
    return answer


class RunTime(WithFakeHost):
    """``schedules`` and ``webhooks``: what reaches the host, what comes back."""

    def added(self):
        return [args for name, args in self.host.calls if name == "schedules.add"]

    def test_each_timing_reaches_the_host_as_the_wit_variant_the_payload_as_json(self):
        self.host.answers["schedules.add"] = "sch-1"
        self.assertEqual(schedules.after("follow_up", 600, {"order": 17, "note": "ціна"}), "sch-1")
        schedules.after("follow_up", timedelta(minutes=10))
        schedules.at("remind", "2026-12-24T09:00:00+02:00")
        schedules.at("remind", datetime(2026, 12, 24, 7, tzinfo=timezone.utc), ["a"])
        schedules.every("sync_orders", "15m", None)
        schedules.cron("digest", "0 9 * * mon-fri", "Europe/Kyiv", {"digest": True})
        schedules.cron("digest", "0 9 * * *", payload=1.5)
        self.assertEqual(self.added(), [
            ("follow_up", Timing_After(600), '{"order":17,"note":"ціна"}'),
            ("follow_up", Timing_After(600), "null"),
            ("remind", Timing_At("2026-12-24T09:00:00+02:00"), "null"),
            ("remind", Timing_At("2026-12-24T07:00:00+00:00"), '["a"]'),
            ("sync_orders", Timing_Every("15m"), "null"),
            ("digest", Timing_Cron(WitCron("0 9 * * mon-fri", "Europe/Kyiv")), '{"digest":true}'),
            ("digest", Timing_Cron(WitCron("0 9 * * *", "")), "1.5"),
        ])

    def test_what_the_host_could_not_take_fails_before_the_call(self):
        for seconds, error in [(-1, ValueError), (timedelta(seconds=-5), ValueError), (2 ** 64, ValueError),
                               (1.5, TypeError), ("600", TypeError), (True, TypeError)]:
            with self.subTest(seconds=seconds), self.assertRaises(error):
                schedules.after("e", seconds)
        with self.assertRaises(ValueError):  # naive: no instant
            schedules.at("e", datetime(2026, 12, 24, 9))
        with self.assertRaises(TypeError):
            schedules.every("e", "1h", {"at": datetime(2026, 12, 24, 9)})
        with self.assertRaises(ValueError):
            schedules.every("e", "1h", float("nan"))
        self.assertEqual(self.added(), [])

    def test_all_gives_dataclasses_with_the_payload_parsed_and_cancel_says_whether(self):
        self.host.answers["schedules.all"] = [
            WitSchedule("a", "follow_up", Timing_After(600), '{"order":17}'),
            WitSchedule("b", "remind", Timing_At("2026-12-24T09:00:00+02:00"), "null"),
            WitSchedule("c", "sync", Timing_Every("15m"), '[1,"x"]'),
            WitSchedule("d", "digest", Timing_Cron(WitCron("0 9 * * *", "")), '"hi"'),
        ]
        listed = schedules.all()
        self.assertEqual(listed, [
            Schedule("a", "follow_up", After(600), {"order": 17}),
            Schedule("b", "remind", At("2026-12-24T09:00:00+02:00"), None),
            Schedule("c", "sync", Every("15m"), [1, "x"]),
            Schedule("d", "digest", Cron("0 9 * * *"), "hi"),
        ])
        match listed[0]:
            case Schedule(timing=After(seconds), payload={"order": order}):
                self.assertEqual((seconds, order), (600, 17))
            case _:
                self.fail(listed[0])
        self.host.answers["schedules.cancel"] = lambda id: id == "a"
        self.assertTrue(schedules.cancel("a"))
        self.assertFalse(schedules.cancel("gone"))
        self.assertEqual(self.host.calls[-1], ("schedules.cancel", ("gone",)))

    def test_the_hosts_refusal_is_a_kerujerror_with_its_message(self):
        self.host.answers["schedules.add"] = refuse("at most 100 schedules per company")
        with self.assertRaisesRegex(KerujError, "^at most 100 schedules per company$"):
            schedules.after("e", 60, {"a": 1})
        self.host.answers["schedules.all"] = refuse("no company")
        with self.assertRaisesRegex(KerujError, "^no company$"):
            schedules.all()
        self.host.answers["schedules.cancel"] = refuse("the store is down")
        with self.assertRaisesRegex(KerujError, "^the store is down$"):
            schedules.cancel("a")

    def test_webhooks_mint_all_and_revoke(self):
        url = "https://apps.example.com/hooks/M-1"
        self.host.answers["webhooks.mint"] = url
        self.assertEqual(webhooks.mint("orders", "shop-17"), url)
        self.assertEqual(self.host.calls[-1], ("webhooks.mint", ("orders", "shop-17")))
        self.host.answers["webhooks.all"] = [WitMinted("orders", "shop-17", url)]
        self.assertEqual(webhooks.all(), [Minted("orders", "shop-17", url)])
        self.host.answers["webhooks.revoke"] = lambda u: u == url
        self.assertTrue(webhooks.revoke(url))
        self.assertFalse(webhooks.revoke("https://apps.example.com/hooks/nope"))
        self.host.answers["webhooks.mint"] = refuse('no [[webhook]] named "order"')
        with self.assertRaisesRegex(KerujError, r'^no \[\[webhook\]\] named "order"$'):
            webhooks.mint("order", "shop-17")


if __name__ == "__main__":
    unittest.main()
