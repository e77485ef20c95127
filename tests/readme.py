"""The shell commands of README.md, as the tests read and run them, so they cannot go stale.

Each ```sh block of the README has a tag on the line above it naming who runs it:
`<!-- run by tests/integration/test_x.py -->` (that module calls `blocks_run_by(__file__)` and `run` on
what it gets), or `<!-- run by .ci/run -->`. `tests/unit/test_readme.py` checks that every block has
one and that the named module asks for its blocks; it also checks every `etl` command against the real
parser and every `make` target against the Makefile."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
# Where a line stops being the command's arguments: a redirection, a pipe, a second command.
_ENDS = {">", ">>", "<", "|", "&&", "||", ";", "2>&1"}
_TAG = re.compile(r"<!-- run by (\S+) -->")
# A block no test can run (Docker), with the reason; test_readme allows it for docker commands only.
_NOT_RUN = re.compile(r"<!-- not run: (.+) -->")


@dataclass(frozen=True)
class Command:
    argv: list[str]  # the program and its arguments, without leading VAR=value assignments
    line: int  # where it starts in README.md
    section: str  # the heading above it
    text: str = ""  # as written, redirections included, its comment left out
    comment: str = ""  # the comment at the end of its line(s), if any

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.section}): {shlex.join(self.argv)}"

    @property
    def exit_code(self) -> int:
        """What it exits with: 0 unless its comment says otherwise ("... exit 1")."""
        said = re.search(r"\bexit (\d+)", self.comment)
        return int(said.group(1)) if said else 0


@dataclass(frozen=True)
class Block:
    line: int  # of its first command line
    section: str
    text: str
    runner: str  # the tag's path, relative to the repo ("" without a tag)
    commands: list[Command]
    not_run: str = ""  # why no test runs it (<!-- not run: ... -->)


def blocks(text: str | None = None) -> list[Block]:
    """Each ```sh block, with its commands: comments dropped, a quoted argument or a backslash may run
    over several lines, and what follows a redirection or a pipe is not an argument."""
    found, section = [], ""
    lines = (README.read_text() if text is None else text).splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        elif line.startswith("```"):  # a fenced block: its lines are no headings
            end = lines.index("```", number + 1)
            if line == "```sh":
                tag = _TAG.fullmatch(lines[number - 1].strip()) if number else None
                not_run = _NOT_RUN.fullmatch(lines[number - 1].strip()) if number else None
                body = "\n".join(lines[number + 1 : end])
                runner, reason = tag.group(1) if tag else "", not_run.group(1) if not_run else ""
                found.append(Block(number + 2, section, body, runner, _commands(number + 2, section, body), reason))
            number = end
        number += 1
    return found


def _commands(first: int, section: str, block: str) -> list[Command]:
    found, pending, start = [], "", first
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
        text, comment = _without_comments(pending)
        pending = ""
        while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", tokens[0]):
            tokens.pop(0)  # ETL_BUCKET=acme-lake etl ...
        end = next((at for at, token in enumerate(tokens) if token in _ENDS), len(tokens))
        if tokens[:end]:
            found.append(Command(tokens[:end], start, section, text, comment))
    assert not pending, f"README.md:{start}: an unterminated quote"
    return found


def _without_comments(text: str) -> tuple[str, str]:
    """The command's text without its `# ...` comments (outside quotes, at a word's start), and those."""
    code, comments, quote, at = [], [], "", 0
    while at < len(text):
        char = text[at]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (at == 0 or text[at - 1].isspace()):
            end = text.find("\n", at)
            end = len(text) if end < 0 else end
            comments.append(text[at + 1 : end].strip())
            at = end
            continue
        code.append(char)
        at += 1
    return "".join(code).strip(), " ".join(comments)


def commands(text: str | None = None) -> list[Command]:
    return [command for block in blocks(text) for command in block.commands]


def etl_commands(text: str | None = None) -> list[Command]:
    return [command for command in commands(text) if command.argv[0] == "etl"]


def blocks_run_by(module: str) -> list[Block]:
    """The blocks whose tag names this test module (pass `__file__`)."""
    name = Path(module).resolve().relative_to(REPO).as_posix()
    mine = [block for block in blocks() if block.runner == name]
    assert mine, f"README.md has no block tagged <!-- run by {name} -->"
    return mine


@dataclass(frozen=True)
class Ran:
    command: Command
    code: int
    stdout: str
    stderr: str


def run(
    block: Block,
    *,
    cwd: Path,
    env: Mapping[str, str],
    replace: Mapping[str, str] = MappingProxyType({}),
    interrupt_when: Callable[[], bool] | None = None,
) -> list[Ran]:
    """Run a block's commands one by one with bash, as a reader would in a terminal, and check that each
    exits as the README says (0, or the `exit N` of its comment).

    `replace` substitutes literal text first: placeholders (`s3://BUCKET/`), or a smaller scale than a
    reader's. `source .venv/bin/activate` is what the tests' PATH already does (this interpreter's bin
    first); `export A=B` carries over to the next commands. A command whose comment says Ctrl-C stops it
    gets Ctrl-C once `interrupt_when()` holds."""
    environ = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', os.environ['PATH'])}"}
    done = []
    for command in block.commands:
        text = command.text
        for old, new in replace.items():
            text = text.replace(old, new)
        if command.argv[0] == "source":
            continue
        if command.argv[0] == "export":
            name, _, value = shlex.split(text)[1].partition("=")
            environ[name] = value
            continue
        if "Ctrl-C" in command.comment:
            assert interrupt_when is not None, f"{command}: runs until Ctrl-C; say when"
            code, out, err = _until_ctrl_c(text, cwd, environ, interrupt_when)
        else:
            ran = subprocess.run(["bash", "-c", text], cwd=cwd, env=environ, capture_output=True, text=True, timeout=900)
            code, out, err = ran.returncode, ran.stdout, ran.stderr
        assert code == command.exit_code, f"{command}\n  ran as: {text}\n  exited {code}:\n{err[-3000:]}"
        done.append(Ran(command, code, out, err))
    return done


def _until_ctrl_c(text: str, cwd: Path, env: Mapping[str, str], condition: Callable[[], bool]) -> tuple[int, str, str]:
    # exec: bash becomes the command, so the process group is the command's, as in a terminal
    process = subprocess.Popen(
        ["bash", "-c", f"exec {text}"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not condition() and process.poll() is None:
            assert time.monotonic() < deadline, f"{text}: timed out waiting to press Ctrl-C"
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGINT)  # the whole foreground group (PySpark starts its JVM ignoring it)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, out, err
