"""Tests for openflows.language.paths: the JSONPath reference-path compiler, reads and ResultPath writes."""

from __future__ import annotations

import copy
import timeit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonpath_ng import parse as ng_parse

from openflows.language.errors import PathNotFound, PathSyntaxError, PathWriteError
from openflows.language.paths import (
    CompiledPath,
    Index,
    Key,
    Slice,
    Wildcard,
    compile_path,
    read_path,
    write_path,
)

DOC = {
    "a": {"b": [1, 2, {"c": 3}], "x-y": 5, "1": "one", "q.w": 7, "s p": 8, "br[0]": 9, "ü": "unicode"},
    "l": [{"b": 1}, {"c": 2}, {"b": 3}],
    "s": "str",
    "n": None,
    "my-key": "hyphen",
    "_private": {"password": "pw"},
    "empty": [],
}


# --- compiling ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "segments", "definite"),
    [
        ("$", (), True),
        ("$.a", (Key("a"),), True),
        ("$.a.b[0]", (Key("a"), Key("b"), Index(0)), True),
        ("$.my-key", (Key("my-key"),), True),
        ("$._context.run_id", (Key("_context"), Key("run_id")), True),
        ("$['a b']", (Key("a b"),), True),
        ('$["a.b"]', (Key("a.b"),), True),
        ("$['it\\'s']", (Key("it's"),), True),
        ('$["q\\"uote"]', (Key('q"uote'),), True),
        ("$['back\\\\slash']", (Key("back\\slash"),), True),
        ("$['\\u00fc']", (Key("ü"),), True),
        ("$['[x]']", (Key("[x]"),), True),
        ("$.ü.ñ", (Key("ü"), Key("ñ")), True),
        ("$.a[-1]", (Key("a"), Index(-1)), True),
        ("$[0]", (Index(0),), True),
        ("$.a[ 2 ]", (Key("a"), Index(2)), True),
        ("$.a[*]", (Key("a"), Wildcard()), False),
        ("$.a.*", (Key("a"), Wildcard()), False),
        ("$.*", (Wildcard(),), False),
        ("$.a[1:]", (Key("a"), Slice(1, None, None)), False),
        ("$.a[:2]", (Key("a"), Slice(None, 2, None)), False),
        ("$.a[-2:-1]", (Key("a"), Slice(-2, -1, None)), False),
        ("$.a[::2]", (Key("a"), Slice(None, None, 2)), False),
        ("$.a[:]", (Key("a"), Slice(None, None, None)), False),
        ("$.input.Hellos[1:]", (Key("input"), Key("Hellos"), Slice(1, None, None)), False),
        ("$.a.1", (Key("a"), Key("1")), True),
        ("$.a@b", (Key("a@b"),), True),
    ],
)
def test_compile_path_segments(text: str, segments: tuple, definite: bool) -> None:
    path = compile_path(text)
    assert isinstance(path, CompiledPath)
    assert path.text == text
    assert path.segments == segments
    assert path.definite is definite


def test_compile_path_is_cached() -> None:
    assert compile_path("$.cached.path") is compile_path("$.cached.path")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "must start with '$'"),
        ("a.b", "must start with '$'"),
        (".a", "must start with '$'"),
        ("$a", "expected '.' or '['"),
        ("$.", "expected a name or '*'"),
        ("$.a.", "expected a name or '*'"),
        ("$..a", "recursive descent"),
        ("$.a..b", "recursive descent"),
        ("$.a[?(@.x > 1)]", "filter expressions"),
        ("$.a[(@.length-1)]", "script expressions"),
        ("$[0,1]", "unions"),
        ("$['a','b']", "unions"),
        ("$.a[", "unterminated"),
        ("$.a[0", "unterminated"),
        ("$['a", "unterminated quoted name"),
        ("$['a']x", "expected '.' or '['"),
        ("$.a b", "whitespace"),
        (" $.a", "must start with '$'"),
        ("$.a ", "whitespace"),
        ("$.a[x]", "expected an integer"),
        ("$.a[]", "empty brackets"),
        ("$.a[1:2:3:4]", "invalid slice"),
        ("$.a[::0]", "step cannot be zero"),
        ("$.a[1.5]", "expected an integer"),
        ("$$.a", "'$$' is not supported"),
        ("$['\\x']", "invalid escape"),
        ("$['\\u12']", "invalid \\u escape"),
        ("$.a]", "expected '.' or '['"),
        ("$.[0]", "expected a name after '.'"),
        ("$.a[99999999999999999999]", "too large"),
    ],
)
def test_compile_path_rejects(text: str, fragment: str) -> None:
    with pytest.raises(PathSyntaxError) as info:
        compile_path(text)
    message = str(info.value)
    assert fragment in message
    assert repr(text) in message  # the message names the path
    assert "position" in message  # ... and says where


def test_compile_path_rejects_non_string() -> None:
    with pytest.raises(PathSyntaxError, match="must be a string"):
        compile_path(42)  # type: ignore[arg-type]


# --- reading --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$", DOC),
        ("$.a.b[0]", 1),
        ("$.a.b[-1]", {"c": 3}),
        ("$.a.b[-3]", 1),
        ("$.a.b[2].c", 3),
        ("$['a']['b'][1]", 2),
        ("$.a['x-y']", 5),
        ("$.a.x-y", 5),
        ("$.my-key", "hyphen"),
        ("$.a['q.w']", 7),
        ("$.a['s p']", 8),
        ("$.a['br[0]']", 9),
        ("$.a.ü", "unicode"),
        ("$.a.1", "one"),
        ("$.n", None),
        ("$._private.password", "pw"),
        ("$.empty", []),
        # non-definite paths give lists of matches
        ("$.a.b[*]", [1, 2, {"c": 3}]),
        ("$.l[*].b", [1, 3]),
        ("$.l.*", [{"b": 1}, {"c": 2}, {"b": 3}]),
        ("$.a.*", [[1, 2, {"c": 3}], 5, "one", 7, 8, 9, "unicode"]),
        ("$.a.b[1:]", [2, {"c": 3}]),
        ("$.a.b[:-1]", [1, 2]),
        ("$.a.b[::2]", [1, {"c": 3}]),
        ("$.a.b[::-1]", [{"c": 3}, 2, 1]),
        ("$.a.b[5:]", []),
        ("$.a.b[-10:1]", [1]),
        ("$.a.b[2:1]", []),
        ("$.l[1:].b", [3]),
        ("$.a.b[1:][0]", []),  # each segment applies to each match (not to the list of matches)
        ("$.a.b[*][*]", [3]),
        ("$.missing[*]", []),
        ("$.s[*]", []),  # strings are not arrays
        ("$.s[0:1]", []),
        ("$.empty[*]", []),
        ("$.empty[0:5]", []),
    ],
)
def test_read(text: str, expected: object) -> None:
    assert read_path(DOC, text) == expected


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("$.missing", "no member 'missing' in '$'"),
        ("$.a.missing", "no member 'missing' in '$.a'"),
        ("$.a.b[3]", "no element [3] in '$.a.b'"),
        ("$.a.b[-4]", "no element [-4] in '$.a.b'"),
        ("$.s[0]", "no element [0] in '$.s'"),  # no indexing into strings
        ("$.a[0]", "no element [0] in '$.a'"),  # no indexing into objects
        ("$.l.b", "no member 'b' in '$.l'"),  # no member access on arrays
        ("$.n.x", "no member 'x' in '$.n'"),
        ("$.s.x", "no member 'x' in '$.s'"),
        ("$.empty[0]", "no element [0]"),
        ("$.a.b[2].c.d", "no member 'd' in '$.a.b[2].c'"),
    ],
)
def test_read_missing_raises(text: str, where: str) -> None:
    with pytest.raises(PathNotFound) as info:
        read_path(DOC, text)
    assert repr(text) in str(info.value)
    assert where in str(info.value)
    assert info.value.path == text  # type: ignore[attr-defined]


def test_read_from_scalar_documents() -> None:
    assert read_path("x", "$") == "x"
    assert read_path([1, 2], "$[1]") == 2
    assert read_path([[1], [2]], "$[*][0]") == [1, 2]
    with pytest.raises(PathNotFound):
        read_path(None, "$.a")


def test_read_returns_the_value_itself() -> None:
    # reads do not copy: callers that need a copy take one (evaluate_parameters does)
    assert read_path(DOC, "$.a") is DOC["a"]


def test_context_view() -> None:
    ctx = {"run_id": "r-1", "identities": ["u1", "u2"], "token_info": {"exp": 5}}
    assert read_path(DOC, "$._context.run_id", ctx) == "r-1"
    assert read_path(DOC, "$._context.identities[1]", ctx) == "u2"
    assert read_path(DOC, "$._context", ctx) == ctx
    assert read_path(DOC, "$._context.identities[*]", ctx) == ["u1", "u2"]
    assert read_path(DOC, "$._context.token_info.exp", ctx) == 5
    with pytest.raises(PathNotFound, match="the run context"):
        read_path(DOC, "$._context.nope", ctx)
    # without a context the document is read as is
    assert read_path({"_context": {"run_id": "doc"}}, "$._context.run_id") == "doc"
    # a context given, but the state's own _context key is never visible through the path
    assert read_path({"_context": {"run_id": "doc"}}, "$._context.run_id", ctx) == "r-1"
    # other paths ignore the context
    assert read_path(DOC, "$.s", ctx) == "str"


def test_exists() -> None:
    assert compile_path("$.a.b[0]").exists(DOC)
    assert compile_path("$.n").exists(DOC)  # a null value exists
    assert not compile_path("$.a.b[9]").exists(DOC)
    assert not compile_path("$.missing.deeper").exists(DOC)
    assert compile_path("$.l[*].b").exists(DOC)
    assert not compile_path("$.l[*].zz").exists(DOC)
    assert compile_path("$._context.run_id").exists(DOC, {"run_id": "r"})
    assert not compile_path("$._context.run_id").exists(DOC, {})


def test_cached_read_is_fast() -> None:
    doc = {"a": {"b": [1, 2, 3]}}
    path = compile_path("$.a.b[0]")
    best = min(timeit.repeat(lambda: path.read(doc), number=2000, repeat=5)) / 2000
    assert best < 20e-6  # ~1 µs on a developer machine; generous for slow CI
    best = min(timeit.repeat(lambda: read_path(doc, "$.a.b[0]"), number=2000, repeat=5)) / 2000
    assert best < 20e-6


# --- writing --------------------------------------------------------------------------------------


def test_write_root_returns_value() -> None:
    value = {"new": 1}
    assert write_path(DOC, "$", value) is value


def test_write_is_copy_on_write() -> None:
    doc = copy.deepcopy(DOC)
    before = copy.deepcopy(doc)
    new = write_path(doc, "$.a.b[1]", "X")
    assert doc == before  # the original is unchanged
    assert new["a"]["b"] == [1, "X", {"c": 3}]
    assert new is not doc and new["a"] is not doc["a"] and new["a"]["b"] is not doc["a"]["b"]
    assert new["l"] is doc["l"]  # untouched branches are shared
    assert new["a"]["b"][2] is doc["a"]["b"][2]


def test_write_creates_intermediate_objects() -> None:
    doc = {"x": 1}
    new = write_path(doc, "$.r.s.t", [1])
    assert new == {"x": 1, "r": {"s": {"t": [1]}}}
    assert doc == {"x": 1}


def test_write_overwrites_and_adds_keys() -> None:
    assert write_path({"a": 1}, "$.a", 2) == {"a": 2}
    assert write_path({"a": {"k": 1}}, "$.a.j", 2) == {"a": {"k": 1, "j": 2}}
    assert write_path({}, "$['a b']['c.d']", 1) == {"a b": {"c.d": 1}}
    assert write_path({}, "$.my-key", 1) == {"my-key": 1}


def test_write_list_index() -> None:
    assert write_path({"l": [1, 2, 3]}, "$.l[-1]", 9) == {"l": [1, 2, 9]}
    assert write_path({"l": [{"a": 1}]}, "$.l[0].b", 2) == {"l": [{"a": 1, "b": 2}]}
    assert write_path([1, 2], "$[0]", 5) == [5, 2]


def test_write_value_is_not_copied() -> None:
    value = {"v": [1]}
    assert write_path({}, "$.a", value)["a"] is value


def test_write_replaces_non_object_raw_input() -> None:
    assert write_path("a string", "$.x", 1) == {"x": 1}
    assert write_path([1, 2], "$.x", 1) == {"x": 1}
    assert write_path(None, "$.x.y", 1) == {"x": {"y": 1}}


@pytest.mark.parametrize(
    ("doc", "text", "fragment"),
    [
        ({"l": [1]}, "$.l[1]", "index 1 is out of range for the array at '$.l' (length 1)"),
        ({"l": []}, "$.l[0]", "out of range"),
        ({"l": [1]}, "$.l[-2]", "out of range"),
        ({"s": "str"}, "$.s.x", "'$.s' is a string, not an object"),
        ({"n": None}, "$.n.x", "'$.n' is null, not an object"),
        ({"i": 5}, "$.i[0]", "'$.i' is a number, not an array"),
        ({"l": [1]}, "$.l.x", "'$.l' is an array, not an object"),
        ({"o": {}}, "$.o[0]", "'$.o' is an object, not an array"),
        ({"o": {}}, "$[0]", "'$' is an object, not an array"),
        ({}, "$.a[*]", "must name exactly one location"),
        ({}, "$.a[0:1]", "must name exactly one location"),
        ({}, "$.*", "must name exactly one location"),
        ({}, "$._context", "$._context is read-only"),
        ({}, "$._context.run_id", "$._context is read-only"),
    ],
)
def test_write_errors(doc: dict, text: str, fragment: str) -> None:
    before = copy.deepcopy(doc)
    with pytest.raises(PathWriteError) as info:
        write_path(doc, text, 1)
    assert fragment in str(info.value)
    assert repr(text) in str(info.value)
    assert doc == before


def test_write_syntax_error() -> None:
    with pytest.raises(PathSyntaxError):
        write_path({}, "$.a..b", 1)


# --- properties: compare with jsonpath-ng, and write-then-read ------------------------------------

NAMES = st.sampled_from(["a", "b", "c", "x-y", "k1", "_p", "ü"])
QUOTED_NAMES = st.sampled_from(["a", "b", "a b", "a.b", "[0]", "q'uote"])

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text("abc", max_size=3))
json_doc = st.recursive(
    json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(["a", "b", "c", "x-y", "k1", "_p", "ü", "a b", "a.b", "[0]", "q'uote"]),
            children,
            max_size=4,
        ),
    ),
    max_leaves=25,
)


def _quote(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


small_int = st.integers(-4, 4)
segment = st.one_of(
    NAMES.map(lambda n: f".{n}"),
    QUOTED_NAMES.map(lambda n: f"[{_quote(n)}]"),
    small_int.map(lambda i: f"[{i}]"),
    st.just("[*]"),
    st.just(".*"),
    st.tuples(
        st.one_of(st.none(), small_int),
        st.one_of(st.none(), small_int),
        st.one_of(st.none(), st.integers(1, 3)),
    ).map(
        lambda t: "[{}:{}{}]".format(
            "" if t[0] is None else t[0], "" if t[1] is None else t[1], "" if t[2] is None else f":{t[2]}"
        )
    ),
)
path_text = st.lists(segment, max_size=4).map(lambda segs: "$" + "".join(segs))


def _ng_values(text: str, doc: object) -> list:
    return [m.value for m in ng_parse(text).find(doc)]


def _ng_text(text: str) -> str:
    """The same path in a spelling jsonpath-ng parses (all member names quoted)."""
    path = compile_path(text)
    out = "$"
    for seg in path.segments:
        if isinstance(seg, Key):
            out += f"[{_quote(seg.name)}]"
        elif isinstance(seg, Index):
            out += f"[{seg.index}]"
        elif isinstance(seg, Wildcard):
            out += "[*]"
        else:
            out += "[{}:{}{}]".format(
                "" if seg.start is None else seg.start,
                "" if seg.stop is None else seg.stop,
                "" if seg.step is None else f":{seg.step}",
            )
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=json_doc, text=path_text)
def test_read_agrees_with_jsonpath_ng(doc: object, text: str) -> None:
    path = compile_path(text)
    expected = _ng_values(_ng_text(text), doc)
    if path.definite:
        try:
            value = path.read(doc)
        except PathNotFound:
            assert expected == []
        else:
            assert expected == [value]
    else:
        assert path.read(doc) == expected


definite_segment = st.one_of(
    NAMES.map(lambda n: f".{n}"),
    QUOTED_NAMES.map(lambda n: f"[{_quote(n)}]"),
    small_int.map(lambda i: f"[{i}]"),
)


@settings(max_examples=200, deadline=None)
@given(doc=json_doc, segs=st.lists(definite_segment, min_size=1, max_size=4), value=json_doc)
def test_write_then_read_round_trips(doc: object, segs: list[str], value: object) -> None:
    text = "$" + "".join(segs)
    before = copy.deepcopy(doc)
    try:
        new = write_path(doc, text, value)
    except PathWriteError:
        assert doc == before
        return
    assert doc == before  # never mutated
    assert read_path(new, text) == value
    # everything else that existed before and is not on the written path is unchanged
    if isinstance(doc, dict) and isinstance(new, dict) and isinstance(compile_path(text).segments[0], Key):
        first = compile_path(text).segments[0].name
        for key, old in doc.items():
            if key != first:
                assert new[key] == old
