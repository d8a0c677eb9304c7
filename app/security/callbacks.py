"""Dash callbacks as HTTP endpoints: what one ``POST /_dash-update-component`` asks for, checked
before Dash runs it.

A callback request names the callback by its output key (``body["output"]``, the key of
``dash_app.callback_map``) and sends the values of its inputs and states. Everything in it comes
from the client, so:

* ``parse_callback`` checks the body's shape against the registered callback — a JSON object,
  a known output key, as many inputs, states and outputs as declared, each with the declared
  component id and property (pattern-matching ids: the declared type, a value for every wildcard
  key) — and answers ``BadCallback`` (400, a clear message, never a stack trace) otherwise.
  Without this, Dash itself would fail with a KeyError or TypeError (a 500).
* ``output_ids`` lists the component ids a callback writes to, from its registered key (never
  from the client's ``outputs``): the access table (``app.security.access``) decides from them
  which capability the callback needs.
* ``input_value`` reads one input's value by component id and property (the routing callback's
  pathname, for instance).
* ``BadInput`` is what a callback raises for a value it cannot use (a malformed store, a wrong
  type): 400 with the message, like any other rejected request.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from werkzeug.exceptions import BadRequest

MAX_ITEMS = 2000  # inputs of one pattern-matching list (a wall has a few dozen panels)
MAX_ID_LENGTH = 512


class BadCallback(BadRequest):
    """A callback request that does not fit the callback it names."""

    def __init__(self, message: str):
        super().__init__(description=message)


class BadInput(BadRequest):
    """A callback input value that cannot be used (wrong type, malformed, out of range)."""

    def __init__(self, name: str, message: str):
        super().__init__(description=f"{name}: {message}")
        self.field = name


@dataclass(frozen=True)
class CallbackCall:
    key: str  # the output key of callback_map
    outputs: tuple  # declared output ids (strings, or dicts for pattern-matching ids)
    inputs: list  # the body's inputs (validated shape)
    state: list


def split_key(key: str) -> list[tuple[object, str]]:
    """``(component id, property)`` of every output of a callback key, ids parsed back from JSON."""
    parts = key[2:-2].split("...") if key.startswith("..") and key.endswith("..") else [key]
    outputs = []
    for part in parts:
        component, _, prop = part.rpartition(".")
        prop = prop.split("@", 1)[0]  # allow_duplicate outputs carry a hash after the property
        component = component.replace("\\.", ".")
        if component.startswith("{"):
            try:
                component = json.loads(component)
            except ValueError:
                pass
        outputs.append((component, prop))
    return outputs


def output_ids(key: str) -> tuple:
    return tuple(component for component, _ in split_key(key))


def _is_wildcard(value) -> bool:
    return isinstance(value, list) and len(value) == 1 and value[0] in ("ALL", "MATCH", "ALLSMALLER")


def _check_id(given, declared, where: str) -> None:
    if isinstance(declared, dict):
        if not isinstance(given, dict) or set(given) != set(declared):
            raise BadCallback(f"{where}: the component id must be an object with the keys {sorted(declared)}")
        for name, value in declared.items():
            if _is_wildcard(value):
                if not isinstance(given[name], (str, int, float)) or isinstance(given[name], bool) or len(str(given[name])) > MAX_ID_LENGTH:
                    raise BadCallback(f"{where}: id key {name!r} must be a string or a number")
            elif given[name] != value:
                raise BadCallback(f"{where}: id key {name!r} must be {value!r}")
    elif given != declared:
        raise BadCallback(f"{where}: expected component {declared!r}")


def _check_item(item, declared: dict, where: str) -> None:
    if not isinstance(item, dict):
        raise BadCallback(f"{where}: must be an object with 'id' and 'property'")
    given = item.get("property")
    if not isinstance(given, str) or given.split("@", 1)[0] != declared["property"].split("@", 1)[0]:
        raise BadCallback(f"{where}: expected property {declared['property']!r}")
    _check_id(item.get("id"), declared["id"], where)


def _declared_id(spec) -> object:
    component = spec["id"]
    if isinstance(component, str) and component.startswith("{"):
        try:
            return json.loads(component)
        except ValueError:
            return component
    return component


def _check_list(values, declared: list, name: str) -> list:
    if values is None:
        values = []
    if not isinstance(values, list) or len(values) != len(declared):
        raise BadCallback(f"'{name}' must be a list of {len(declared)} item(s) for this callback")
    for position, (item, spec) in enumerate(zip(values, declared)):
        expected = {"id": _declared_id(spec), "property": spec["property"]}
        where = f"{name}[{position}]"
        many = isinstance(expected["id"], dict) and any(_is_wildcard(v) and v[0] != "MATCH" for v in expected["id"].values())
        if many:
            if not isinstance(item, list):
                raise BadCallback(f"{where}: must be a list (a pattern-matching id with ALL)")
            if len(item) > MAX_ITEMS:
                raise BadCallback(f"{where}: at most {MAX_ITEMS} components")
            for inner, element in enumerate(item):
                _check_item(element, expected, f"{where}[{inner}]")
        else:
            _check_item(item, expected, where)
    return values


def parse_callback(body, callback_map: dict) -> CallbackCall:
    """The checked call of one ``/_dash-update-component`` body (see the module docstring)."""
    if not isinstance(body, dict):
        raise BadCallback("the request body must be a JSON object")
    key = body.get("output")
    if not isinstance(key, str) or key not in callback_map:
        raise BadCallback("'output' does not name a callback of this application")
    spec = callback_map[key]
    if spec.get("clientside_function") is not None or spec.get("callback") is None:
        raise BadCallback("this callback runs in the browser, not on the server")
    inputs = _check_list(body.get("inputs"), spec.get("inputs") or [], "inputs")
    state = _check_list(body.get("state"), spec.get("state") or [], "state")
    declared_outputs = [{"id": component, "property": prop} for component, prop in split_key(key)]
    outputs = body.get("outputs")
    if not spec.get("no_output"):
        if key.startswith(".."):
            if not isinstance(outputs, list):
                raise BadCallback("'outputs' must be a list for this callback")
            _check_list(outputs, declared_outputs, "outputs")
        else:
            _check_list([outputs], declared_outputs, "outputs")
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(item, str) and len(item) <= 4 * MAX_ID_LENGTH for item in changed):
        raise BadCallback("'changedPropIds' must be a list of strings")
    sent = {_canonical_prop_id(component, prop) for component, prop in _prop_ids(inputs)}
    unknown = [item for item in changed if _canonical_prop_id(*_split_prop_id(item)) not in sent]
    if unknown:
        raise BadCallback(f"'changedPropIds' names {unknown[0][:100]!r}, which is not an input of this request")
    for item in [*inputs, *state]:
        for element in item if isinstance(item, list) else [item]:
            shape = PROPERTY_SHAPES.get(element["property"])
            if shape is not None:
                check(element.get("value"), shape, f"{_canonical_prop_id(element['id'], element['property'])[:100]}")
    return CallbackCall(key, tuple(component for component, _ in split_key(key)), inputs, state)


def _prop_ids(items: list):
    """(component id, property) of every input sent."""
    for item in items:
        for element in item if isinstance(item, list) else [item]:
            yield element["id"], element["property"]


def _split_prop_id(text: str) -> tuple[object, str]:
    component, _, prop = text.rpartition(".")
    if component.startswith("{"):
        try:
            return json.loads(component), prop
        except ValueError:
            pass
    return component, prop


def _canonical_prop_id(component, prop: str) -> str:
    """One spelling of ``id.property`` (Dash's renderer and ``json`` escape ids differently)."""
    if isinstance(component, dict):
        component = json.dumps(component, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{component}.{prop}"


def input_value(call: CallbackCall, component: str, prop: str):
    """The value the client sent for ``component.prop`` (inputs, then states), or None."""
    for item in [*call.inputs, *call.state]:
        if isinstance(item, dict) and item.get("id") == component and item.get("property") == prop:
            return item.get("value")
    return None


# --- small value checks for callbacks --------------------------------------------------------------


def expect(value, types, name: str, *, optional: bool = True):
    """``value`` when it is of ``types`` (or None when ``optional``), else ``BadInput``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise BadInput(name, f"must be {_names(types)}, not a boolean")
    if not isinstance(value, types):
        raise BadInput(name, f"must be {_names(types)}, not {type(value).__name__}")
    return value


def _names(types) -> str:
    return " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))


# --- shapes: declarative checks of the JSON values a callback receives ----------------------------
#
# A shape describes what a store or a property may hold; ``check(value, shape, name)`` returns the
# value or raises ``BadInput`` naming the first thing wrong (``command-state.data.layers[3]: …``).
# Records allow keys they do not describe (ignored by the callbacks); every described key is
# checked, absent keys count as None.

MAX_TEXT = 4096
MAX_LIST = 5000


@dataclass(frozen=True)
class Opt:
    shape: object


@dataclass(frozen=True)
class Enum:
    values: tuple


@dataclass(frozen=True)
class Text:
    max_length: int = MAX_TEXT
    pattern: str | None = None  # a full match is required


@dataclass(frozen=True)
class Int:
    minimum: int = -(2**53)
    maximum: int = 2**53


@dataclass(frozen=True)
class Number:
    minimum: float = -1e15
    maximum: float = 1e15


@dataclass(frozen=True)
class ListOf:
    shape: object
    max_items: int = MAX_LIST


@dataclass(frozen=True)
class MapOf:
    shape: object
    max_items: int = MAX_LIST


@dataclass(frozen=True)
class Record:
    fields: tuple  # ((key, shape), …)

    @classmethod
    def of(cls, **fields) -> Record:
        return cls(tuple(fields.items()))


BOOL = "bool"
ANY_JSON = "any"


def check(value, shape, name: str):
    """``value`` when it has ``shape``, else ``BadInput(name, …)``."""
    import math
    import re

    if isinstance(shape, Opt):
        return None if value is None else check(value, shape.shape, name)
    if shape == ANY_JSON:
        return value
    if value is None:
        raise BadInput(name, "is required")
    if shape == BOOL:
        if not isinstance(value, bool):
            raise BadInput(name, f"must be true or false, not {type(value).__name__}")
        return value
    if isinstance(shape, Enum):
        if isinstance(value, bool) or value not in shape.values:
            raise BadInput(name, f"must be one of {', '.join(map(str, shape.values))}")
        return value
    if isinstance(shape, Text):
        if not isinstance(value, str):
            raise BadInput(name, f"must be a string, not {type(value).__name__}")
        if len(value) > shape.max_length:
            raise BadInput(name, f"must be at most {shape.max_length} characters")
        if shape.pattern is not None and not re.fullmatch(shape.pattern, value):
            raise BadInput(name, "is malformed")
        return value
    if isinstance(shape, Int):
        if isinstance(value, bool) or not isinstance(value, int) or not shape.minimum <= value <= shape.maximum:
            raise BadInput(name, f"must be an integer from {shape.minimum} to {shape.maximum}")
        return value
    if isinstance(shape, Number):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not shape.minimum <= value <= shape.maximum:
            raise BadInput(name, f"must be a number from {shape.minimum:g} to {shape.maximum:g}")
        return value
    if isinstance(shape, ListOf):
        if not isinstance(value, (list, tuple)):
            raise BadInput(name, f"must be a list, not {type(value).__name__}")
        if len(value) > shape.max_items:
            raise BadInput(name, f"must have at most {shape.max_items} items")
        for position, item in enumerate(value):
            check(item, shape.shape, f"{name}[{position}]")
        return value
    if isinstance(shape, MapOf):
        if not isinstance(value, dict):
            raise BadInput(name, f"must be an object, not {type(value).__name__}")
        if len(value) > shape.max_items:
            raise BadInput(name, f"must have at most {shape.max_items} members")
        for key, item in value.items():
            check(item, shape.shape, f"{name}.{str(key)[:64]}")
        return value
    if isinstance(shape, Record):
        if not isinstance(value, dict):
            raise BadInput(name, f"must be an object, not {type(value).__name__}")
        for key, field_shape in shape.fields:
            check(value.get(key), field_shape, f"{name}.{key}")
        return value
    raise AssertionError(f"unknown shape {shape!r}")


def iso_time(value, name: str):
    """An ISO 8601 time string with a UTC offset, as a datetime, else ``BadInput``."""
    import datetime as dt

    check(value, Text(64), name)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(name, "is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise BadInput(name, "needs a UTC offset")
    if not 1970 <= moment.year <= 2100:
        raise BadInput(name, "is out of range")
    return moment


# The live-events store (assets/cityops-live.js): what pages take from it.
LIVE_EVENT = Record.of(type=Text(64), id=Opt(Text(256)), at=Opt(Text(64)), data_version=Opt(Int()), payload=Opt(MapOf(ANY_JSON, 200)))
LIVE_STORE = Opt(Record.of(seq=Opt(Int(0)), recent=Opt(ListOf(LIVE_EVENT, 1000)), last=Opt(LIVE_EVENT)))


# Dash properties whose type is known whatever the component: checked for every callback.
PROPERTY_SHAPES = {
    "n_clicks": Opt(Int(0)),
    "n_intervals": Opt(Int(0)),
    "pathname": Opt(Text(2048)),
    "search": Opt(Text(8192)),
    "hash": Opt(Text(2048)),
    "href": Opt(Text(8192)),
}
