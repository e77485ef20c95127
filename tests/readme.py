"""The shell commands of README.md, as the tests read them: the README's commands are run by the tests
(or checked against the real `etl` parser and Makefile), so they cannot go stale."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
# Where a line stops being the command's arguments: a redirection, a pipe, a second command.
_ENDS = {">", ">>", "<", "|", "&&", "||", ";", "2>&1"}


@dataclass(frozen=True)
class Command:
    argv: list[str]  # the program and its arguments, without leading VAR=value assignments
    line: int  # where it starts in README.md
    section: str  # the heading above it

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.section}): {shlex.join(self.argv)}"


def sh_blocks(text: str) -> list[tuple[int, str, str]]:
    """Each ```sh block as (line of its first command line, heading above it, its text)."""
    blocks, section = [], ""
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        elif line.startswith("```"):  # a fenced block: its lines are no headings
            end = lines.index("```", number + 1)
            if line == "```sh":
                blocks.append((number + 2, section, "\n".join(lines[number + 1 : end])))
            number = end
        number += 1
    return blocks


def commands(text: str | None = None) -> list[Command]:
    """Every command of every ```sh block: comments dropped, a quoted argument or a backslash may run over
    several lines, and what follows a redirection or a pipe is not part of it."""
    found = []
    for first, section, block in sh_blocks(README.read_text() if text is None else text):
        pending, start = "", first
        for offset, line in enumerate(block.splitlines()):
            if not pending:
                start = first + offset
            if line.endswith("\\"):  # continued on the next line
                pending += line[:-1]
                continue
            pending += line + "\n"
            try:
                tokens = shlex.split(pending, comments=True)
            except ValueError:  # a quote still open: the argument goes on on the next line
                continue
            pending = ""
            while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", tokens[0]):
                tokens.pop(0)  # ETL_BUCKET=acme-lake etl ...
            cut = next((at for at, token in enumerate(tokens) if token in _ENDS), len(tokens))
            if tokens[:cut]:
                found.append(Command(tokens[:cut], start, section))
        assert not pending, f"README.md:{start}: an unterminated quote"
    return found


def etl_commands(text: str | None = None) -> list[Command]:
    return [command for command in commands(text) if command.argv[0] == "etl"]
