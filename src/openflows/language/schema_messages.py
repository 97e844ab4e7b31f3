"""Word jsonschema-rs validation errors the way the hosted Flows service does.

The hosted service validates run input with the Python `jsonschema` library, so its messages quote values
with Python's `repr` (`'not-a-boolean' is not of type 'boolean'`). OpenFlows used to re-run that library on
invalid input just to get the words, but it evaluates `pattern` with Python's backtracking `re` (`^(a+)+$`
on 28 characters: 7 s) and `uniqueItems` in quadratic time. Now only jsonschema-rs evaluates input (its
`regex` engine runs in linear time), and `message(error)` rebuilds the Python library's wording from the
error's kind and values. Kinds without a Python counterpart keep jsonschema-rs' own message.

Values are quoted with a bounded `repr` (long strings, deep or long containers are abbreviated), so a
message costs little even when the offending value is large.
"""

from __future__ import annotations

import reprlib
from typing import Any

#: the most characters of a value quoted in a message (the reason after it must fit in the message)
MAX_QUOTED = 200

_repr = reprlib.Repr()
_repr.maxlevel = 6
_repr.maxdict = _repr.maxlist = _repr.maxtuple = _repr.maxset = 100
_repr.maxstring = _repr.maxlong = _repr.maxother = MAX_QUOTED


def quote(value: Any) -> str:
    """`repr(value)`, abbreviated past `MAX_QUOTED` characters or 100 items or 6 levels."""
    try:
        return _repr.repr(value)
    except (ValueError, RecursionError):  # e.g. an integer past Python's 4,300-digit conversion limit
        return f"<{type(value).__name__}>"


def message(error: Any) -> str:
    """The Python-library wording of one jsonschema-rs `ValidationError`."""
    kind = error.kind
    name = kind.name
    if name == "oneOf":  # one keyword, two kinds
        name = "oneOfMultipleValid" if type(kind).__name__ == "OneOfMultipleValid" else "oneOfNotValid"
    build = _WORDING.get(name)
    if build is None:
        return str(error.message)
    try:
        return build(kind, error.instance)
    except (AttributeError, TypeError, ValueError):  # an unexpected shape: jsonschema-rs' words are fine
        return str(error.message)


def _extras(values: list[Any], quoted: bool = True) -> tuple[str, str]:
    shown = ", ".join(quote(v) if quoted else str(v) for v in values[:100])
    if len(values) > 100:
        shown += ", ..."
    return shown, "was" if len(values) == 1 else "were"


def _size(kind: Any, instance: Any, empty: str, short: str, long: str, *, minimum: bool) -> str:
    limit = kind.limit
    if minimum:
        return f"{quote(instance)} {'should be non-empty' if limit == 1 else short}"
    return f"{quote(instance)} {empty if limit == 0 else long}"


def _additional(kind: Any, what: str) -> str:
    shown, verb = _extras(sorted(kind.unexpected, key=str))
    return f"{what} are not allowed ({shown} {verb} unexpected)"


def _additional_items(kind: Any, instance: Any) -> str:
    shown, verb = _extras(list(instance[kind.limit :]) if isinstance(instance, list) else [])
    return f"Additional items are not allowed ({shown} {verb} unexpected)"


def _unevaluated_items(kind: Any, instance: Any) -> str:
    shown, verb = _extras(list(kind.unexpected), quoted=False)
    return f"Unevaluated items are not allowed ({shown} {verb} unexpected)"


def _property_names(kind: Any, instance: Any) -> str:
    return message(kind.error)


_WORDING: dict[str, Any] = {
    "type": lambda k, i: f"{quote(i)} is not of type {', '.join(repr(t) for t in k.types)}",
    "required": lambda k, i: f"{k.property!r} is a required property",
    "pattern": lambda k, i: f"{quote(i)} does not match {k.pattern!r}",
    "enum": lambda k, i: f"{quote(i)} is not one of {quote(k.options)}",
    "const": lambda k, i: f"{quote(k.expected_value)} was expected",
    "minimum": lambda k, i: f"{quote(i)} is less than the minimum of {k.limit!r}",
    "maximum": lambda k, i: f"{quote(i)} is greater than the maximum of {k.limit!r}",
    "exclusiveMinimum": lambda k, i: f"{quote(i)} is less than or equal to the minimum of {k.limit!r}",
    "exclusiveMaximum": lambda k, i: f"{quote(i)} is greater than or equal to the maximum of {k.limit!r}",
    "multipleOf": lambda k, i: f"{quote(i)} is not a multiple of {k.multiple_of}",
    "minLength": lambda k, i: _size(k, i, "", "is too short", "", minimum=True),
    "maxLength": lambda k, i: _size(k, i, "is expected to be empty", "", "is too long", minimum=False),
    "minItems": lambda k, i: _size(k, i, "", "is too short", "", minimum=True),
    "maxItems": lambda k, i: _size(k, i, "is expected to be empty", "", "is too long", minimum=False),
    "minProperties": lambda k, i: _size(k, i, "", "does not have enough properties", "", minimum=True),
    "maxProperties": lambda k, i: _size(
        k, i, "is expected to be empty", "", "has too many properties", minimum=False
    ),
    "uniqueItems": lambda k, i: f"{quote(i)} has non-unique elements",
    "additionalProperties": lambda k, i: _additional(k, "Additional properties"),
    "unevaluatedProperties": lambda k, i: _additional(k, "Unevaluated properties"),
    "additionalItems": _additional_items,
    "unevaluatedItems": _unevaluated_items,
    "not": lambda k, i: f"{quote(i)} should not be valid under {quote(k.schema)}",
    "anyOf": lambda k, i: f"{quote(i)} is not valid under any of the given schemas",
    "oneOfNotValid": lambda k, i: f"{quote(i)} is not valid under any of the given schemas",
    "oneOfMultipleValid": lambda k, i: f"{quote(i)} is valid under more than one of the given schemas",
    "contains": lambda k, i: f"{quote(i)} does not contain items matching the given schema",
    "falseSchema": lambda k, i: f"False schema does not allow {quote(i)}",
    "propertyNames": _property_names,
}
