"""What an expression operation will cost or build, worked out *before* it runs (used by expressions.py).

The evaluator meters every evaluation in work units (about 25 ns of CPU each; `expression_values.MAX_WORK` of
them is a few tens of milliseconds). Most operations cost about the same per node, but integers do not:
CPython stores them as arrays of 30-bit digits, and

- multiplication, division, remainder, powers and decimal conversions (`int('9' * 4000)`, `str(n)`,
  `'%d' % n`) cost time *quadratic* in the number of digits: `int('f' * 262144, 16) % int('f' * 131072, 16)`
  took 0.34 s of CPU in one operation;
- addition, subtraction, bitwise operations, shifts, comparisons and hashing cost time *linear* in it.

So integers are capped at `MAX_INT_BITS` (checked before an operation builds one, from the operands'
sizes), and each operation on integers is charged what it costs: `product_work`, `division_work`,
`decimal_work`, `power_work` and `linear_work` below, calibrated so that one unit is still about 25 ns.
With the cap, one operation costs a few milliseconds at most, and the budget bounds their number.

`precheck_percent_format` does the same for `'%'` string formatting: it reads the format the way CPython
does (in one linear pass) and refuses widths or precisions that would build an oversized string.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: largest integer an operator or conversion may produce, in bits (about 19,700 decimal digits)
MAX_INT_BITS = 65_536
#: bits per CPython integer digit
DIGIT_BITS = 30
#: multiplication costs one work unit per this many pairs of digits (measured: ~0.45 ns per pair)
PRODUCT_PAIRS_PER_UNIT = 48
#: division, remainder and decimal conversion cost one unit per this many pairs of digits (~1.8 ns per pair)
DIVISION_PAIRS_PER_UNIT = 12
#: linear integer work (add, compare, hash, shift ...) costs one unit per this many bits of the operands
LINEAR_BITS_PER_UNIT = 128
#: work units per `%` and `(` of a format string: what reading one conversion specifier costs (about 1 µs)
FORMAT_SPECIAL_COST = 40


class Refused(Exception):
    """An operation refused before it ran, for `reason` (expressions.py names the expression)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def digits(value: int) -> int:
    """How many 30-bit digits CPython uses for `value`."""
    return value.bit_length() // DIGIT_BITS + 1


def linear_work(a: Any, b: Any = 0) -> int:
    """Work units of a linear-time operation on `a` and `b` (zero for anything but integers)."""
    bits = (a.bit_length() if type(a) is int else 0) + (b.bit_length() if type(b) is int else 0)
    return bits // LINEAR_BITS_PER_UNIT


def product_work(a: int, b: int) -> int:
    """Work units of `a * b` (schoolbook estimate: CPython's Karatsuba only does better)."""
    return digits(a) * digits(b) // PRODUCT_PAIRS_PER_UNIT


def division_work(a: int, b: int) -> int:
    """Work units of `a // b`, `a % b` or `a / b`: quotient digits times divisor digits."""
    da, db = digits(a), digits(b)
    return (max(da - db, 0) + 1) * db // DIVISION_PAIRS_PER_UNIT + linear_work(a, b)


def decimal_work(value: int) -> int:
    """Work units to convert `value` to or from decimal text (quadratic in CPython)."""
    if value.bit_length() <= 64 * DIGIT_BITS:  # below ~580 decimal digits the cost is a node's, already paid
        return 0
    return digits(value) ** 2 // DIVISION_PAIRS_PER_UNIT


def too_big(symbol: str) -> Refused:
    return Refused(f"{symbol} would build an integer larger than {MAX_INT_BITS} bits")


def check_int(value: int, symbol: str) -> None:
    """Refuse an integer result larger than `MAX_INT_BITS` (e.g. after `+`, `sum()` or `int()`)."""
    if value.bit_length() > MAX_INT_BITS:
        raise too_big(symbol)


def multiply_work(a: int, b: int) -> int:
    """Work units of `a * b` for integers, refusing a product larger than `MAX_INT_BITS`."""
    if a.bit_length() + b.bit_length() > MAX_INT_BITS:
        raise too_big("'*'")
    return product_work(a, b)


def power_work(base: int, exponent: int) -> int:
    """Work units of `base ** exponent` for integers, refusing a result larger than `MAX_INT_BITS`.

    A negative exponent gives a float (cheap, or OverflowError). With |base| <= 1 the result is tiny, but
    CPython still loops over the exponent's bits.
    """
    if exponent <= 0:
        return linear_work(base, exponent)
    if abs(base) <= 1:
        return exponent.bit_length()
    if exponent.bit_length() > 32 or math.log2(abs(base)) * exponent > MAX_INT_BITS:
        raise too_big("'**'")
    result_digits = base.bit_length() * exponent // DIGIT_BITS + 1
    return result_digits**2 // PRODUCT_PAIRS_PER_UNIT + exponent.bit_length()


def shift_work(value: int, shift: int) -> int:
    """Work units of `value << shift`, refusing a result larger than `MAX_INT_BITS`."""
    if value and shift > 0 and value.bit_length() + shift > MAX_INT_BITS:
        raise too_big("'<<'")
    return (value.bit_length() + max(shift, 0)) // LINEAR_BITS_PER_UNIT


def int_parse_work(text: str, base: Any) -> int:
    """Work units of `int(text, base)`, refusing text that would give an integer larger than `MAX_INT_BITS`.

    The bound counts every character after stripping whitespace (signs and underscores are rare; counting
    them only makes the bound safer). Power-of-two bases convert in linear time, others in quadratic time.
    """
    body = text.strip()
    if not isinstance(base, int) or isinstance(base, bool) or not (base == 0 or 2 <= base <= 36):
        return 0  # int() itself raises the error
    prefix = body.lstrip("+-")[:2].lower()
    if base == 0:
        base = {"0x": 16, "0o": 8, "0b": 2}.get(prefix, 10)
    bits_per_char = math.log2(base)
    if len(body) * bits_per_char > MAX_INT_BITS + 64:
        raise Refused(f"int() would build an integer larger than {MAX_INT_BITS} bits")
    digit_count = int(len(body) * bits_per_char) // DIGIT_BITS + 1
    if base & (base - 1) == 0:
        return len(body) // 32
    return digit_count**2 // DIVISION_PAIRS_PER_UNIT if digit_count > 64 else 0


def estimate_text(value: Any, budget: int) -> tuple[int, int]:
    """`(length, work)`: roughly how long `str(value)` would be, and the work units its integer-to-decimal
    conversions cost. Stops counting once the length is past `budget`."""
    total = work = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v) + 2
        elif isinstance(v, bool) or v is None:
            total += 5
        elif isinstance(v, int):
            total += v.bit_length() // 3 + 2
            work += decimal_work(v)
        elif isinstance(v, float):
            total += 24
        elif isinstance(v, dict):
            total += 2 + 2 * len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(v)
            stack.extend(v)
        else:
            total += 64
        if total > budget:
            break
    return total, work


_FLAG_RUN = re.compile(r"[-#0 +]*")  # plain runs: matching them cannot backtrack
_DIGIT_RUN = re.compile(r"[0-9]*")
_PARENTHESIS = re.compile(r"[()]")


def percent_scan_work(fmt: str) -> int:
    """Work units to read the conversion specifiers of `fmt` (charged before `precheck_percent_format`)."""
    return FORMAT_SPECIAL_COST * (fmt.count("%") + fmt.count("("))


def precheck_percent_format(fmt: str, args: Any, cap: int) -> int:
    """Refuse `fmt % args` when its widths, precisions or arguments would build more than `cap` characters;
    otherwise return the work units it costs (its integer-to-decimal conversions).

    Reads each conversion specifier as CPython does: `%`, an optional `(key)` whose parentheses may nest,
    flags, width, `.precision`, a length modifier and the conversion character. One pass, linear in
    `len(fmt)`; the Python-level steps are bounded by the number of `%` and `(` (`percent_scan_work`). A key
    without its closing parenthesis ends the scan: CPython stops there with an error.
    """
    total, n = len(fmt), len(fmt)
    repr_conversion = False
    i = fmt.find("%")
    while 0 <= i < n - 1:
        i += 1
        if fmt[i] == "(":
            i = _skip_key(fmt, i + 1)
            if i < 0:
                break
        i = _FLAG_RUN.match(fmt, i).end()  # type: ignore[union-attr]  # `*` always matches
        width, i = _read_number(fmt, i)
        precision = ""
        if i < n and fmt[i] == ".":
            precision, i = _read_number(fmt, i + 1)
        if i < n and fmt[i] in "hlL":
            i += 1
        conversion = fmt[i] if i < n else ""
        total += _width(width, cap) + (_width(precision, cap) if conversion not in ("s", "r", "a") else 0)
        repr_conversion = repr_conversion or conversion in ("r", "a")
        if total > cap:
            raise Refused(f"'%' formatting would build a string longer than {cap} characters")
        i = fmt.find("%", i + 1)
    length, work = estimate_text(args, cap)
    if repr_conversion:  # repr() and ascii() may write up to 10 characters per character (`\U0001f600`)
        length *= 10
    if total + length > cap:
        raise Refused(f"'%' formatting would build a string longer than {cap} characters")
    return work


def _skip_key(fmt: str, i: int) -> int:
    """The index after the `)` closing a `%(key` whose text starts at `i` (CPython counts nested
    parentheses), or -1 if it is never closed."""
    depth = 1
    while depth:
        found = _PARENTHESIS.search(fmt, i)
        if found is None:
            return -1
        depth += 1 if found.group() == "(" else -1
        i = found.end()
    return i


def _read_number(fmt: str, i: int) -> tuple[str, int]:
    """The run of ASCII digits at `fmt[i:]` and the index after it; a `*` there is refused."""
    if i < len(fmt) and fmt[i] == "*":
        raise Refused("'*' widths in '%' formatting are not allowed")
    end = _DIGIT_RUN.match(fmt, i).end()  # type: ignore[union-attr]  # `*` always matches
    return fmt[i:end], end


def _width(text: str, cap: int) -> int:
    return int(text) if text and len(text) < 10 else (cap + 1 if text else 0)
