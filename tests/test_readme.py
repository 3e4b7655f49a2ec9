"""The README works as written (issue 10, item 23).

Every ```python block runs, in a temporary working directory. Every command of a shell
block (```bash, ```sh, ```shell, ```console) that calls ``samed2d`` is parsed by the
command's own parser; every ``pip install`` (in a shell block or inline code) installs
this project or its declared extras; the set-up block installs the project before
``samed2d demo`` and the test extra before ``pytest``. Blocks added later are covered
without touching this file.
"""

from __future__ import annotations

import re
import shlex
from importlib import metadata
from pathlib import Path
from typing import List, NamedTuple

import pytest

from samed2d_fast import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SHELL = ("bash", "sh", "shell", "console")
CONTROL = {"&&", "||", ";", "|", "&"}  # what separates the commands of one shell line
PROJECT = "samed2d_fast"


class Block(NamedTuple):
    language: str
    line: int  # of its first code line in README.md
    text: str


def line_of(offset: int) -> int:
    return README.count("\n", 0, offset) + 1


def fenced_blocks() -> List[Block]:
    return [Block(m.group(1).lower(), line_of(m.start(2)), m.group(2))
            for m in re.finditer(r"^```(\w*)[ \t]*\n(.*?)^```", README, re.M | re.S)]


class Command(NamedTuple):
    line: int
    argv: List[str]


def shell_lines(block: Block):
    """(README line, text) of each shell line: continuations joined, prompts dropped."""
    pending, start = "", None
    for offset, raw in enumerate(block.text.splitlines()):
        if start is None:
            start = block.line + offset
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending, first, start = "", start, None
        if line.startswith("$ "):
            line = line[2:]
        if line:
            yield first, line


def commands(block: Block) -> List[Command]:
    """The simple commands of a shell block, comments stripped, split at && || ; | &."""
    found = []
    for line, text in shell_lines(block):
        lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        argv: List[str] = []
        for token in [*lexer, ";"]:
            if token in CONTROL:
                if argv:
                    found.append(Command(line, argv))
                argv = []
            else:
                argv.append(token)
    return found


BLOCKS = fenced_blocks()
PYTHON_BLOCKS = [b for b in BLOCKS if b.language == "python"]
SHELL_COMMANDS = [c for b in BLOCKS if b.language in SHELL for c in commands(b)]
SAMED2D_COMMANDS = [c for c in SHELL_COMMANDS if c.argv[0] == "samed2d"]
INLINE_PIP = [Command(line_of(m.start()), shlex.split(m.group(1)))
              for m in re.finditer(r"(?<!`)`(pip install [^`\n]+)`(?!`)", README)]
PIP_COMMANDS = [c for c in SHELL_COMMANDS if c.argv[0] == "pip"] + INLINE_PIP


def test_the_readme_has_what_these_tests_read():
    assert PYTHON_BLOCKS, "no ```python block in README.md"
    assert SAMED2D_COMMANDS and PIP_COMMANDS


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[f"README.md:{b.line}" for b in PYTHON_BLOCKS])
def test_python_block_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = compile(block.text, f"README.md, block at line {block.line}", "exec")
    exec(code, {"__name__": "__readme__"})


@pytest.mark.parametrize("command", SAMED2D_COMMANDS, ids=[f"README.md:{c.line}" for c in SAMED2D_COMMANDS])
def test_samed2d_command_parses(command, capsys):
    try:
        args = cli.build_parser().parse_args(command.argv[1:])
    except SystemExit as exc:  # --help exits 0; an error exits 2 with argparse's message
        assert exc.code == 0, f"README.md:{command.line}: {shlex.join(command.argv)}: {capsys.readouterr().err}"
        return
    assert args.command == command.argv[1]


def _extras_of(target: str):
    """The extras a pip install target names, when it is this project (``.``, ``.[x,y]``,
    ``samed2d_fast[x]``); None for anything else."""
    match = re.fullmatch(r"(\.|samed2d[_-]fast)(?:\[([\w,-]+)\])?", target)
    if match is None:
        return None
    return set(filter(None, (match.group(2) or "").split(",")))


@pytest.mark.parametrize("command", PIP_COMMANDS, ids=[f"README.md:{c.line}" for c in PIP_COMMANDS])
def test_pip_installs_this_project_and_its_extras(command):
    assert command.argv[:2] == ["pip", "install"], f"README.md:{command.line}: {shlex.join(command.argv)}"
    targets = [a for a in command.argv[2:] if not a.startswith("-")]
    declared = set(metadata.metadata(PROJECT).get_all("Provides-Extra") or [])
    for target in targets:
        extras = _extras_of(target)
        assert extras is not None, f"README.md:{command.line}: {target} is not this project"
        assert extras <= declared, f"README.md:{command.line}: extras {sorted(extras - declared)} not in pyproject"


def test_set_up_block_installs_before_it_runs():
    """The first shell block (the set-up): the project is installed before ``samed2d demo``
    and with its test extra before ``pytest``, which runs the whole suite."""
    setup = commands(next(b for b in BLOCKS if b.language in SHELL))
    installed: set = set()
    ran = []
    for command in setup:
        if command.argv[:2] == ["pip", "install"]:
            for target in command.argv[2:]:
                extras = _extras_of(target)
                if extras is not None:
                    installed |= {"project", *extras}
        elif command.argv[0] == "samed2d":
            assert "project" in installed, f"README.md:{command.line}: samed2d before the project is installed"
            ran.append(command.argv[:2])
        elif command.argv[0] == "pytest":
            assert "test" in installed, f"README.md:{command.line}: pytest before the test extra is installed"
            assert command.argv == ["pytest"], f"README.md:{command.line}: the test command runs the whole suite"
            ran.append(["pytest"])
    assert ran == [["samed2d", "demo"], ["pytest"]]
