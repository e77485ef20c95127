"""The README's shell commands: each block is run by the test module its tag names (tests/readme.py), and
every command is checked against the real `etl` parser, the repo's config and the Makefile, so a renamed
flag, job, pipeline, env or make target fails here, not in a reader's terminal."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from etl.cli import _parser
from tests.readme import Command, blocks, commands, etl_commands

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
    # what bash runs: redirections kept, comments out (a # inside quotes or a word stays)
    assert [(c.text, c.comment) for c in commands(text)] == [
        ('etl sql --env local "SELECT a\n                     FROM t"', "a comment"),
        ("ETL_BUCKET=b etl cluster plan nightly   --run-date 1992-04-01 > plan.json", ""),
        ("make test", ""),
    ]


def test_a_comment_may_say_what_a_command_exits_with() -> None:
    text = "```sh\netl run a --run-date 1992-01-03   # no extract: exit 1\necho 'a # b' c#d  # fine\n```"
    assert [(c.text, c.comment, c.exit_code) for c in commands(text)] == [
        ("etl run a --run-date 1992-01-03", "no extract: exit 1", 1),
        ("echo 'a # b' c#d", "fine", 0),
    ]


def test_every_block_is_run_by_the_module_its_tag_names() -> None:
    found = blocks()
    assert len(found) > 15
    for block in found:
        where = f"README.md:{block.line} ({block.section})"
        if block.not_run:  # only what no test can run: a Docker container
            assert all(c.argv[0] == "docker" for c in block.commands), f"{where}: not run ({block.not_run}), yet not a docker command"
            continue
        assert block.runner, f"{where}: no <!-- run by ... --> above the block"
        runner = REPO / block.runner
        assert runner.is_file(), f"{where}: {block.runner} does not exist"
        if block.runner == ".ci/run":  # the contract: CI runs exactly the README's two commands
            assert all(re.search(rf"\b{re.escape(c.text)}\b", runner.read_text()) for c in block.commands), where
        else:
            assert "blocks_run_by(__file__)" in runner.read_text(), f"{where}: {block.runner} does not run its blocks"


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
