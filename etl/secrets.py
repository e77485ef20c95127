"""Secrets never reach a log line, an error message or an audit row.

Keys and passwords come from the environment (or an instance profile), never from config. Whatever
text the project writes passes through `mask`, which replaces the values of secret-looking
environment variables (AWS keys, passwords, tokens) with a fixed mask.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

MASK = "****"
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|ACCESS_KEY|CREDENTIAL", re.IGNORECASE)
_SHORTEST = 4  # shorter values would mask ordinary words


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    values = {value for name, value in environ.items() if _SECRET_NAME.search(name) and len(value) >= _SHORTEST}
    return sorted(values, key=len, reverse=True)  # longest first: a value containing another is masked whole


def mask(text: str, environ: Mapping[str, str] | None = None) -> str:
    for value in secret_values(environ):
        text = text.replace(value, MASK)
    return text


class MaskSecrets(logging.Filter):
    """A logging filter: the formatted message with secrets masked (exception text included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
