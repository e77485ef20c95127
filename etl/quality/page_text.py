"""Text as the HTML pages (the run report and the history page) show it."""

from __future__ import annotations

import html
from typing import Any


def escape(value: Any) -> str:
    """Every value on a page goes through here: they come from the data."""
    return html.escape("" if value is None else str(value), quote=True)


def percent(value: Any) -> str:
    """Two decimals without trailing zeros (25%, 90.74%, 99.99%); below 0.01% three significant digits,
    so that one bad row in millions shows as 0.000123% rather than as 0%."""
    if value is None:
        return "—"
    share = float(value)
    text = f"{share:.3g}" if 0 < share < 0.01 else f"{share:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"
