"""The capability helpers against a fake host: what each sends through the WIT
imports, and what it makes of the answer. The headers-taking helpers have the
same shape in the Rust and JavaScript SDKs (see their tests)."""

import sys
import types
import unittest
from dataclasses import dataclass
from typing import List, Tuple

from keruj_guest import KerujError, http, kv, secrets


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


class FakeHost:
    """The modules ``wit_world.imports.*`` and ``componentize_py_types``, which
    exist only inside a component: each call is recorded and answered from
    ``answers["interface.function"]`` (a value, or a function of the arguments)."""

    INTERFACES = {"log": ["write"], "kv": ["get", "set", "delete", "keys"],
                  "secrets": ["get", "set", "delete", "keys"], "config": ["get", "all"],
                  "http": ["send"], "keruj_api": ["graphql"]}

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


class Capabilities(unittest.TestCase):
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


if __name__ == "__main__":
    unittest.main()
