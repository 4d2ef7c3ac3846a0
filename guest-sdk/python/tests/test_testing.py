"""keruj_guest.testing, the light harness: its parts without a host (answers,
the sidecar, the outbound envelope both ways, the binary's errors), then the
real keruj-host binary (KERUJ_HOST_BIN, else PATH) serving
plugins/hello-py/hello_app.py, built once per class."""

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path
from unittest import mock

import keruj_guest
from keruj_guest.testing import (
    ACCOUNT_ID, BIN_VAR, DEFAULT_COMPANY, KERUJ_API_URL, Answer, Delivery, Error, MintedWebhook, OutboundRequest,
    OutboundResponse, TestApp, _Outbound, _Setup,
)
from keruj_guest.testing import _binary, _wire
from keruj_guest.testing._answer import answer_of, response_of
from keruj_guest.testing._sidecar import to_toml

REPO = Path(__file__).resolve().parents[3]
HELLO = REPO / "plugins" / "hello-py" / "hello_app.py"


def envelope(method="GET", url="https://api.example.com/x", headers=(), body=b""):
    return json.dumps({"method": method, "url": url, "headers": [list(h) for h in headers],
                       "body_base64": base64.b64encode(body).decode()}).encode()


def answered(raw: bytes):
    value = json.loads(raw)
    return value["status"], value["headers"], base64.b64decode(value["body_base64"])


class Answers(unittest.TestCase):
    def test_answers_read_as_keruj_reads_them(self):
        self.assertEqual(answer_of({"status": 200, "reply": None}), Answer("done"))
        answer_of({"status": 200, "reply": None}).expect_done()
        form = answer_of({"status": 200, "reply": {"reply": "next", "title": "T", "elements": []}}).expect_form()
        self.assertEqual((form["reply"], form["errors"]), ("next", {}))
        failed = answer_of({"status": 504, "reply": None, "error": "too slow"})
        self.assertEqual(failed.expect_error(), (504, "too slow"))
        self.assertEqual((failed.kind, failed.status, failed.message), ("error", 504, "too slow"))

    def test_each_expectation_names_what_came_instead(self):
        done, error = Answer("done"), Answer("error", status=409, message="not installed")
        form = Answer("form", form={"reply": "r", "title": "T", "elements": [], "errors": {}})
        cases = [(done.expect_form, "expected a form, got done (200, empty body)"),
                 (error.expect_done, "expected done, got error 409: not installed"),
                 (form.expect_error, 'expected an error, got the form {"reply": "r"')]
        for expect, message in cases:
            with self.subTest(message), self.assertRaises(AssertionError) as caught:
                expect()
            self.assertIn(message, str(caught.exception))
        with self.assertRaisesRegex(AssertionError, "expected the delivery accepted, got 401: bad signature"):
            Delivery(401, "bad signature").expect_accepted()
        Delivery(200).expect_accepted()


class Sidecar(unittest.TestCase):
    def test_a_sidecar_reads_as_written(self):
        text = to_toml({
            "allowed_hosts": ["api.example.com"],
            "config": {"mode": "test", 'quote "x"': "a\nb"},
            "schedule": [{"event": "sync", "every": "15m"}],
            "timeout_ms": 2000,
            "nothing": None,
        })
        # What the Rust harness writes for the same settings.
        self.assertEqual(text, 'allowed_hosts = ["api.example.com"]\ntimeout_ms = 2000\n'
                               '\n[config]\nmode = "test"\n"quote \\"x\\"" = "a\\nb"\n'
                               '\n[[schedule]]\nevent = "sync"\nevery = "15m"\n')

    def test_the_options_make_the_sidecar(self):
        setup = _Setup(allow_hosts=["api.example.com:8443"], config={"region": "ua"},
                       sidecar={"timeout_ms": 2000, "flag": True, "ratio": 0.5, "webhook": [{"name": "a", "event": "e",
                                                                                            "verify": "none"}]},
                       schedules=[{"event": "digest", "every": "1h"}],
                       webhooks=[{"name": "orders", "event": "order_paid", "verify": "github",
                                  "secret": "secret:key"}, {"name": "pings", "event": "ping", "verify": "none",
                                                            "secret": None}])
        text = setup.sidecar_text()
        if sys.version_info >= (3, 11):
            import tomllib
            self.assertEqual(tomllib.loads(text), {
                "allowed_hosts": ["api.example.com:8443"], "flag": True, "ratio": 0.5, "timeout_ms": 2000,
                "config": {"region": "ua"},
                "schedule": [{"event": "digest", "every": "1h"}],
                "webhook": [{"name": "a", "event": "e", "verify": "none"},
                            {"name": "orders", "event": "order_paid", "verify": "github", "secret": "secret:key"},
                            {"name": "pings", "event": "ping", "verify": "none"}],
            })
        self.assertIn('allowed_hosts = ["api.example.com:8443"]\n', text)
        self.assertEqual(_Setup().sidecar_text(), "allowed_hosts = []\n\n[config]\n")

    def test_strings_are_toml_strings(self):
        text = to_toml({"config": {"k": "tab\there \x7f ü \U0001F600 \\"}})
        self.assertEqual(text, '\n[config]\nk = "tab\\there \\u007f ü \U0001F600 \\\\"\n')
        with self.assertRaises(TypeError):
            to_toml({"x": object()})


class Outbound(unittest.TestCase):
    def test_the_envelope_both_ways(self):
        seen = []

        def on_http(request):
            seen.append(request)
            return OutboundResponse.json({"ok": True}).with_status(201).with_header("x-a", "1")

        outbound = _Outbound(on_http, None)
        status, raw = outbound(envelope("POST", "https://api.example.com/v1?q=1", [("x-token", "t")], b'{"a":1}'))
        self.assertEqual(status, 200)
        self.assertEqual(answered(raw), (201, [["content-type", "application/json"], ["x-a", "1"]],
                                         b'{"ok":true}'))
        self.assertEqual(seen, [OutboundRequest("POST", "https://api.example.com/v1?q=1", [("x-token", "t")],
                                                b'{"a":1}')])
        self.assertEqual(outbound.requests, seen)
        self.assertEqual(outbound(b"not json")[0], 400)

    def test_without_a_handler_the_app_gets_502(self):
        outbound = _Outbound(None, None)
        status, headers, body = answered(outbound(envelope("GET", "https://x.example/a"))[1])
        self.assertEqual((status, body), (502, b"keruj-test: the test gave no on_http handler for GET "
                                                b"https://x.example/a"))
        status, _, body = answered(outbound(envelope("POST", KERUJ_API_URL))[1])
        self.assertEqual(status, 502)
        self.assertIn(b"no on_keruj_api handler for POST " + KERUJ_API_URL.encode(), body)

    def test_keruj_api_calls_go_to_their_own_handler(self):
        outbound = _Outbound(lambda r: {"body": "http"}, lambda r: {"json": {"data": {"n": 1}}})
        self.assertEqual(answered(outbound(envelope("GET", "https://a.example/"))[1]), (200, [], b"http"))
        self.assertEqual(answered(outbound(envelope("POST", KERUJ_API_URL))[1]),
                         (200, [["content-type", "application/json"]], b'{"data":{"n":1}}'))

    def test_a_failing_handler_answers_500_and_is_kept_for_the_event(self):
        def on_http(request):
            assert request.path() == "/y", "wrong path"

        outbound = _Outbound(on_http, None)
        status, _, body = answered(outbound(envelope("GET", "https://api.example.com/x"))[1])
        self.assertEqual((status, body), (500, b"the test's handler failed"))
        outbound(envelope("GET", "https://api.example.com/z"))  # the first failure is the one kept
        message, error = outbound.take_failure()
        self.assertEqual(message, "the on_http handler failed on GET https://api.example.com/x: "
                                  "AssertionError: wrong path")
        self.assertIsInstance(error, AssertionError)
        self.assertIsNone(outbound.take_failure())
        # Returning nothing is a failure too, named.
        outbound = _Outbound(lambda r: None, None)
        self.assertEqual(answered(outbound(envelope())[1])[0], 500)
        self.assertIn("it returned None", outbound.take_failure()[0])

    def test_plain_dicts_are_responses(self):
        self.assertEqual(response_of({}), OutboundResponse(200, [], b""))
        self.assertEqual(response_of({"status": 404, "headers": {"x-a": "1"}, "body": "gone"}),
                         OutboundResponse(404, [("x-a", "1")], b"gone"))
        self.assertEqual(response_of({"headers": [("content-type", "text/json")], "json": [1]}),
                         OutboundResponse(200, [("content-type", "text/json")], b"[1]"))
        for wrong in ({"stauts": 200}, {"body": "a", "json": 1}, {"status": "200"}, "text"):
            with self.subTest(wrong), self.assertRaises(TypeError):
                response_of(wrong)
        self.assertEqual(OutboundResponse.text("hi").with_body(b"\x00").body, b"\x00")
        self.assertEqual(OutboundResponse.empty(404), OutboundResponse(404, [], b""))

    def test_a_request_reads_as_a_handler_checks_it(self):
        seen = OutboundRequest("GET", "https://User@API.Example.com:8443/v1/check?x=1#f", [("x-token", "t")],
                               b'{"a":1}')
        self.assertEqual(seen.host(), "api.example.com")
        self.assertEqual(seen.path(), "/v1/check")
        self.assertEqual(seen.header("X-Token"), "t")
        self.assertIsNone(seen.header("x-other"))
        self.assertEqual((seen.json(), seen.text()), ({"a": 1}, '{"a":1}'))
        self.assertEqual(OutboundRequest("GET", "http://[::1]:9/").host(), "::1")
        self.assertEqual(OutboundRequest("GET", "https://a.example?q").path(), "/")
        self.assertIsNone(OutboundRequest("GET", "https://a.example/", body=b"not json").json())

    def test_a_call_reaches_the_server_and_reads_its_answer(self):
        server = _wire.Server(lambda body: (201, b"seen " + body))
        try:
            port = int(server.url.rsplit(":", 1)[1].rstrip("/"))
            response = _wire.call("127.0.0.1", port, "POST", "/x", [("x-a", "1")], b"hello")
        finally:
            server.close()
        self.assertEqual((response.status, response.body), (201, b"seen hello"))
        with self.assertRaisesRegex(Error, "cannot POST /x on the keruj-host at 127.0.0.1:"):
            _wire.call("127.0.0.1", port, "POST", "/x")


def script(folder: Path, name: str, body: str) -> Path:
    """An executable shell script standing in for keruj-host."""
    path = folder / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


class Binary(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="keruj-testing-test-"))
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.wasm = self.dir / "my_app.wasm"
        self.wasm.write_bytes(b"not a component")

    def test_without_a_binary_the_message_says_how_to_install_one(self):
        checkout = REPO / "host"
        message = _binary.missing(checkout)
        self.assertIn(f"cargo install --locked --path {checkout}\n", message)
        self.assertIn("cargo install --locked --git <keruj-host repository URL> keruj-host", message)
        self.assertIn(BIN_VAR, message)
        self.assertNotIn("--path", _binary.missing(self.dir))
        self.assertEqual(_binary._checkout_host(), checkout, "this SDK sits in a checkout")
        with mock.patch.dict(os.environ, {BIN_VAR: "", "PATH": str(self.dir)}):
            with self.assertRaises(Error) as caught:
                TestApp.load(self.wasm)
        self.assertIn("none was found: not in KERUJ_HOST_BIN, not on PATH", str(caught.exception))

    def test_the_variable_must_name_a_file(self):
        nowhere = self.dir / "nothing"
        with mock.patch.dict(os.environ, {BIN_VAR: str(nowhere)}), self.assertRaises(Error) as caught:
            TestApp.load(self.wasm)
        self.assertEqual(str(caught.exception), f"{BIN_VAR} is {nowhere}, which is not a file: point it at "
                                                "the keruj-host binary, or unset it to use the one on PATH")
        found = script(self.dir, "keruj-host", "exit 0\n")
        with mock.patch.dict(os.environ, {BIN_VAR: "", "PATH": str(self.dir)}):
            self.assertEqual(_binary.find(), found)

    def test_errors_say_what_to_do(self):
        with self.assertRaisesRegex(Error, "build it first"):
            TestApp.load(self.dir / "missing.wasm", binary=self.dir / "nothing")
        with self.assertRaisesRegex(Error, "'Bad Name' is not a valid app id"):
            TestApp.load(self.wasm, name="Bad Name")
        with self.assertRaisesRegex(Error, "cannot start .*nothing"):
            TestApp.load(self.wasm, binary=self.dir / "nothing")
        with self.assertRaisesRegex(Error, "building .*my_app.wasm failed: .* is not a Python file"):
            TestApp.build(self.wasm, name="my-app", binary=self.dir / "nothing")

    def test_a_host_that_does_not_start_shows_its_log(self):
        old = script(self.dir, "old-host", """\
            echo "error: unexpected argument '--answer-outbound' found" >&2
            exit 2
            """)
        with self.assertRaises(Error) as caught:
            TestApp.load(self.wasm, binary=old)
        message = str(caught.exception)
        self.assertIn(f"{old} dev did not start: it exited (exit status: 2); its log:\nerror: unexpected "
                      "argument '--answer-outbound' found", message)
        self.assertIn("this keruj-host is older than keruj_guest.testing", message)

    def test_the_host_gets_the_documented_arguments(self):
        # A stand-in that records its arguments and environment, then says it is ready.
        record = self.dir / "args"
        fake = script(self.dir, "fake-host", f"""\
            printf '%s\\n' "$@" > {record}
            echo "KERUJ_LOG_FORMAT=$KERUJ_LOG_FORMAT" >> {record}
            echo "keruj-host dev console listening on http://127.0.0.1:1/"
            echo "keruj-host apps loaded: 0"
            cat > /dev/null
            """)
        with self.assertRaisesRegex(Error, "cannot GET /_dev/api/apps on the keruj-host at 127.0.0.1:1"):
            TestApp.load(self.wasm, binary=fake)
        args = record.read_text().splitlines()
        self.assertEqual(args[0], "dev")
        self.assertEqual(args[args.index("--listen") + 1], "127.0.0.1:0")
        self.assertTrue(args[args.index("--answer-outbound") + 1].startswith("http://127.0.0.1:"))
        self.assertEqual(args[args.index("--keruj-api-url") + 1], KERUJ_API_URL)
        self.assertIn("--stop-with-stdin", args)
        self.assertEqual(args[-1], "KERUJ_LOG_FORMAT=human")
        plugins = Path(args[args.index("--plugins") + 1])
        self.assertFalse(plugins.exists(), "the temporary folder is deleted after a failed start")

    def test_the_guest_package_does_not_pull_the_harness_in(self):
        # A component imports keruj_guest: subprocess and http.server must not come with it.
        check = "import sys, keruj_guest; print('keruj_guest.testing' in sys.modules)"
        result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True,
                                cwd=Path(keruj_guest.__file__).parent.parent)
        self.assertEqual(result.stdout.strip(), "False")


def real_binary() -> str:
    """The binary the tests drive; they skip when there is none at all."""
    try:
        return str(_binary.find())
    except Error as error:
        if os.environ.get(BIN_VAR):
            raise
        raise unittest.SkipTest(f"no keruj-host binary: {error}") from None


class HelloPy(unittest.TestCase):
    """plugins/hello-py built once and served by the real binary."""

    app: TestApp

    @classmethod
    def setUpClass(cls):
        binary = real_binary()

        def on_http(request):
            assert request.path() != "/boom", "the app must not call /boom"
            return OutboundResponse.text(f"pong {request.path()}")

        cls.app = TestApp.build(
            HELLO, binary=binary, allow_hosts=["api.example.com"], on_http=on_http, config={"mode": "test"},
            schedules=[{"event": "reminder", "every": "1h"}],
            webhooks=[{"name": "pings", "event": "ping", "verify": "none"}])
        cls.addClassCleanup(cls.app.close)

    def fetch(self, url):
        return self.app.submit("fetch", {"url": url}).expect_form()["elements"][0]["label"]

    def test_a_dialogue_with_typed_answers_and_the_apps_log(self):
        app = self.app
        self.assertEqual(app.name, "hello-app")
        self.assertTrue(app.url.startswith("http://127.0.0.1:"))
        self.assertEqual(app.company(), DEFAULT_COMPANY)
        app.install("co-dialogue").expect_done()
        self.assertEqual(app.company(), "co-dialogue")
        self.assertTrue(app.is_installed("co-dialogue"))
        self.assertTrue(app.api_key("co-dialogue").startswith("kj_"))

        form = app.configure().expect_form()
        self.assertEqual(form["reply"], "name_submitted")
        self.assertTrue(form["elements"][0]["required"])
        self.assertEqual(form["errors"], {})
        again = app.submit("name_submitted", {"name": ""}).expect_form()
        self.assertEqual(again["errors"]["name"], "Please type your name")
        app.submit("name_submitted", {"name": "Olena"}).expect_done()
        self.assertEqual(app.last_logs(), ["INFO Olena said hello for co-dialogue"])
        self.assertEqual(app.kv_get_json("co-dialogue", "greeted"), {"name": "Olena"})
        self.assertEqual(app.kv_keys("co-dialogue"), ["greeted"])

        echo = app.event("order_paid", {"order": 42}).expect_form()
        received = json.loads(echo["elements"][0]["label"])
        self.assertEqual((received["order"], received["account_id"]), (42, ACCOUNT_ID))

        app.use_company("co-never-installed")
        self.assertEqual(app.configure().expect_error(), (409, "the app is not installed for this company"))
        app.use_company("co-dialogue")
        app.uninstall().expect_done()
        self.assertFalse(app.is_installed("co-dialogue"))
        self.assertIsNone(app.kv_get("co-dialogue", "greeted"))
        self.assertIn("keruj_host", app.host_log())

    def test_kv_and_secrets_seen_from_both_sides(self):
        app = self.app
        with self.assertRaisesRegex(Error, "co-data has not installed hello-app: install it first"):
            app.kv_set("co-data", "k", "v")
        app.install("co-data").expect_done()
        app.kv_set("co-data", "greeted", json.dumps({"name": "Taras"}))
        self.assertEqual(app.event("whoami").expect_form()["elements"][0]["label"], "Hello, Taras")
        app.kv_set("co-data", "raw", b"\x00\xff")
        self.assertEqual(app.kv_get("co-data", "raw"), b"\x00\xff")
        self.assertIsNone(app.kv_get("co-data", "nothing"))
        app.secret_set("co-data", "token", "s3cret-9b2e")
        self.assertEqual(app.secret_get("co-data", "token"), "s3cret-9b2e")
        self.assertIsNone(app.secret_get("co-other", "token"))
        # On disk: the kv value as written, the secret only encrypted.
        self.assertTrue(app.stored_in_plaintext("Taras"))
        self.assertFalse(app.stored_in_plaintext("s3cret-9b2e"))

    def test_outbound_calls_go_to_the_handler_under_the_apps_grant(self):
        app = self.app
        app.install("co-http").expect_done()
        before = len(app.requests())
        self.assertEqual(self.fetch("https://api.example.com/ping"), "200 pong /ping")
        sent = app.requests()[before:]
        self.assertEqual([(r.method, r.url) for r in sent], [("GET", "https://api.example.com/ping")])
        self.assertEqual(sent[0].host(), "api.example.com")
        # The grant applies before the handler: this never reaches it.
        self.assertIn("other.example is not in this app's allowed_hosts", self.fetch("https://other.example/x"))
        self.assertEqual(len(app.requests()), before + 1)

    def test_a_failing_handler_fails_the_event_that_caused_it(self):
        app = self.app
        app.install("co-boom").expect_done()
        with self.assertRaises(AssertionError) as caught:
            self.fetch("https://api.example.com/boom")
        self.assertEqual(str(caught.exception), "the on_http handler failed on GET https://api.example.com/boom: "
                                                "AssertionError: the app must not call /boom")
        self.assertIsInstance(caught.exception.__cause__, AssertionError)
        # Only that event: the next one is fine.
        self.assertEqual(self.fetch("https://api.example.com/fine"), "200 pong /fine")

    def test_schedules_fired_by_the_test(self):
        app = self.app
        app.install("co-made").expect_done()
        app.submit("name_submitted", {"name": "Oksana"}).expect_done()
        made_id = app.submit("remind", {"after": "3600"}).expect_form()["elements"][0]["label"]
        made = app.made_schedules()
        self.assertEqual([(m.id, m.event, m.once, m.payload) for m in made],
                         [(made_id, "reminder", True, {"name": "Oksana"})])
        app.run_made_schedule(made_id).expect_done()
        self.assertEqual(app.last_logs(), ["INFO reminder for Oksana"])
        self.assertEqual(app.made_schedules(), [], "a one-off that ran is gone")
        with self.assertRaisesRegex(Error, "made no schedule"):
            app.run_made_schedule(made_id)
        # The sidecar's schedule: hello-py reads a payload that a sidecar run has not.
        status, message = app.run_schedule("reminder").expect_error()
        self.assertEqual(status, 500)
        with self.assertRaisesRegex(Error, r'no \[\[schedule\]\] with event "digest" \(declare it with the '
                                           r'schedules option\)'):
            app.run_schedule("digest")
        self.assertEqual(app.minted_webhooks(), [])

    def test_webhooks_delivered_by_the_test(self):
        app = self.app
        app.use_company("co-hooks")
        with self.assertRaisesRegex(Error, "co-hooks has not installed hello-app: call install"):
            app.webhook_url("pings")
        app.install("co-hooks").expect_done()
        url = app.webhook_url("pings")
        self.assertIn("/hooks/", url)
        with self.assertRaisesRegex(Error, r"no \[\[webhook\]\] named 'orders' \(it has: pings\)"):
            app.webhook_url("orders")
        # hello-py has no case for a delivery: the host answers the provider 500.
        delivered = app.deliver_webhook("pings", {"content-type": "application/json"}, "{}")
        self.assertEqual(delivered.status, 500)
        self.assertNotEqual(delivered.message, "")
        self.assertEqual(app.deliver_signed("pings", '{"n":1}').status, 500)
        self.assertEqual(app.deliver_webhook_to(url.rsplit("/", 1)[0] + "/nope", [], b"{}").status, 404)
        self.assertIsInstance(MintedWebhook("a", "b", "c"), tuple)


class Loading(unittest.TestCase):
    def test_a_file_that_is_not_a_component_is_refused_with_the_hosts_reason(self):
        binary = real_binary()
        with tempfile.TemporaryDirectory() as folder:
            wasm = Path(folder) / "my_app.wasm"
            wasm.write_bytes(b"not a component")
            with self.assertRaisesRegex(Error, "keruj-host cannot load my_app: "):
                TestApp.load(wasm, binary=binary)


if __name__ == "__main__":
    unittest.main()
