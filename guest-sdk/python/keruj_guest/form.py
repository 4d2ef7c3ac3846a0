"""The reply format: the form an app asks Keruj to show the user.

This mirrors ``keruj_guest::form`` (guest-sdk/src/form.rs), the format the
host enforces, rule for rule and message for message, so a mistake shows up in
the app's own tests rather than as a 500 from the host. The shared cases in
guest-sdk/form-cases.json hold the Rust, JavaScript and Python checks to the
same answers.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

#: The largest reply the host accepts, in bytes of JSON.
MAX_REPLY_BYTES = 256 * 1024
#: The most elements one form may hold.
MAX_ELEMENTS = 100
#: The kinds of form elements Keruj shows.
ELEMENT_TYPES = ("text", "password", "textarea", "number", "checkbox", "select", "info")

_FORM_FIELDS = ("reply", "title", "description", "elements", "errors")
_ELEMENT_FIELDS = ("type", "name", "label", "required", "secret", "options", "value")
_OPTION_FIELDS = ("value", "label")

_EVENT_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_FIELD_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")
# Rust's `char::is_whitespace` (Unicode White_Space), which `str::trim` uses;
# Python's str.strip() also strips U+001C..U+001F.
_WHITE_SPACE = re.compile("[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*")


class FormError(ValueError):
    """Why a reply is not a valid form."""

    def __init__(self, message: str):
        super().__init__(f"invalid form: {message}")


def is_event_name(name: object) -> bool:
    """An event name as Keruj carries it: ``[A-Za-z0-9_.-]{1,128}``."""
    return isinstance(name, str) and _EVENT_NAME.fullmatch(name) is not None


def _quote(value: object) -> str:
    """Rust's ``{:?}`` of a string, near enough for a message."""
    return json.dumps(value, ensure_ascii=False)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


Option = Union[Mapping[str, str], Sequence[str]]


class Element:
    """One field of a form. Make it with :func:`text`, :func:`select` and the others."""

    def __init__(self, type: str, name: str, label: str, *, required: bool = False,
                 secret: bool = False, options: Iterable[Option] = (), value: Any = None):
        self.type = type
        self.name = name
        self.label = label
        self.required = bool(required)
        self.secret = bool(secret)
        self.options = [
            {"value": o["value"], "label": o["label"]} if isinstance(o, Mapping)
            else {"value": o[0], "label": o[1]}
            for o in options
        ]
        self.value = value

    def to_dict(self) -> dict:
        """The element as Keruj receives it (defaults left out, as in Rust)."""
        out: dict = {"type": self.type, "name": self.name, "label": self.label}
        if self.required:
            out["required"] = True
        if self.secret:
            out["secret"] = True
        if self.options:
            out["options"] = [dict(o) for o in self.options]
        if self.value is not None:
            out["value"] = self.value
        return out

    def validate(self) -> None:
        """Checks this element alone; names across the form are the form's check."""
        if self.type not in ELEMENT_TYPES:
            raise FormError(_unknown_variant(self.type))
        if not isinstance(self.name, str) or _FIELD_NAME.fullmatch(self.name) is None:
            raise FormError(f"element name {_quote(self.name)} must be 1 to 64 letters, digits, `_` or `-`")
        is_select = self.type == "select"
        if is_select and not self.options:
            raise FormError(f"select {_quote(self.name)} has no options")
        if not is_select and self.options:
            raise FormError(f"only a select has options, not {_quote(self.name)}")
        values: set = set()
        for option in self.options:
            if option["value"] in values:
                raise FormError(f"select {_quote(self.name)} offers {_quote(option['value'])} twice")
            values.add(option["value"])
        if not _value_fits(self.value, self.type, values):
            raise FormError(f"element {_quote(self.name)} has a value that does not fit it")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Element) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Element({self.to_dict()!r})"


def _value_fits(value: Any, kind: str, option_values: set) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return kind == "checkbox"
    if _is_number(value):
        return kind == "number" and math.isfinite(value)
    if isinstance(value, str):
        if kind in ("checkbox", "number"):
            return False
        if kind == "select":
            return value in option_values
        return True
    return False


def _unknown_variant(kind: object) -> str:
    expected = ", ".join(f"`{t}`" for t in ELEMENT_TYPES)
    return f"unknown variant `{kind}`, expected one of {expected}"


def text(name: str, label: str, *, required: bool = False, secret: bool = False,
         value: Optional[str] = None) -> Element:
    """A one-line text field."""
    return Element("text", name, label, required=required, secret=secret, value=value)


def password(name: str, label: str, *, required: bool = False, secret: bool = False,
             value: Optional[str] = None) -> Element:
    """A masked field."""
    return Element("password", name, label, required=required, secret=secret, value=value)


def textarea(name: str, label: str, *, required: bool = False, value: Optional[str] = None) -> Element:
    """A multi-line text field."""
    return Element("textarea", name, label, required=required, value=value)


def number(name: str, label: str, *, required: bool = False,
           value: Optional[Union[int, float]] = None) -> Element:
    """A number field; its ``value``, if any, is a number."""
    return Element("number", name, label, required=required, value=value)


def checkbox(name: str, label: str, *, required: bool = False, value: Optional[bool] = None) -> Element:
    """A checkbox; its ``value``, if any, is a boolean."""
    return Element("checkbox", name, label, required=required, value=value)


def select(name: str, label: str, options: Iterable[Option], *, required: bool = False,
           value: Optional[str] = None) -> Element:
    """A choice among ``options``: ``[(value, label), ...]`` or ``[{"value", "label"}, ...]``."""
    return Element("select", name, label, options=options, required=required, value=value)


def info(name: str, text_to_show: str) -> Element:
    """Text for the user to read; it brings no answer back."""
    return Element("info", name, text_to_show)


class Form:
    """A form for Keruj to show, and the event (``reply``) that brings the answers back."""

    def __init__(self, reply: str, title: str, *, description: Optional[str] = None,
                 elements: Iterable[Element] = (), errors: Optional[Mapping[str, str]] = None):
        self.reply = reply
        self.title = title
        self.description = description
        self.elements = list(elements)
        self.errors = dict(errors or {})

    def with_error(self, name: str, message: str) -> "Form":
        """A copy of the form with ``message`` shown next to the field ``name``."""
        return Form(self.reply, self.title, description=self.description,
                    elements=self.elements, errors={**self.errors, name: message})

    def with_elements(self, *elements: Element) -> "Form":
        """A copy with more elements."""
        return Form(self.reply, self.title, description=self.description,
                    elements=[*self.elements, *elements], errors=self.errors)

    def to_dict(self) -> dict:
        out: dict = {"reply": self.reply, "title": self.title}
        if self.description is not None:
            out["description"] = self.description
        out["elements"] = [e.to_dict() for e in self.elements]
        if self.errors:
            # Rust keeps errors in a BTreeMap: sorted by key.
            out["errors"] = {k: self.errors[k] for k in sorted(self.errors)}
        return out

    def to_json(self) -> str:
        """The form as the JSON Keruj receives."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    def validate(self) -> "Form":
        """Checks what the host checks beyond the shape: names, options, errors."""
        if not is_event_name(self.reply):
            raise FormError("`reply` must be an event name (letters, digits, `_`, `-`, `.`; "
                            f"1 to 128), got {_quote(self.reply)}")
        if not isinstance(self.title, str) or _WHITE_SPACE.fullmatch(self.title):
            raise FormError("`title` is empty")
        if len(self.elements) > MAX_ELEMENTS:
            raise FormError(f"more than {MAX_ELEMENTS} elements")
        names: set = set()
        for element in self.elements:
            element.validate()
            if element.name in names:
                raise FormError(f"two elements are named {_quote(element.name)}")
            names.add(element.name)
        for name in sorted(self.errors):
            if name not in names:
                raise FormError(f"`errors` names {_quote(name)}, which is not an element")
        return self

    @staticmethod
    def from_json(text: str) -> "Form":
        """Parses and validates a reply exactly as the host does."""
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_REPLY_BYTES:
            raise FormError(f"reply is {size} bytes, over the limit of {MAX_REPLY_BYTES}")
        try:
            raw = json.loads(text, object_pairs_hook=_Object, parse_constant=_no_constant,
                             parse_float=_finite_float)
        except FormError:
            raise
        except (ValueError, RecursionError) as error:
            raise FormError(str(error)) from None
        return _form_from_value(raw).validate()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Form) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Form({self.to_dict()!r})"


class _Object(dict):
    """A JSON object that remembers which keys it was given twice (serde refuses those in a struct)."""

    def __init__(self, pairs):
        super().__init__(pairs)
        seen: set = set()
        self.twice = [k for k, _ in pairs if k in seen or seen.add(k)]


def _no_constant(name: str):
    raise FormError(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise FormError("number out of range")
    return value


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, str):
        return f"string {_quote(value)}"
    if isinstance(value, list):
        return "sequence"
    if isinstance(value, dict):
        return "map"
    return f"number `{value}`"


def _struct(value: object, what: str, fields: Sequence[str]) -> dict:
    if not isinstance(value, dict):
        raise FormError(f"invalid type: {_describe(value)}, expected {what}")
    for key in value:
        if key not in fields:
            expected = ", ".join(f"`{f}`" for f in fields)
            raise FormError(f"unknown field `{key}`, expected one of {expected}")
    twice = getattr(value, "twice", [])
    if twice:
        raise FormError(f"duplicate field `{twice[0]}`")
    return value


_EXPECTED = {str: "a string", bool: "a boolean", list: "a sequence", dict: "a map"}


def _field(obj: dict, key: str, kind: type, *, optional: bool = False, nullable: bool = False):
    if key not in obj:
        if optional:
            return None
        raise FormError(f"missing field `{key}`")
    value = obj[key]
    if value is None and nullable:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise FormError(f"invalid type: {_describe(value)}, expected {_EXPECTED[kind]}")
    return value


def _form_from_value(raw: object) -> Form:
    """The shape serde checks in Rust: required fields, their types, no others."""
    obj = _struct(raw, "struct Form", _FORM_FIELDS)
    errors = _field(obj, "errors", dict, optional=True) or {}
    for message in errors.values():
        _field({"message": message}, "message", str)
    return Form(
        _field(obj, "reply", str),
        _field(obj, "title", str),
        description=_field(obj, "description", str, optional=True, nullable=True),
        elements=[_element_from_value(e) for e in _field(obj, "elements", list)],
        errors=dict(errors),
    )


def _element_from_value(raw: object) -> Element:
    obj = _struct(raw, "struct Element", _ELEMENT_FIELDS)
    kind = _field(obj, "type", str)
    if kind not in ELEMENT_TYPES:
        raise FormError(_unknown_variant(kind))
    options = []
    for option in _field(obj, "options", list, optional=True) or []:
        option = _struct(option, "struct SelectOption", _OPTION_FIELDS)
        options.append({"value": _field(option, "value", str), "label": _field(option, "label", str)})
    return Element(
        kind,
        _field(obj, "name", str),
        _field(obj, "label", str),
        required=_field(obj, "required", bool, optional=True) or False,
        secret=_field(obj, "secret", bool, optional=True) or False,
        options=options,
        value=_plain(obj.get("value")),
    )


def _plain(value: Any) -> Any:
    """A parsed value without the duplicate-key bookkeeping."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
