"""The wheel, installed into a fresh ``startproject`` project, runs an event type of its own.

Everything the project is made of, and every command run in it, comes from
docs/install.md (its marked examples), so the page shows what works.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Processes, wait_until
from tests.e2e.installing import (
    copy_checkout,
    declared_requirements,
    doc_examples,
    make_venv,
    wheel_top_level,
)

DOC = ROOT / "docs" / "install.md"
WHEEL = "django_event_scheduler-0.1.0-py3-none-any.whl"
# The page's commands (``<!-- sh: NAME -->``), each run by the test below.
COMMANDS = {
    *("install", "startproject", "migrate", "processes"),
    *("schedule", "unknown-type", "occurrences", "upgrade"),
}

pytestmark = [
    pytest.mark.e2e,
    # The package is the same on every stack: one pass (the embedded default) tests it.
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL")), reason="packaging is tested on the default pass"
    ),
]


class Site(Processes):
    """The fresh project: its folder, its venv's commands, its worker and beat."""

    def __init__(self, workdir: Path, bin_dir: Path) -> None:
        super().__init__(workdir)
        self.folder = workdir / "site"
        self.folder.mkdir()
        # Nothing of this run's environment (DJANGO_SETTINGS_MODULE, DATABASE_URL...)
        # but the machine's pip configuration.
        self.env = {
            **{key: value for key, value in os.environ.items() if key.startswith("PIP_")},
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(workdir),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            # No bytecode written beside the linked packages, nor pip's cache.
            "PYTHONDONTWRITEBYTECODE": "1",
            "PIP_NO_CACHE_DIR": "1",
        }

    def sh(self, commands: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["bash", "-e", "-c", commands],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and done.returncode != 0:
            pytest.fail(f"{commands}\nexited {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def run(self, name: str, argv: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            argv,
            cwd=self.folder,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def write(self, kind: str, path: str, text: str) -> None:
        target = self.folder / path
        if kind == "append":
            text = f"{target.read_text()}\n{text}"
        target.write_text(text)


def outcomes(database: Path) -> dict[str, str]:
    """Each occurrence's status by entity id, read from the SQLite file."""
    with closing(sqlite3.connect(database, timeout=5)) as db:
        rows = db.execute(
            "SELECT e.entity_id, o.status FROM scheduling_occurrence o "
            "JOIN scheduling_scheduledevent e ON e.id = o.event_id"
        ).fetchall()
    return dict(rows)


def install_into_a_new_project(
    tmp_path: Path, examples: list[tuple[str, str, str]], commands: dict[str, str]
) -> Site:
    """Build and install the wheel, make the project from the page's files, migrate."""
    copy_checkout(ROOT, tmp_path / "event-scheduler")
    requirements = declared_requirements(ROOT / "pyproject.toml")
    site = Site(tmp_path, make_venv(tmp_path / "venv", requirements))

    installed = site.sh(commands["install"]).stdout
    assert "Successfully installed django-event-scheduler-0.1.0" in installed
    assert "Downloading" not in installed, "a dependency came from the index, not declared"
    top_level = wheel_top_level(site.folder / "dist" / WHEEL)
    assert top_level == {"scheduling", "django_event_scheduler-0.1.0.dist-info"}

    site.sh(commands["startproject"])
    for kind, path, text in examples:
        if kind in ("file", "append"):
            site.write(kind, path, text)
    site.sh(commands["migrate"])
    return site


def test_the_wheel_runs_a_declared_event_type_in_a_fresh_project(tmp_path: Path) -> None:
    examples = doc_examples(DOC)
    commands = {name: text for kind, name, text in examples if kind == "sh"}
    printed = {name: text for kind, name, text in examples if kind == "output"}
    assert set(commands) == COMMANDS, "every command of the page runs below"
    assert set(printed) == {"unknown-type", "occurrences"}
    site = install_into_a_new_project(tmp_path, examples, commands)

    try:
        for line in commands["processes"].splitlines():
            site.run(line.split()[3], shlex.split(line))
        site.sh(commands["schedule"])
        refused = site.sh(commands["unknown-type"], check=False)
        database = site.folder / "db.sqlite3"
        wait_until(
            site,
            lambda: outcomes(database) == {"invoice-1001": "succeeded", "invoice-1002": "skipped"},
            timeout=60,
            what="both invoices handled",
        )
    finally:
        site.stop()

    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines()[-1] == printed["unknown-type"].strip()
    # Exactly once: one occurrence per event, one reminder written.
    report = site.sh(commands["occurrences"]).stdout.splitlines()
    listed = [line for line in report if line.startswith("invoice-")]
    assert listed == printed["occurrences"].splitlines()
    assert (site.folder / "reminders.log").read_text() == "invoice-1001 120.00 EUR\n"
    assert "No migrations to apply." in site.sh(commands["upgrade"]).stdout
