"""Tests for openflows.language.expressions: the `.=` expression language."""

from __future__ import annotations

import copy
import json
import threading

import pytest

from corpus import CORPUS_DIR as CORPUS
from openflows.language.errors import ExpressionError, ExpressionSyntaxError
from openflows.language.expression_evaluator import CompiledExpression
from openflows.language.expression_values import MAX_COMPREHENSION_LENGTH
from openflows.language.expressions import compile_expression, evaluate_expression
from openflows.language.model import Limits, RunContext

STATE = {
    "foo": "hello",
    "object_val": {"sub_val1": "world", "n": 3},
    "nums": [3, 1, 2],
    "state": {"i": 1, "batches": [["x"]]},
    "step": 2,
    "ls": {
        "details": {"DATA": [{"name": "a", "size": 1}, {"name": "b", "size": 2}, {"name": "c", "size": 3}]}
    },
    "source": {"path": "/src/dir/"},
    "destination": {"path": "/dst"},
    "source_path": "/~/file.txt",
    "d": {"items": [9], "keys": "k", "a": 1},
    "flag": True,
    "nothing": None,
    "my-key": "hyphen",
    "_private": {"password": "pw"},
}
CONTEXT = RunContext(flow_id="f-1", run_id="r-1", username="u@example.org", user_id="urn:x").as_dict()


def ev(source: str, names: dict | None = None, **kwargs: object) -> object:
    return evaluate_expression(source, STATE if names is None else names, context=CONTEXT, **kwargs)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # Globus examples and corpus shapes
        ("foo + ' ' + object_val.sub_val1", "hello world"),
        (
            "state.batches + [[file.name for file in ls.details.DATA[state.i:state.i+step]]]",
            [["x"], ["b", "c"]],
        ),
        ("state.i + step", 3),
        ("[source.path]", ["/src/dir/"]),
        ("source.path.rstrip('/')", "/src/dir"),
        (
            "[{'path': source.path + i.name} for i in ls.details.DATA]",
            [{"path": "/src/dir/" + n} for n in "abc"],
        ),
        ("(destination.path + '/x') if (flag or (not flag and nothing)) else destination.path", "/dst/x"),
        ("'Transfer for run ' + _context.run_id", "Transfer for run r-1"),
        # literals and operators
        ("True", True),
        ("None", None),
        ("1 + 2 * 3 - 4 / 2", 5.0),
        ("7 // 2", 3),
        ("7 % 3", 1),
        ("2 ** 10", 1024),
        ("-step", -2),
        ("not flag", False),
        ("1 < 2 < 3", True),
        ("'a' in 'cat'", True),
        ("4 not in nums", True),
        ("nothing is None", True),
        ("nums is not None", True),
        ("flag and 'yes' or 'no'", "yes"),
        ("[1, 2] + [3]", [1, 2, 3]),
        ("(1, 2)", [1, 2]),
        ("{'a': [1, (2, 3)]}", {"a": [1, [2, 3]]}),
        ("'ab' * 3", "ababab"),
        ("[0] * 3", [0, 0, 0]),
        ("'%s-%03d' % ('x', 7)", "x-007"),
        ("'%(a)s' % {'a': 'b'}", "b"),
        ("6 | 3", 7),
        ("6 & 3", 2),
        ("6 ^ 3", 5),
        ("1 << 4", 16),
        ("256 >> 4", 16),
        ("~0", -1),
        ("+5", 5),
        # subscripts and slices
        ("nums[0]", 3),
        ("nums[-1]", 2),
        ("nums[1:]", [1, 2]),
        ("nums[::-1]", [2, 1, 3]),
        ("foo[1:3]", "el"),
        ("object_val['sub_val1']", "world"),
        ("ls.details.DATA[0].name", "a"),
        ("ls['details']['DATA'][-1]['size']", 3),
        # attribute access reads object members first (a key named like a method wins)
        ("d.items", [9]),
        ("d.keys", "k"),
        ("d.get('a')", 1),
        ("d.get('zz', 'dflt')", "dflt"),
        ("sorted(object_val.keys())", ["n", "sub_val1"]),
        ("sorted(list(object_val.values()), key=str)", [3, "world"]),
        ("[[k, v] for k, v in object_val.items()]", [["sub_val1", "world"], ["n", 3]]),
        ("{k: v for k, v in [['a', 1], ['b', 2]]}", {"a": 1, "b": 2}),
        ("[x * y for x in [1, 2] for y in [10, 100] if x * y != 20]", [10, 100, 200]),
        ("[[a, b] for (a, b) in [[1, 2], [3, 4]]]", [[1, 2], [3, 4]]),
        ("sum(f.size for f in ls.details.DATA)", 6),
        ("[*nums, *[4]]", [3, 1, 2, 4]),
        ("{**object_val, 'n': 4}", {"sub_val1": "world", "n": 4}),
        ("_private.password", "pw"),
        # string methods
        ("foo.upper()", "HELLO"),
        ("'a,b'.split(',')", ["a", "b"]),
        ("'-'.join(['a', 'b'])", "a-b"),
        ("foo.replace('l', 'L')", "heLLo"),
        ("foo.startswith('he')", True),
        ("'  x '.strip()", "x"),
        ("foo.center(9, '*')", "**hello**"),
        ("'7'.zfill(3)", "007"),
        ("foo.count('l')", 2),
        ("foo.find('z')", -1),
        ("'a\\tb'.expandtabs(2)", "a b"),
        ("foo.title()", "Hello"),
        ("'a b'.partition(' ')", ["a", " ", "b"]),
        ("nums.index(1)", 1),
        ("nums.count(3)", 1),
        ("nums.copy()", [3, 1, 2]),
        ("(5).bit_length()", 3),
        # functions
        ("len(nums)", 3),
        ("len(foo)", 5),
        ("str(5)", "5"),
        ("str(nums)", "[3, 1, 2]"),
        ("int('42')", 42),
        ("int(3.9)", 3),
        ("float('1.5')", 1.5),
        ("bool('')", False),
        ("sorted(nums)", [1, 2, 3]),
        ("sorted(nums, reverse=True)", [3, 2, 1]),
        ("sorted(ls.details.DATA, key=len)[0].name", "a"),
        ("min(nums)", 1),
        ("max(3, 9)", 9),
        ("max([f.size for f in ls.details.DATA])", 3),
        ("sum(nums)", 6),
        ("sum(nums, 10)", 16),
        ("abs(-3)", 3),
        ("round(2.675, 1)", 2.7),
        ("round(7)", 7),
        ("list('ab')", ["a", "b"]),
        ("list((1, 2))", [1, 2]),
        ("dict(a=1, b=[2])", {"a": 1, "b": [2]}),
        ("tuple([1])", [1]),
        ("sorted(set([2, 1, 2]))", [1, 2]),
        # Globus functions
        ("pathsplit('/foo/bar/blech')", ["/foo/bar", "blech"]),
        ("pathsplit('/~/path')", ["/~/", "path"]),
        ("pathsplit('/~/')", ["/~/", ""]),
        ("pathsplit('/foo/bar/')", ["/foo/bar", ""]),
        ("pathsplit('file')", ["", "file"]),
        ("pathsplit('/file')", ["/", "file"]),
        ("pathsplit(source_path)[1]", "file.txt"),
        ("is_present('ls.details.DATA[0]')", True),
        ("is_present('ls.details.DATA[3]')", False),
        ("is_present('ls.details.DATA[0].name')", True),
        ("is_present('nothing')", True),
        ("is_present('nope.deeper')", False),
        ("is_present('$.object_val.n')", True),
        ("is_present('_context.run_id')", True),
        ("is_present('my-key')", True),
        ("getattr('ls.details.DATA[1].name', 'zz')", "b"),
        ("getattr('ls.details.DATA[9].name', 'zz')", "zz"),
        ("getattr('nope')", None),
        ("getattr('nope', default=5)", 5),
        ("getattr('nope', False)", False),
        ("getattr('my-key')", "hyphen"),
        ("getattr('transfer_label', 'Move ' + _context.run_id)", "Move r-1"),
        ("getattr('_context.flow_id')", "f-1"),
        ("getattr('ls.details.DATA[*].name')", ["a", "b", "c"]),
        # backtick JSONPath
        ("[`$.source_path`]", ["/~/file.txt"]),
        ("'x' + `$.foo`", "xhello"),
        ("`$.my-key`", "hyphen"),
        ("`$.ls.details.DATA[*].size`", [1, 2, 3]),
        ("`$._context.run_id`", "r-1"),
        ("`$.nums`[0] + `$.nums`[1]", 4),
        ("'`$.foo`'", "`$.foo`"),  # not substituted inside string literals
        ('"it\'s `x`"', "it's `x`"),
        ("1 if flag else `$.missing`", 1),  # backtick paths are read lazily
    ],
)
def test_evaluate(source: str, expected: object) -> None:
    assert ev(source) == expected


def test_names_from_state_and_context() -> None:
    assert evaluate_expression("a + 1", {"a": 1}) == 2
    # the run context is `_context`, and it wins over a `_context` key in the state
    assert evaluate_expression("_context.run_id", {"_context": {"run_id": "fake"}}, context=CONTEXT) == "r-1"
    with pytest.raises(ExpressionError, match="the name '_context' is not defined"):
        evaluate_expression("_context.run_id", {})
    # names shadow functions when used as values, but calls always go to functions
    assert evaluate_expression("len", {"len": 3}) == 3
    assert evaluate_expression("len([1])", {"len": 3}) == 1


def test_state_parameter_for_paths() -> None:
    compiled = compile_expression("[`$.a`, is_present('b'), getattr('a')]")
    assert compiled.evaluate({}, state={"a": 1, "b": 2}) == [1, True, 1]
    # by default paths read the names
    assert compiled.evaluate({"a": 1}) == [1, False, 1]
    # a non-object state can still be read by backtick paths
    assert compile_expression("`$[1]`").evaluate({}, state=[5, 6]) == 6


def test_result_is_fresh_json_copy() -> None:
    names = copy.deepcopy(STATE)
    result = evaluate_expression("object_val", names)
    assert result == names["object_val"]
    assert result is not names["object_val"]
    result["n"] = 99
    assert names["object_val"]["n"] == 3
    nested = evaluate_expression("[ls.details.DATA[0]]", names)
    assert nested[0] is not names["ls"]["details"]["DATA"][0]
    ctx = dict(CONTEXT)
    got = evaluate_expression("_context", names, context=ctx)
    assert got == ctx and got is not ctx


def test_results_are_json_values() -> None:
    assert ev("{1: 'a', False: 'b', None: 'c', 1.5: 'd'}") == {
        "1": "a",
        "false": "b",
        "null": "c",
        "1.5": "d",
    }
    assert json.loads(json.dumps(ev("[(1, (2,)), {'t': (3,)}]"))) == [[1, [2]], {"t": [3]}]
    for source, fragment in [
        ("{1, 2}", "a set, which is not a JSON value (use list(...))"),
        ("object_val.keys()", "dict_keys"),
        ("float('nan')", "not a JSON number"),
        ("float('inf')", "not a JSON number"),
        ("len", "a function"),
        ("foo.upper", "a function"),
        ("{(1, 2): 3}", "object key of type a tuple"),
        ("2 ** 60000", "integer too large for JSON"),
    ]:
        with pytest.raises(ExpressionError) as info:
            ev(source)
        assert fragment in str(info.value), source


def test_result_size_is_limited() -> None:
    small = Limits(max_run_state_bytes=100)
    assert evaluate_expression("'a' * 50", {}, limits=small) == "a" * 50
    with pytest.raises(ExpressionError, match="larger than the 100-byte limit"):
        evaluate_expression("['abcdefghij'] * 9", {}, limits=small)
    with pytest.raises(ExpressionError, match="longer than 100"):
        evaluate_expression("'a' * 101", {}, limits=small)


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("x", "the name 'x' is not defined"),
        ("object_val.nope", "the object has no key 'nope'"),
        ("object_val['nope']", "the object has no key 'nope'"),
        ("nums[3]", "index 3 is out of range (length 3)"),
        ("nums['a']", "an index must be an integer, not a string"),
        ("foo.nope", "cannot read 'nope' of a string"),
        ("nothing.x", "cannot read 'x' of null"),
        ("nothing[0]", "cannot index null"),
        ("step[1:]", "cannot slice a number"),
        ("1 / 0", "division by zero"),
        ("1 % 0", "division by zero"),
        ("'a' + 1", "type error"),
        ("int('x')", "invalid value"),
        ("min([])", "invalid value"),
        ("nope(1)", "the function 'nope' is not defined"),
        ("rand()", "the function 'rand' is not defined"),
        ("randint(3)", "the function 'randint' is not defined"),
        ("nums(1)", "the function 'nums' is not defined"),
        ("d.items()", "an array is not callable"),
        ("nums.append(4)", "'append' is not an allowed method"),
        ("d.clear()", "'clear' is not an allowed method"),
        ("sum(['a'])", "sum() adds numbers only"),
        ("is_present(nums)", "is_present() takes a path string"),
        ("getattr('a..b')", "invalid path"),
        ("pathsplit(1)", "pathsplit() takes a string"),
        ("`$.missing`", "the path '$.missing' could not be found"),
        ("[a for a in 5]", "cannot iterate over a number"),
        ("[a for a, b in [[1, 2, 3]]]", "cannot unpack"),
        ("[*5]", "cannot unpack a number with '*'"),
        ("{**nums}", "cannot unpack an array with '**'"),
        ("round(1.5, 10**5)", "ndigits"),
        ("foo.center('x')", "must be an integer"),
    ],
)
def test_runtime_errors(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        ev(source)
    err = info.value
    assert not isinstance(err, ExpressionSyntaxError)
    assert fragment in str(err)
    assert repr(source) in str(err)  # the message names the expression
    assert err.expression == source  # type: ignore[attr-defined]
    assert fragment in err.reason  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("1 +", "invalid syntax"),
        ("(1", "never closed"),
        ("x = 1", "invalid syntax"),
        ("a; b", "invalid syntax"),
        ("lambda: 1", "lambda is not allowed"),
        ("(y := 1)", "assignment expressions"),
        ("f'{foo}'", "f-strings"),
        ("b'x'", "bytes literals"),
        ("1j", "complex literals"),
        ("...", "ellipsis literals"),
        ("{x for x in nums}", "set comprehensions"),
        ("nums @ nums", "the @ operator"),
        ("__import__('os')", "names may not start with '__'"),
        ("foo.__class__", "access to '__class__'"),
        ("len(*nums)", "'*' unpacking is only allowed inside list literals"),
        ("dict(**object_val)", "'**' in function calls"),
        ("(lambda: 1)()", "lambda"),
        ("nums[0](1)", "only named functions and methods can be called"),
        ("`$.a..b`", "invalid JSONPath in backticks"),
        ("`$.a", "unterminated backtick"),
        ("[x async for x in nums]", "async"),
        ("1 if 2", "expected 'else'"),
        ("foo.upper()()", "only named functions and methods can be called"),
        ("await x", "await"),
        ("x\x00", "NUL"),
    ],
)
def test_syntax_errors(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        compile_expression(source)
    assert fragment in str(info.value), str(info.value)
    assert str(info.value).startswith("Invalid expression ")


def test_syntax_errors_are_expression_errors() -> None:
    assert issubclass(ExpressionSyntaxError, ExpressionError)
    with pytest.raises(ExpressionError):
        evaluate_expression("1 +", {})


def test_non_string_expression() -> None:
    with pytest.raises(ExpressionSyntaxError, match="must be a string"):
        compile_expression(None)  # type: ignore[arg-type]


def test_length_limit_is_checked_before_parsing() -> None:
    limits = Limits(max_expression_length=10)
    assert evaluate_expression("1 + 2 + 3", {}, limits=limits) == 6
    with pytest.raises(ExpressionSyntaxError, match="11 characters long; the limit is 10"):
        compile_expression("1 + 2 + 345", limits=limits)
    # an unparseable but over-long source reports the length, not a syntax error
    with pytest.raises(ExpressionSyntaxError, match="the limit is 4096"):
        compile_expression("(" * 5000)


def test_long_sources_are_truncated_in_messages() -> None:
    source = "x + " * 200 + "1"
    with pytest.raises(ExpressionError) as info:
        evaluate_expression(source, {})
    assert len(str(info.value)) < 400
    assert "..." in str(info.value)


def test_compile_is_cached() -> None:
    first = compile_expression("foo + 'cached'")
    assert isinstance(first, CompiledExpression)
    assert compile_expression("foo + 'cached'") is first
    assert first.source == "foo + 'cached'"


def test_comprehension_limit_counts_all_iterations() -> None:
    names = {"xs": list(range(100))}
    assert MAX_COMPREHENSION_LENGTH == 10_000
    # 100 outer + 9,900 inner iterations: exactly at the limit
    assert len(evaluate_expression("[x for x in xs for y in xs[1:]]", names)) == 9_900
    with pytest.raises(ExpressionError, match="comprehensions ran more than 10000 iterations"):
        evaluate_expression("[x for x in xs for y in xs]", names)  # 100 outer + 10,000 inner


def test_work_budget_allows_realistic_listings() -> None:
    listing = {"DATA": [{"name": f"f{i}", "is_folder": i % 10 == 0} for i in range(5_000)], "p": "/dst"}
    paths = evaluate_expression("[{'path': p + '/' + f.name} for f in DATA if not f.is_folder]", listing)
    assert len(paths) == 4_500 and paths[0] == {"path": "/dst/f1"}
    names = evaluate_expression("[f.name for f in DATA if f.name in ['f1', 'f2', 'f3']]", listing)
    assert names == ["f1", "f2", "f3"]
    assert evaluate_expression("sorted([f.name for f in DATA])[:2]", listing) == ["f0", "f1"]


def test_comprehension_variables_are_scoped() -> None:
    names = {"x": "outer", "xs": [1, 2]}
    assert evaluate_expression("[[x for x in xs], x]", names) == [[1, 2], "outer"]
    assert evaluate_expression("[[x + y for y in xs] for x in xs]", names) == [[2, 3], [3, 4]]


def test_evaluation_is_thread_safe() -> None:
    compiled = compile_expression("[n * 2 for n in nums] + [tag]")
    errors: list[BaseException] = []

    def work(tag: int) -> None:
        try:
            for _ in range(200):
                assert compiled.evaluate({"nums": [1, 2], "tag": tag}) == [2, 4, tag]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_evaluator_recovers_after_errors() -> None:
    with pytest.raises(ExpressionError):
        evaluate_expression("[x for x in xs if 1/0]", {"xs": [1]})
    assert evaluate_expression("[x for x in xs]", {"xs": [1]}) == [1]
    with pytest.raises(ExpressionError, match="the name 'x' is not defined"):
        evaluate_expression("x", {})


def _corpus_expressions() -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []

    def walk(node: object, file: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith(".=") and isinstance(value, str):
                    found.append((file, key, value))
                walk(value, file)
        elif isinstance(node, list):
            for item in node:
                walk(item, file)

    for path in sorted(CORPUS.glob("*.json")):
        walk(json.loads(path.read_text()), path.name)
    return found


CORPUS_EXPRESSIONS = _corpus_expressions()


@pytest.mark.skipif(not CORPUS_EXPRESSIONS, reason="flow corpus not available")
@pytest.mark.parametrize(("file", "key", "source"), CORPUS_EXPRESSIONS, ids=lambda v: str(v)[:40])
def test_corpus_expressions_compile(file: str, key: str, source: str) -> None:
    assert compile_expression(source).source == source


def test_corpus_move_flow_expressions_evaluate() -> None:
    state = {
        "source": {"id": "s", "path": "/~/src/file.txt"},
        "destination": {"id": "d", "path": "/~/dst"},
        "SourcePathInfo": {
            "details": {"DATA": [{"name": "file.txt", "is_folder": False}], "path": "/~/src/"}
        },
        "DestinationPathInfo": {"details": {"DATA": [], "path": "/~/dst/"}},
        "SourceInfo": {"source_file": "file.txt", "is_recursive": False},
        "DestinationInfo": {"exists": False, "is_folder": False},
    }
    assert evaluate_expression("is_present('DestinationPathInfo.details.DATA[0]')", state) is False
    assert (
        evaluate_expression("getattr('DestinationPathInfo.details.DATA[0].is_folder', False)", state) is False
    )
    assert evaluate_expression("getattr('DestinationPathInfo.details.DATA[0].name', '/')", state) == "/"
    assert (
        evaluate_expression(
            "getattr('transfer_label', 'Transfer for Move Flow Run with id ' + _context.run_id)",
            state,
            context=CONTEXT,
        )
        == "Transfer for Move Flow Run with id r-1"
    )
    destination = evaluate_expression(
        "(destination.path + '/' + SourceInfo.source_file) if (DestinationInfo.is_folder or "
        "((not DestinationInfo.exists) and SourceInfo.is_recursive)) else destination.path",
        state,
    )
    assert destination == "/~/dst"
    assert evaluate_expression("SourcePathInfo.details.DATA[0].name", state) == "file.txt"
    assert evaluate_expression("[`$.source.path`]", state) == ["/~/src/file.txt"]
