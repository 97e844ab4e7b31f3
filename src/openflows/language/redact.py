"""Hide private data before it is shown (spec/flows-language.md §1 and §4, DESIGN invariant 6).

Two mechanisms, both applied at the API boundary on copies (the originals are never changed):

- **Private keys** in run data (run input, run state, status, log details) are removed at any depth,
  including inside arrays: `redact(doc)`. A key is private when it starts with `_private`, or is `_tokens`:
  the run-input workaround that hands the engine a bearer token per `RunAs` role for external providers
  (`{"_tokens": {"<Role>": "<token>"}}`). The engine reads it from the stored input; nobody sees it.
- **`__Private_Parameters`** lists, next to keys of a `Parameters` template, the names (without the `.$`/`.=`
  suffix) whose values are private. In a flow definition shown to someone who is not an owner or
  administrator, the values of those template keys are replaced by `REDACTED`:
  `redact_definition(definition)`.
  In run status and logs (for everyone), the same names are hidden in the *evaluated* parameters, e.g. an
  Action's logged input: `redact_evaluated_parameters(value, template)` walks the evaluated value alongside
  its template, so lists work at any nesting level; `redact_with_private_parameters(doc, names)` is the
  one-level building block.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .parameters import PRIVATE_PARAMETERS_KEY, private_parameter_names

#: what a private value is replaced with (the key is kept so the shape of the document stays visible)
REDACTED = "<redacted>"
PRIVATE_PREFIX = "_private"
#: the run-input key that carries bearer tokens for external providers: private like `_private*`
TOKENS_KEY = "_tokens"


def is_private_key(key: Any) -> bool:
    """Whether an object key names private data: `_private*` or `_tokens`."""
    return isinstance(key, str) and (key.startswith(PRIVATE_PREFIX) or key == TOKENS_KEY)


def is_private_location(location: str) -> bool:
    """Whether a JSONPath-like location (`$._tokens.User`, `$.items[0]._private_x`) passes through a private
    key: messages about the value there must not quote it."""
    return any(is_private_key(part) for part in re.split(r"[.\[\]]", location))


def redact(doc: Any) -> Any:
    """A copy of `doc` without any private key (`is_private_key`), at any depth."""
    if isinstance(doc, dict):
        return {k: redact(v) for k, v in doc.items() if not is_private_key(k)}
    if isinstance(doc, list):
        return [redact(v) for v in doc]
    return doc


class Redactor:
    """`redact` for the documents of one step, remembering every object and array it has seen.

    Unlike `redact` it shares what needs no change: a document without private keys is returned as it
    is, and a copy is made only on the path to a removed key. Each object or array is looked at once per
    step, so logging a run state that is a part of the previous one (a loop peeling a nested document, an
    InputPath) costs nothing more. The documents must not be mutated afterwards (run states never are:
    every write is copy-on-write), and the memo holds them alive for the step's lifetime.
    """

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        #: id -> (document, its redacted form)
        self._memo: dict[int, tuple[Any, Any]] = {}

    def __call__(self, doc: Any) -> Any:
        if not isinstance(doc, dict | list):
            return doc
        hit = self._memo.get(id(doc))
        if hit is not None and hit[0] is doc:
            return hit[1]
        result: Any = doc
        if isinstance(doc, dict):
            for key, value in doc.items():
                shown = self(value)
                if is_private_key(key) or shown is not value:
                    result = {k: self(v) for k, v in doc.items() if not is_private_key(k)}
                    break
        else:
            for value in doc:
                if self(value) is not value:
                    result = [self(v) for v in doc]
                    break
        self._memo[id(doc)] = (doc, result)
        return result


def redact_definition(definition: Any) -> Any:
    """A copy of a flow definition in which every value named by a sibling `__Private_Parameters` list is
    replaced by `REDACTED` (matching `name`, `name.$` and `name.=`). The lists themselves are kept.

    This is applied to every object in the definition, so it covers `Parameters` of any state at any depth.
    """
    if isinstance(definition, dict):
        private = private_parameter_names(definition)
        out: dict[str, Any] = {}
        for key, value in definition.items():
            if private and key != PRIVATE_PARAMETERS_KEY and _base_name(key) in private:
                out[key] = REDACTED
            else:
                out[key] = redact_definition(value)
        return out
    if isinstance(definition, list):
        return [redact_definition(v) for v in definition]
    return definition


def redact_with_private_parameters(doc: Any, names: Iterable[str]) -> Any:
    """A shallow copy of the object `doc` with the values of the keys in `names` replaced by `REDACTED`.

    A key matches a name when it equals it or equals it plus `.$` or `.=`; names may carry those suffixes
    too. Anything that is not an object is returned unchanged.
    """
    private = {_base_name(n) for n in names}
    if not isinstance(doc, dict) or not private:
        return doc
    return {k: (REDACTED if _base_name(k) in private else v) for k, v in doc.items()}


def redact_evaluated_parameters(value: Any, template: Any) -> Any:
    """`value`, the result of `evaluate_parameters(template, ...)`, with every private parameter (per the
    `__Private_Parameters` lists in `template`, at any nesting level) replaced by `REDACTED`.

    Objects and arrays on the way to a redacted value are new; everything else is shared with `value`.
    """
    if isinstance(template, dict) and isinstance(value, dict):
        private = private_parameter_names(template)
        nested = {
            k: v for k, v in template.items() if isinstance(v, (dict, list)) and not k.endswith((".$", ".="))
        }
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in private:
                out[key] = REDACTED
            elif key in nested:
                out[key] = redact_evaluated_parameters(item, nested[key])
            else:
                out[key] = item
        return out
    if isinstance(template, list) and isinstance(value, list) and len(template) == len(value):
        return [redact_evaluated_parameters(v, t) for v, t in zip(value, template, strict=True)]
    return value


def _base_name(name: str) -> str:
    return name[:-2] if name.endswith((".$", ".=")) else name
