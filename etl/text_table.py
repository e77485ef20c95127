"""Rows as an aligned plain-text table, for a person at a terminal (`etl runs`, `etl sql --format table`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

NULL = "NULL"
LAST_AT_LEAST = 20
_ESCAPES = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def aligned(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = (), fit: int | None = None) -> list[str]:
    """The header, a rule of dashes and the rows, columns two spaces apart; the columns whose indexes are in
    `right` (numbers) right-aligned. The last column is not padded (no trailing spaces) and, given `fit`, is
    cut with an ellipsis so that each line fits in that many characters (keeping at least LAST_AT_LEAST of it)."""
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    if fit is not None:
        room = max(fit - sum(widths[:-1]) - 2 * (len(widths) - 1), LAST_AT_LEAST)
        rows = [[*row[:-1], cut(row[-1], room)] for row in rows]
        widths[-1] = min(widths[-1], room)

    def line(cells: Sequence[str]) -> str:
        padded = [cell.rjust(width) if i in right else cell.ljust(width) for i, (cell, width) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(padded).rstrip()

    return [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]


def cut(text: str, room: int) -> str:
    return text if len(text) <= room else text[: room - 1].rstrip() + "…"


def cell(value: Any) -> str:
    """A query's value as one line of text: NULL for null, true/false, exact decimals, ISO dates and times,
    maps (sorted by key) and structs as `key=value, key=value` (nested ones in braces), arrays as `[a, b]`."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "asDict"):  # a struct arrives as a Row: its fields in their order
        return ", ".join(f"{key}={_inner(item)}" for key, item in value.asDict(recursive=False).items())
    if isinstance(value, Mapping):  # a map's order does not survive the trip to Python: sorted by key
        return ", ".join(f"{key}={_inner(item)}" for key, item in sorted((cell(key), item) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_inner(item) for item in value) + "]"
    if isinstance(value, str):  # one line per row: control characters shown as escapes
        return value.translate(_ESCAPES)
    return str(value)


def _inner(value: Any) -> str:
    """A value inside a map, struct or array: nested maps and structs in braces, strings that would read
    as more than one value quoted."""
    if hasattr(value, "asDict") or isinstance(value, Mapping):
        return "{" + cell(value) + "}"
    if isinstance(value, str) and (value == "" or value == NULL or any(mark in value for mark in ",=[]{}")):
        return json.dumps(value)
    return cell(value)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)
