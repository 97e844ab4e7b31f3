"""Cursor.as_dict, written out for speed, stores what dataclasses.asdict gave (the stored cursors of runs in
flight stay readable), and reads back equal."""

from __future__ import annotations

import dataclasses

import pytest

from openflows.language.model import ActionRef, Cursor, WebInputWait

ACTION = ActionRef(
    "https://ap.example/", "a1", "r/S/1/0", "2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"
)


@pytest.mark.parametrize(
    "cursor",
    [
        Cursor(None),
        Cursor("S", 2, (1, 0), action=ACTION, visit=3, visits=4),
        Cursor("W", web_input=WebInputWait("w1", None), visits=1),
    ],
)
def test_as_dict_is_what_asdict_gave(cursor: Cursor) -> None:
    assert cursor.as_dict() == dataclasses.asdict(cursor)
    assert Cursor.from_dict(cursor.as_dict()) == cursor
