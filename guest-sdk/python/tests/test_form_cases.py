"""The shared cases of guest-sdk/form-cases.json, against this SDK's
validator: the same answers as the host's Rust gate."""

import copy
import json
import unittest
from pathlib import Path

from keruj_guest.form import Form, FormError

FILE = json.loads((Path(__file__).resolve().parents[2] / "form-cases.json").read_text("utf-8"))


def reply_text(case: dict) -> str:
    if "text" in case:
        return case["text"]
    reply = copy.deepcopy(case["reply"])
    grow = case.get("grow", {})
    for i in range(grow.get("text_elements", 0)):
        reply["elements"].append({"type": "text", "name": f"f{i}", "label": "F"})
    if "first_label_bytes" in grow:
        unit = grow.get("label_char", "x")
        reply["elements"][0]["label"] = unit * (grow["first_label_bytes"] // len(unit.encode("utf-8")))
    return json.dumps(reply, ensure_ascii=False, separators=(",", ":"))


class SharedCases(unittest.TestCase):
    def test_every_case(self):
        for case in FILE["cases"]:
            with self.subTest(case["name"]):
                text = reply_text(case)
                if case["valid"]:
                    form = Form.from_json(text)
                    self.assertEqual(Form.from_json(form.to_json()), form)
                    continue
                self.assertIn(case["rule"], FILE["rules"])
                with self.assertRaises(FormError) as caught:
                    Form.from_json(text)
                message = str(caught.exception)
                self.assertTrue(message.startswith("invalid form: "), message)
                if "error" in case:
                    self.assertIn(case["error"], message)

    def test_every_rule_has_a_failing_case(self):
        seen = {c["rule"] for c in FILE["cases"] if not c["valid"]}
        self.assertEqual(seen, set(FILE["rules"]))


if __name__ == "__main__":
    unittest.main()
