"""Which text OpenFlows stores: no NUL characters, no unpaired surrogates (issue 12).

Every flow, run, log entry and action is stored as JSON (JSONB on PostgreSQL) and every title, label and tag
as text. Two kinds of "character" cannot be stored the same way on both databases, or at all:
- U+0000 (NUL): PostgreSQL `text` cannot hold it and a JSONB string refuses `\\u0000`; SQLite stores it.
- unpaired surrogates (U+D800..U+DFFF not part of a pair; JSON can spell them, `"\\ud800"`): they are not
  characters, cannot be encoded as UTF-8, so no database and no UTF-8 response can carry them. (A pair such as
  `"\\ud83d\\ude00"` decodes to one character, U+1F600, and is fine.)

The rule, the same on SQLite and PostgreSQL: such a string (or object key) is refused where it enters.
The API answers 4xx naming the field (`api/text.py`), a run state that would hold one fails the state that
produced it with `States.Runtime` (`step`), and a built-in provider whose result would hold one fails the
action. Messages for people that would quote such a character show it escaped (`\\u0000`), never raw.

Pure functions; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

#: the characters that cannot be stored: NUL and every surrogate code point (a pair never survives decoding)
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")

#: the rule, for messages
RULE = "Text in OpenFlows may not hold NUL characters or unpaired surrogates."

#: a location inside a JSON document: object keys and array indexes from the root
Location = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Unstorable:
    """Where the first unstorable character of a document is: `loc` leads to the string (for a key, to the
    key itself, escaped), `char` is the character."""

    loc: Location
    char: str
    in_key: bool = False

    @property
    def what(self) -> str:
        """The character for people: "a NUL character (U+0000)" or "an unpaired surrogate (U+D800)"."""
        if self.char == "\x00":
            return "a NUL character (U+0000)"
        return f"an unpaired surrogate (U+{ord(self.char):04X})"

    @property
    def json_path(self) -> str:
        """`loc` as a JSONPath, e.g. `$.definition.States['a b'][0]`."""
        return json_path(self.loc)

    @property
    def noun(self) -> str:
        return "object key" if self.in_key else "string"

    def message(self) -> str:
        """What is wrong and why, without the location (the caller names the field its own way)."""
        return f"The {self.noun} holds {self.what}, which cannot be stored. {RULE}"

    def describe(self, subject: str) -> str:
        """What is wrong, where and why, e.g. subject "The output of state A"."""
        return f"{subject} cannot be stored: the {self.noun} at {self.json_path} holds {self.what}. {RULE}"


def bad_char(text: str) -> str | None:
    """The first unstorable character of `text`, or None."""
    match = _UNSTORABLE.search(text)
    return match.group() if match else None


def surely_storable(value: Any) -> bool:
    """True when `value` certainly holds no unstorable character, decided by one orjson serialisation (about
    50 times faster than a walk): orjson refuses unpaired surrogates and spells NUL `\\u0000`. False means
    "walk it": a NUL, the six characters `\\u0000` in a string, or something orjson refuses (integers beyond
    64 bits, non-string keys)."""
    try:
        return b"\\u0000" not in orjson.dumps(value)
    except TypeError:
        return False


def find_unstorable(value: Any, loc: Location = ()) -> Unstorable | None:
    """The first string or object key in `value` holding an unstorable character (depth-first, in document
    order), or None. Iterative, and linear in the size of `value` at any nesting depth (the location is kept
    as a chain of (parent, step) links and built only for the string found)."""
    if surely_storable(value):
        return None
    stack: list[tuple[Any, _Link]] = [(value, None)]
    while stack:
        item, link = stack.pop()
        if isinstance(item, str):
            char = bad_char(item)
            if char is not None:
                return Unstorable((*loc, *_steps(link)), char)
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                if isinstance(key, str):
                    char = bad_char(key)
                    if char is not None:
                        return Unstorable((*loc, *_steps(link), escape(key)), char, in_key=True)
                children.append((child, (link, key)))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(child, (link, index)) for index, child in enumerate(item)]))
    return None


#: a location as links from the innermost step outwards: (parent link, key or index); None is the root
_Link = tuple[Any, str | int] | None


def _steps(link: _Link) -> Location:
    steps: list[str | int] = []
    while link is not None:
        link, step = link
        steps.append(step)
    return tuple(reversed(steps))


def escape(text: str) -> str:
    """`text` with every unstorable character written as its JSON escape (`\\u0000`, `\\ud800`)."""
    if bad_char(text) is None:
        return text
    return _UNSTORABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def make_storable(value: Any) -> Any:
    """`value` with every unstorable character of its strings and keys escaped; `value` itself (not a copy)
    when it holds none. For error causes and messages, which must be stored and shown, never refused."""
    if find_unstorable(value) is None:
        return value
    try:
        return _escape_all(value)
    except RecursionError:  # nested deeper than Python's recursion limit: not worth showing
        return f"<a {type(value).__name__} nested too deeply to show>"


def _escape_all(value: Any) -> Any:
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {(escape(k) if isinstance(k, str) else k): _escape_all(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escape_all(item) for item in value]
    return value


_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(loc: Location) -> str:
    """`("a", 0, "b c")` -> `$.a[0]['b c']` (for people: only quotes are escaped in brackets)."""
    path = "$"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _SIMPLE_KEY.match(part):
            path += f".{part}"
        else:
            path += "['" + part.replace("'", "\\'") + "']"
    return path
