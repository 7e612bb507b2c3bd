"""Every code block of the user guide (docs/) runs: Python blocks are executed in order, page by page, against
the test database with real workers (the blocks carry their own assertions); shell blocks must parse, and every
`manage.py` command and option they use must exist."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)  # (a fence may carry attributes after the language)

# Pages whose Python blocks run here; the others are run by the tests named beside them.
RUN_HERE = ["functions.md", "invoke-and-flow-control.md", "testing.md"]
RUN_ELSEWHERE = {"tasks.md": "tests/integration/test_docs_tasks.py",
                 "getting-started.md": "tests/e2e/test_wheel_install.py"}


def blocks(page: str, language: str) -> list[str]:
    return [code for lang, code in BLOCK.findall((DOCS / page).read_text()) if lang == language]


def pages() -> list[str]:
    return sorted(path.name for path in DOCS.glob("*.md"))


def test_every_page_with_python_is_run_by_a_test() -> None:
    with_python = {page for page in pages() if blocks(page, "python")}
    assert with_python <= set(RUN_HERE) | set(RUN_ELSEWHERE), with_python - set(RUN_HERE) - set(RUN_ELSEWHERE)


@pytest.mark.parametrize("page", RUN_HERE)
def test_the_pages_python_blocks_run(page: str, transactional_db, fast_retries) -> None:  # type: ignore[no-untyped-def]
    namespace: dict[str, object] = {"__name__": f"guide_{page.removesuffix('.md').replace('-', '_')}"}
    code = blocks(page, "python")
    assert code, f"{page} has no Python block"
    for number, block in enumerate(code, 1):
        exec(compile(block, f"docs/{page} (block {number})", "exec"), namespace)  # noqa: S102


@pytest.mark.parametrize("page", [page for page in pages() if blocks(page, "sh")])
def test_the_pages_shell_blocks_use_commands_and_options_that_exist(page: str) -> None:
    commands = get_commands()
    for block in blocks(page, "sh"):
        subprocess.run(["bash", "-n"], input=block, text=True, check=True)
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if "manage.py" not in words:
                continue
            name = words[words.index("manage.py") + 1]
            assert name in commands, f"{page}: `manage.py {name}` is not a command"
            parser = load_command_class(commands[name], name).create_parser("manage.py", name)
            for word in words:
                option = word.split("=", 1)[0]
                if option.startswith("--"):
                    assert option in parser._option_string_actions, f"{page}: `manage.py {name}` has no {option}"
