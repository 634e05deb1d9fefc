"""The documentation says what the code does: every Python example in docs/api.md runs as written,
and every option of every command is described on that command's page in docs/commands/."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from boxloop.cli import _build_parser

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api.md"
COMMANDS = ROOT / "docs" / "commands"


def _examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", API.read_text(), re.S)


def _example_params():
    for i, code in enumerate(_examples()):
        slow = "boxloop.discover(" in code  # a whole search: minutes on two cores
        yield pytest.param(code, id=f"api-example-{i}", marks=[pytest.mark.slow] if slow else [])


def test_the_api_page_has_an_example_for_each_entry_point():
    code = "\n".join(_examples())
    for call in ("boxloop.check(", "boxloop.fit(", "boxloop.discover(", "evidence="):
        assert call in code


@pytest.mark.parametrize("code", list(_example_params()))
def test_api_example_runs_as_written(code, tmp_path):
    # the examples name files relative to the repository root; run them on a copy of what they read
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    script = tmp_path / "example.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def _commands():
    """(page name, subparser) for every command; `spfn`'s subcommands share one page."""
    sub = next(a for a in _build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, parser in sub.choices.items():
        nested = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if nested:
            yield from ((name, child, f"{name} {child_name}") for child_name, child in nested[0].choices.items())
        else:
            yield name, parser, name


def _options(parser) -> list[str]:
    return [max(a.option_strings, key=len) for a in parser._actions if a.option_strings and a.dest != "help"]


@pytest.mark.parametrize("page,parser,command", list(_commands()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_option_of_every_command_is_on_its_page(page, parser, command):
    path = COMMANDS / f"{page}.md"
    assert path.is_file(), f"no docs page {path.relative_to(ROOT)} for `boxloop {command}`"
    text = path.read_text()
    assert f"boxloop {command}" in text
    missing = [o for o in _options(parser) if not re.search(rf"`{re.escape(o)}[` =\[]", text)]
    assert not missing, f"docs/commands/{page}.md does not describe {missing} of `boxloop {command}`"


def test_the_readme_links_every_command_page():
    readme = (ROOT / "README.md").read_text()
    for page in sorted({page for page, _, _ in _commands()}):
        assert f"docs/commands/{page}.md" in readme
