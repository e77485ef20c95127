"""The README's shell commands against the real `etl` parser, the repo's config and the Makefile: a renamed
flag, job, pipeline, env or make target fails here, not in a reader's terminal."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from etl.cli import _parser
from tests.readme import Command, commands, etl_commands

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"


def _names(folder: str) -> set[str]:
    return {path.stem for path in (CONF / folder).glob("*.yaml")}


def _parse(command: Command) -> object:
    try:
        return _parser().parse_args(command.argv[1:])
    except SystemExit:  # argparse printed why on stderr
        pytest.fail(f"{command}: the etl command does not take these arguments")


def test_the_reader_splits_commands_as_a_shell_does() -> None:
    text = "\n".join(
        [
            "# A heading",
            "```yaml",
            "# a comment in another block, no heading",
            "```",
            "```sh",
            'etl sql --env local "SELECT a',
            '                     FROM t"   # a comment',
            "ETL_BUCKET=b etl cluster plan nightly \\",
            "  --run-date 1992-04-01 > plan.json",
            "make test",
            "```",
        ]
    )
    assert [(c.argv, c.line, c.section) for c in commands(text)] == [
        (["etl", "sql", "--env", "local", "SELECT a\n                     FROM t"], 6, "A heading"),
        (["etl", "cluster", "plan", "nightly", "--run-date", "1992-04-01"], 8, "A heading"),
        (["make", "test"], 10, "A heading"),
    ]


def test_every_etl_command_of_the_readme_parses_and_names_what_exists() -> None:
    jobs, pipelines, envs = _names("jobs"), _names("pipelines"), _names("env")
    found = etl_commands()
    jobs |= {c.argv[2] for c in found if c.argv[1] == "new-job"}  # the guide's own job, once scaffolded
    assert len(found) > 30  # the reader found the README's commands
    for command in found:
        args = _parse(command)
        if getattr(args, "env", None) is not None:
            assert args.env in envs, f"{command}: no conf/env/{args.env}.yaml"
        if getattr(args, "job", None) is not None:
            assert args.job in jobs, f"{command}: no conf/jobs/{args.job}.yaml"
        if args.command.__name__ in ("cmd_pipeline", "cmd_cluster"):
            assert args.name in pipelines, f"{command}: no conf/pipelines/{args.name}.yaml"


def test_every_make_target_of_the_readme_exists() -> None:
    mentioned = {c.argv[1] for c in commands() if c.argv[0] == "make"}
    mentioned |= set(re.findall(r"`make ([a-z-]+)", (REPO / "README.md").read_text()))
    assert {"setup", "test"} <= mentioned
    for target in sorted(mentioned):
        dry = subprocess.run(["make", "-n", "-C", str(REPO), target], capture_output=True, text=True)
        assert "No rule to make target" not in dry.stderr, f"README: make {target}: {dry.stderr.strip()}"
