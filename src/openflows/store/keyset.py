"""Keyset pagination: ORDER BY a list of sort keys (ending with a unique id) and "rows after this key".

A page is `WHERE <after last key> ORDER BY <keys> LIMIT n + 1`, so its cost does not grow with the table when
an index matches the order. With one direction and no nullable key the predicate is a row-value comparison
(`(a, id) < (:a, :id)`), which SQLite and PostgreSQL both answer from a matching index; mixed directions or
nullable keys use the expanded OR form. A nullable key sorts its NULLs after the values in ascending order
(before them in descending order) through an extra `IS NULL` flag key.

Key values travel in markers as JSON scalars: `encode_key` / `decode_key` convert datetimes (ISO strings) and
UUIDs (strings).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import sqlalchemy as sa

Kind = Literal["str", "int", "datetime", "uuid"]


@dataclasses.dataclass(frozen=True, slots=True)
class SortKey:
    """One ORDER BY term: `name` is the label of the value in result rows."""

    name: str
    expr: Any  # a SQLAlchemy column expression
    kind: Kind
    descending: bool = False
    nullable: bool = False


def expand(keys: Sequence[SortKey]) -> list[SortKey]:
    """Add an `IS NULL` flag key before every nullable key."""
    out: list[SortKey] = []
    for key in keys:
        if key.nullable:
            flag = sa.case((key.expr.is_(None), 1), else_=0)
            out.append(SortKey(f"{key.name}__null", flag, "int", key.descending))
        out.append(key)
    return out


def order_by(keys: Sequence[SortKey]) -> list[Any]:
    return [key.expr.desc() if key.descending else key.expr.asc() for key in expand(keys)]


def columns(keys: Sequence[SortKey]) -> list[Any]:
    """The labelled key expressions to add to the SELECT list."""
    return [key.expr.label(f"k_{i}") for i, key in enumerate(expand(keys))]


def after(keys: Sequence[SortKey], values: Sequence[Any]) -> Any:
    """The WHERE clause selecting rows strictly after `values` (decoded, one per expanded key)."""
    full = expand(keys)
    if len(values) != len(full):
        raise ValueError("key length mismatch")
    uniform = len({k.descending for k in full}) == 1 and not any(k.nullable for k in keys)
    if uniform:
        left = sa.tuple_(*(k.expr for k in full))
        right = sa.tuple_(*(_literal(k, v) for k, v in zip(full, values, strict=True)))
        return left < right if full[0].descending else left > right
    terms = []
    for i, key in enumerate(full):
        if values[i] is None:
            continue  # nothing sorts strictly after NULL within the NULL group
        equal = [
            full[j].expr.is_(None) if values[j] is None else full[j].expr == _literal(full[j], values[j])
            for j in range(i)
        ]
        beyond = (
            key.expr < _literal(key, values[i]) if key.descending else key.expr > _literal(key, values[i])
        )
        terms.append(sa.and_(*equal, beyond))
    return sa.or_(*terms) if terms else sa.false()


def _literal(key: SortKey, value: Any) -> Any:
    if key.kind == "int":
        return sa.literal(value, sa.Integer())
    return sa.literal(value, key.expr.type)


def row_values(keys: Sequence[SortKey], row: Mapping[str, Any]) -> list[Any]:
    """The expanded key values of a result row selected with `columns(keys)`."""
    return [row[f"k_{i}"] for i in range(len(expand(keys)))]


def encode_key(keys: Sequence[SortKey], values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for key, value in zip(expand(keys), values, strict=True):
        if value is None:
            out.append(None)
        elif key.kind == "datetime":
            out.append(value.isoformat())
        elif key.kind == "uuid":
            out.append(str(value))
        elif key.kind == "int":
            out.append(int(value))
        else:
            out.append(str(value))
    return out


def decode_key(keys: Sequence[SortKey], raw: Sequence[Any]) -> list[Any]:
    """Typed key values from a marker; ValueError when they do not fit the keys."""
    full = expand(keys)
    if len(raw) != len(full):
        raise ValueError("key length mismatch")
    out: list[Any] = []
    for key, value in zip(full, raw, strict=True):
        if value is None:
            if not key.nullable:
                raise ValueError(f"{key.name} cannot be null")
            out.append(None)
        elif key.kind == "datetime":
            if not isinstance(value, str):
                raise ValueError("bad datetime")
            parsed = dt.datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise ValueError("naive datetime")
            out.append(parsed)
        elif key.kind == "uuid":
            out.append(uuid.UUID(str(value)))
        elif key.kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError("bad int")
            out.append(value)
        else:
            if not isinstance(value, str):
                raise ValueError("bad str")
            out.append(value)
    return out


def build_order(fields: Mapping[str, SortKey], order: Sequence[Sequence[Any]]) -> list[SortKey]:
    """Sort keys for `[[field, descending], ...]` over `fields` (which must include "id"), ending with the id
    key (in the direction of the last key). ValueError for an unknown field."""
    keys: list[SortKey] = []
    for item in order:
        if len(item) != 2:
            raise ValueError("bad order item")
        field, descending = item
        if field not in fields or not isinstance(descending, bool):
            raise ValueError(f"unknown sort field {field!r}")
        base = fields[field]
        keys.append(dataclasses.replace(base, descending=descending))
    if not keys or keys[-1].name != "id":
        keys = [key for key in keys if key.name != "id"]
        keys.append(dataclasses.replace(fields["id"], descending=keys[-1].descending if keys else False))
    return keys
