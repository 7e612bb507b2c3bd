"""Tributary as a user installs it: a wheel built from this repository, installed into a new virtualenv, added to a
new `django-admin startproject` by following docs/getting-started.md block by block (its shell commands and its
files, taken from the page itself), then the reference example run by `manage.py worker` and the dashboard
loaded in Chromium under /tributary/, first over WSGI (plain runserver), then over the page's ASGI line.

The virtualenv sees this interpreter's site-packages (Django, Channels, ... are not downloaded again), but
`runs` and `dashboard` must come from the wheel: every command runs outside the checkout and the test checks
where they were imported from. The installed project keeps its own SQLite file, so one run of the suite is
enough: the PostgreSQL pass skips it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, free_port, sync_playwright
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "getting-started.md"
USERNAME, PASSWORD = "admin", "a-long-enough-password-9"
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.M | re.S)
ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
NOT_IN_THE_WHEEL = shutil.ignore_patterns(".git", "var", "build", "dist", "*.egg-info", "__pycache__", "tests",
                                          "test-results", "*.sqlite3*", ".*_cache")

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite",
                                reason="the installed project uses its own SQLite file: run once, with SQLite")


@dataclass
class Block:
    language: str
    attributes: dict[str, str]
    code: str


def guide_blocks() -> list[Block]:
    return [Block(language, dict(ATTRIBUTE.findall(info)), code) for language, info, code in BLOCK.findall(
        GUIDE.read_text())]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (building in the checkout would write build files there)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=NOT_IN_THE_WHEEL)
    subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist")], cwd=source, check=True, capture_output=True, timeout=300)
    [built] = (tmp / "dist").glob("tributary-*.whl")
    return built


def test_the_wheel_holds_both_apps_templates_and_static_files_and_no_tests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {str(path.relative_to(ROOT)) for top in ("runs", "dashboard") for path in (ROOT / top).rglob("*.py")}
    assert sources - names == set(), "modules missing from the wheel (pyproject's packages list)"
    shipped = {f"dashboard/templates/{p.relative_to(ROOT / 'templates')}" for p in (ROOT / "templates").rglob("*.html")}
    shipped |= {f"dashboard/static/tributary/{p.relative_to(ROOT / 'static')}"
                for p in (ROOT / "static").rglob("*") if p.is_file()}
    assert shipped - names == set(), "templates or static files missing from the wheel"
    assert not [name for name in names if name.startswith("tests/")]


@dataclass
class Project:
    """The user's side: a virtualenv with the wheel, the working directory, and the processes started."""
    venv: Path
    wheel: Path
    cwd: Path
    logs: Path
    env: dict[str, str]
    background: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_files: list[Any] = field(default_factory=list)
    server_url: str = ""

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def run(self, *argv: str, stdin: str | None = None) -> str:
        done = subprocess.run(argv, cwd=self.cwd, env=self.env, input=stdin, text=True, capture_output=True,
                              timeout=300)
        assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        self.log_files.append(log)
        process = subprocess.Popen(argv, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        self.background.append(process)
        return process

    def shell_command(self, line: str) -> None:
        """One line of a `sh` block of the guide, run the way a user's shell would (in the virtualenv)."""
        words = line.split()
        if words == ["pip", "install", "tributary"]:  # the wheel built here stands for the published one
            self.run(self.python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(self.wheel))
        elif words[:2] == ["django-admin", "startproject"]:
            self.run(self.python, "-m", "django", *words[1:])
        elif words[0] == "cd":
            self.cwd = self.cwd / words[1]
        elif words == ["python", "manage.py", "createsuperuser"]:
            self.run(self.python, "manage.py", "createsuperuser", "--noinput")  # DJANGO_SUPERUSER_* in env
        elif words == ["python", "manage.py", "worker"]:
            worker = self.start("worker", self.python, "manage.py", "worker")
            # As a user waits for it to say it started: it registers the functions that events then trigger.
            wait_until(lambda: (self.logs / "worker.log").read_text(),
                       lambda text: "functions of apps" in text or worker.poll() is not None, timeout=60,
                       what="the worker's start line")
            assert worker.poll() is None, (self.logs / "worker.log").read_text()
        elif words == ["python", "manage.py", "runserver"]:
            self.serve()
        elif words[:2] == ["python", "manage.py"]:
            self.run(self.python, *words[1:])
        else:
            raise AssertionError(f"the guide runs a command this test does not know: {line!r}")

    def serve(self) -> None:
        for process in self.background:
            if "runserver" in process.args:  # type: ignore[operator]
                process.terminate()
                process.wait(10)
        port = free_port()
        server = self.start(f"runserver-{port}", self.python, "manage.py", "runserver", "--noreload",
                            f"127.0.0.1:{port}")
        self.server_url = f"http://127.0.0.1:{port}"
        wait_until(lambda: server.poll() is not None or _answers(f"{self.server_url}/tributary/"), bool,
                   timeout=60, what="runserver answering")
        assert server.poll() is None, (self.logs / f"runserver-{port}.log").read_text()

    def stop(self) -> None:
        for process in self.background:
            process.terminate()
        for process in self.background:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        for log in self.log_files:
            log.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer: the server is up
    except OSError:
        return False


@contextmanager
def new_project(wheel: Path, tmp: Path) -> Iterator[Project]:
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(tmp / "venv")], check=True,
                   timeout=120)
    if sys.prefix != sys.base_prefix:  # this suite runs in a virtualenv (CI's Python 3.12 one): see its packages too
        [site_packages] = (tmp / "venv" / "lib").glob("python3*/site-packages")
        (site_packages / "outer-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # A user's environment: none of this suite's settings, keys or database, and not the checkout on sys.path.
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("RUNS_", "DJANGO_", "DATABASE", "PYTHON", "REDIS"))}
    env.update(DJANGO_SUPERUSER_USERNAME=USERNAME, DJANGO_SUPERUSER_PASSWORD=PASSWORD,
               DJANGO_SUPERUSER_EMAIL="admin@example.com", PATH=f"{tmp / 'venv' / 'bin'}:{env.get('PATH', '')}")
    (tmp / "work").mkdir()
    (tmp / "logs").mkdir()
    project = Project(venv=tmp / "venv", wheel=wheel, cwd=tmp / "work", logs=tmp / "logs", env=env)
    try:
        yield project
    finally:
        project.stop()
        for log in sorted(project.logs.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")


def follow_the_guide(project: Project) -> str:
    """Every block of docs/getting-started.md in order; returns what its shell session printed."""
    printed = ""
    for block in guide_blocks():
        if block.language == "sh":
            for line in block.code.splitlines():
                if line.strip():
                    project.shell_command(line.strip())
        elif block.language == "python" and block.attributes.get("mode") == "shell":
            printed += project.run(project.python, "manage.py", "shell", stdin=block.code)
        elif block.language == "python":
            target = project.cwd / block.attributes["title"]
            if block.attributes["mode"] == "append":
                target.write_text(target.read_text() + "\n" + block.code)
            else:
                target.write_text(block.code)
        else:
            raise AssertionError(f"a {block.language} block in the guide that this test does not run")
        if block.language == "sh" and (project.cwd / "manage.py").exists():
            where = project.run(project.python, "-c", "import runs, dashboard; print(runs.__file__, dashboard.__file__)")
            assert all(path.startswith(str(project.venv)) for path in where.split()), where
    return printed


def test_a_new_project_follows_the_guide_and_runs_the_reference_example(wheel: Path, tmp_path: Path) -> None:
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install -e .[test])")
    with new_project(wheel, tmp_path) as project:
        printed = follow_the_guide(project)
        assert "Square of 4 is 16." in printed
        assert project.server_url, "the guide never started the server"

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                # WSGI (plain runserver): the dashboard's own login (a new project has none), then the runs page.
                page.goto(f"{project.server_url}/tributary/runs/")
                assert "/tributary/accounts/login/" in page.url
                page.fill("input[name=username]", USERNAME)
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{project.server_url}/tributary/runs/")
                row = page.locator("#runs-table tbody tr", has_text="main-function")
                row.wait_for()
                assert "Completed" in row.inner_text()
                # The project's staticfiles served the dashboard's stylesheet and scripts: the badge was set by them.
                assert page.evaluate("getComputedStyle(document.querySelector('header.top')).display") == "flex"
                badge = page.locator("#live-badge")
                assert badge.inner_text().strip() == "offline" and "Not live" in (badge.get_attribute("title") or "")

                # ASGI: the guide's asgi.py line serves the websockets; Daphne's runserver runs that application.
                settings_py = project.cwd / "mysite" / "settings.py"
                settings_py.write_text(settings_py.read_text() + '\nINSTALLED_APPS.insert(0, "daphne")\n'
                                       'ASGI_APPLICATION = "mysite.asgi.application"\n')
                project.serve()
                page.goto(f"{project.server_url}/tributary/runs/")
                page.wait_for_function("document.querySelector('#live-badge .live-text').textContent === 'live'")
                # Live: a run the worker process finishes appears without a reload (through the Redis layer).
                [send] = [b for b in guide_blocks() if b.attributes.get("mode") == "shell"]
                assert "Square of 4 is 16." in project.run(project.python, "manage.py", "shell", stdin=send.code)
                page.wait_for_function("[...document.querySelectorAll('#runs-table tbody tr')]"
                                       ".filter((row) => row.textContent.includes('main-function')).length === 2")
            finally:
                browser.close()
